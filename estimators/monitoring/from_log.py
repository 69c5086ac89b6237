"""A decision log as the monitor's per-round inputs: rows in timestamp order are the
rounds, with what a log can and cannot tell."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.data.loading import load_logs
from envs.monitor import MonitorInputs

OBD_ATTRIBUTION = (
    "The Open Bandit Dataset (real logged feedback from the fashion e-commerce site "
    "ZOZOTOWN) is published under CC BY 4.0 with Saito, Aihara, Matsutani and Narita, "
    '"Open Bandit Dataset and Pipeline: Towards Realistic and Reproducible Off-Policy '
    'Evaluation" (NeurIPS 2021 Datasets and Benchmarks).')
NO_DISTRIBUTION = (
    "not available: the log records the chosen arm's propensity, not the policy's full "
    "action distribution (a decision log's scores are the policy's per-arm scores, not "
    "probabilities)")
NO_REGRET = "not available: a decision log carries no expected rewards of the arms"
NO_FAILED = ("not available: the reader keeps only the valid rows ({how}), so decisions "
             "that failed validation are not among the rounds")


@dataclass(frozen=True)
class LogRounds:
    """A log read for the monitor.

    Attributes:
        inputs: the rounds (rows in timestamp order, ties in file order).
        timestamp: (n,) datetime64[us] of each round.
        source: where the rows came from, in words.
        load: what the reader found (:func:`envs.data.loading.describe_load`'s input).
        unavailable: KPI -> why a decision log cannot give it.
        attribution: the data's attribution text, or None.
    """

    inputs: MonitorInputs
    timestamp: np.ndarray
    source: str
    load: dict[str, Any]
    unavailable: dict[str, str]
    attribution: str | None


def _failed_reason(cfg: Mapping[str, Any], load: Mapping[str, Any]) -> str:
    """Why ``error_rate`` is not measured, naming what the reader did with invalid rows."""
    if cfg.get("data") == "obd":
        how = "the Open Bandit Dataset is read without a validation record per row"
    elif (cfg.get("load") or {}).get("on_invalid", "raise") == "reject":
        how = (f"load.on_invalid=reject set {load.get('rows_rejected', 0):,} invalid rows "
               "aside in load.rejects_path")
    else:
        how = "load.on_invalid=raise stops at the first invalid row"
    return NO_FAILED.format(how=how)


def unavailable_from_log(cfg: Mapping[str, Any], load: Mapping[str, Any],
                         has_distribution: bool) -> dict[str, str]:
    """KPI -> why a decision log cannot give it: the full action distribution (unless
    the data carries one), regret, and failed decisions."""
    out = {"regret": NO_REGRET, "error_rate": _failed_reason(cfg, load)}
    if not has_distribution:
        for kpi in ("action_entropy", "exploration_rate"):
            out[kpi] = NO_DISTRIBUTION
    return out


def log_rounds(cfg: Mapping[str, Any]) -> LogRounds:
    """The monitor's rounds of ``cfg["data"]`` (a decision-log file or ``obd`` at
    ``obd.path``), loaded as the deployment gate loads them (``load``, ``rewards``,
    ``obd`` settings; :func:`envs.data.loading.load_logs`)."""
    data, timestamp, source, load = load_logs(cfg)
    load = dict(load or {})
    load.pop("attribution_rows", None)
    order = np.argsort(timestamp, kind="stable")
    data = data.take(order)
    probs = None if data.action_dist is None else np.asarray(data.action_dist, np.float64)
    inputs = MonitorInputs.from_arrays(
        reward=data.reward, action=data.action, propensity=data.pscore,
        context=data.context, n_arms=data.n_arms, probs=probs)
    return LogRounds(inputs=inputs, timestamp=np.asarray(timestamp)[order], source=source,
                     load=load, unavailable=unavailable_from_log(cfg, load, probs is not None),
                     attribution=OBD_ATTRIBUTION if cfg.get("data") == "obd" else None)
