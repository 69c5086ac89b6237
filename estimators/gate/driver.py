"""The gate from a log to a report: split by time, train or load each candidate, evaluate
them on the held-out rows, and (from a config) check every setting first."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import jax
import numpy as np

from common.errors import ConfigError
from common.validation import Range, check_int, check_keys
from envs.data.loading import describe_load, load_logs
from envs.data.rewards import DECISION_STATUS, DecisionStatus
from envs.data.validation import parse_timestamp
from estimators import registry as est_registry
from estimators import reward_models
from estimators.gate.report import describe_rule, format_table, write_report
from estimators.gate.statistics import (
    DEFAULT_ESTIMATORS,
    DEFAULT_RULE,
    GateRule,
    decision_probs,
    evaluate_candidate,
    reward_model_predictions,
)

CONFIG_KEYS = ("data", "candidate", "candidate_params", "checkpoint_dir", "load", "rewards",
               "obd", "split", "stream", "estimator", "evaluation", "reward_model", "gate",
               "logger")
EVALUATION_KEYS = ("n_boot", "alpha", "bootstrap", "seed")
REWARDS_KEYS = ("path", "window_s", "combine", "now")
BOOTSTRAP_SCHEMES = ("multinomial", "poisson")


def time_split(timestamp, n_rows: int, test_fraction: float, held_out_from=None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and the held-out split: the latest ``test_fraction`` of
    rows by time are held out (ties keep file order), or, with ``held_out_from`` (a
    datetime64), the rows at or after that time.

    Args:
        timestamp: (n_rows,) sortable times, or None (file order).
    """
    if held_out_from is not None:
        if timestamp is None:
            raise ValueError("split.held_out_from needs the rows' timestamps")
        held = np.asarray(timestamp) >= held_out_from
        if held.sum() < 2 or held.all():
            raise ValueError(f"split.held_out_from={held_out_from} leaves {int((~held).sum())}"
                             f" training and {int(held.sum())} held-out rows")
        return np.flatnonzero(~held), np.flatnonzero(held)
    if not 0 < test_fraction < 1:
        raise ValueError(f"split.test_fraction must be in (0, 1), got {test_fraction!r}")
    order = np.arange(n_rows) if timestamp is None else np.argsort(timestamp, kind="stable")
    n_test = int(round(n_rows * test_fraction))
    if n_test < 2 or n_rows - n_test < 1:
        raise ValueError(f"split.test_fraction={test_fraction} leaves {n_rows - n_test} "
                         f"training and {n_test} held-out rows out of {n_rows}")
    return np.sort(order[:n_rows - n_test]), np.sort(order[n_rows - n_test:])


def load_candidate(spec: Mapping[str, Any], train, n_arms: int, dim: int, out_dir=None):
    """A :class:`bandits.checkpoints.Checkpoint` from ``{"checkpoint": path}`` (checked against
    the data's sizes) or ``{"algorithm": name, "params": {...}}`` (trained on ``train``
    and saved as ``<out_dir>/<name>.npz``; a per-arm policy gets the data's
    ``arm_features``), with where it came from in words."""
    from bandits.checkpoints import load_checkpoint, save_checkpoint
    from bandits.train import train_checkpoint

    if spec.get("checkpoint"):
        return load_checkpoint(spec["checkpoint"], n_arms=n_arms, dim=dim), \
            f"checkpoint {spec['checkpoint']}"
    ck = train_checkpoint(spec["algorithm"], spec.get("params") or {}, train.context,
                          train.action, train.reward, n_arms=n_arms,
                          version=spec.get("version"), arm_features=train.arm_features)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        save_checkpoint(os.path.join(out_dir, f"{spec['name']}.npz"), ck)
    return ck, f"trained on {train.n_rows:,} rows"


def parse_candidates(candidate, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``candidate``: an algorithm name, a checkpoint path, or a list of them;
    ``params``: ``candidate_params``, hyperparameters per algorithm."""
    import bandits

    items = candidate if isinstance(candidate, (list, tuple)) else [candidate]
    params = dict(params or {})
    for algo in params:
        if algo not in bandits.names():
            raise ValueError(f"candidate_params.{algo}: unknown algorithm; allowed: "
                             f"{', '.join(bandits.names())}")
    out = []
    for item in items:
        item = str(item)
        if item.endswith(".npz") or os.path.sep in item:
            if not os.path.exists(item):
                raise ValueError(f"candidate checkpoint {item!r} does not exist")
            out.append({"name": os.path.splitext(os.path.basename(item))[0],
                        "checkpoint": item})
        elif item in bandits.names():
            hyper = dict(params.get(item) or {})
            bandits.validate(item, hyper, where=f"candidate_params.{item}")
            out.append({"name": item, "algorithm": item, "params": hyper})
        else:
            raise ValueError(f"candidate {item!r} is neither a checkpoint (.npz) nor an "
                             f"algorithm; algorithms: {', '.join(bandits.names())}")
    return out


@contextlib.contextmanager
def _stage(what: str, show: bool):
    """Prints ``what`` and, when it is done, how long it took."""
    t0 = time.perf_counter()
    if show:
        print(f"{what} ...", end="", flush=True)
    yield
    if show:
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)


def _candidate_result(spec, index: int, train, test, q_hat, root, checkpoint_dir,
                      evaluation: Mapping[str, Any]) -> dict:
    """Trains or loads candidate number ``index``, computes its action probabilities on
    the held-out rows and evaluates it (``evaluation``: the keyword arguments of
    :func:`evaluate_candidate`, the same for every candidate)."""
    ck, origin = load_candidate(spec, train, train.n_arms, train.dim, checkpoint_dir)
    probs = decision_probs(ck.policy(), ck.params, ck.state, test.context, test.mask,
                           jax.random.fold_in(jax.random.fold_in(root, 3), index))
    return {"name": spec["name"], "algorithm": ck.algorithm,
            "hyperparameters": ck.hyperparameters, "source": origin,
            "version": ck.version, "data_hash": ck.data_hash,
            **evaluate_candidate(test, probs, q_hat, **evaluation)}


def _held_out_predictions(test, hypers, reward_model, root, progress: bool):
    """(n, K) the reward model's out-of-fold q̂ on the held-out rows, or None when no
    estimator needs it."""
    if not any(est_registry.spec(n).needs_model for n in hypers):
        return None
    with _stage(f"reward model on {test.n_rows:,} held-out rows", progress):
        return reward_model_predictions(test, reward_model, jax.random.fold_in(root, 1))


def _data_summary(data, train, test, source: str, test_fraction: float,
                  load: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's ``data`` entry: where the log came from, its sizes and split, and
    (when given) what the reader found."""
    return {"source": source, "n_rows": data.n_rows, "train_rows": train.n_rows,
            "test_rows": test.n_rows, "test_fraction": test_fraction,
            "n_arms": data.n_arms, "dim": data.dim, **({"load": dict(load)} if load else {})}


def _status_counts(status: np.ndarray, open_: np.ndarray) -> dict[str, int]:
    """How many decisions have each attribution status, and the matched ones whose
    window is still open."""
    out = {"decisions": int(status.size)}
    out.update({name: int(np.sum(status == code)) for code, name in enumerate(DECISION_STATUS)})
    out["matched_window_open"] = int(np.sum(open_ & (status == DecisionStatus.MATCHED)))
    return out


def attribution_summary(attribution: Mapping[str, Any], rows: Mapping[str, Any],
                        held_out_from) -> dict[str, Any]:
    """The report's ``rewards`` entry: the reward collector's settings and counts
    (``attribution``, :func:`envs.data.rewards.attribute_rewards`' report) with the same
    counts over the held-out period, the decisions at or after ``held_out_from`` (the
    first held-out row's time; pending and missing decisions are not among the rows, so
    they are placed by time), and when the last window closes.

    Args:
        attribution: the collector's report (``window_s``, ``now``, ``combine``, counts).
        rows: every decision's ``timestamp`` (n,) datetime64 and ``status`` (n,) codes.
        held_out_from: datetime64, the first held-out row's timestamp.
    """
    ts = np.asarray(rows["timestamp"], "datetime64[us]")
    status = np.asarray(rows["status"])
    window = np.timedelta64(int(round(attribution["window_s"] * 1e6)), "us")
    now = np.datetime64(attribution["now"], "us")
    held = ts >= held_out_from
    counts = ("decisions", *DECISION_STATUS, "matched_window_open")
    return {"window_s": attribution["window_s"], "now": attribution["now"],
            "combine": attribution["combine"], "missing_reward": attribution["missing_reward"],
            "all": {k: attribution[k] for k in counts},
            "held_out": {"from": str(np.datetime64(held_out_from, "us")),
                         **_status_counts(status[held], now - ts[held] < window)},
            "windows_close": str(ts.max() + window)}


def run_gate(data, timestamp, candidates: Sequence[Mapping[str, Any]], *,
             source: str = "logs", test_fraction: float = 0.3,
             estimators: Sequence[str] | Mapping[str, Any] = DEFAULT_ESTIMATORS,
             n_boot: int = 1000, alpha: float = 0.05,
             reward_model: Mapping[str, Any] | None = None, rule: GateRule = DEFAULT_RULE,
             seed: int = 0, out_dir: str | None = None, scheme: str = "multinomial",
             load: Mapping[str, Any] | None = None, progress: bool = False,
             checkpoint_dir: str | None = None,
             attribution_rows: Mapping[str, Any] | None = None,
             held_out_from=None) -> dict[str, Any]:
    """The whole gate on one log: split by time (``held_out_from``: a datetime64 from
    which rows are held out, instead of ``test_fraction``), train or load each candidate, evaluate
    them on the held-out rows, apply the rule, and (with ``out_dir``) write the report.

    ``estimators``: names at their defaults or ``name -> hyperparameters``; ``load``: what
    the reader found (rows read, kept, rejected, arms and how they were counted), kept in
    the report; ``progress``: print each stage with its time; ``checkpoint_dir``: where
    trained candidates are saved as ``<name>.npz`` (default: ``out_dir``);
    ``attribution_rows``: when reward events were joined, every decision's ``timestamp``
    and attribution ``status`` (kept or not), from which the report's ``rewards`` entry
    counts the held-out period (see :func:`attribution_summary`).
    """
    names = [c["name"] for c in candidates]
    if not candidates or len(set(names)) != len(names):
        raise ConfigError(f"candidates need distinct names, got {names}")
    hypers = est_registry.from_config(estimators)
    train_idx, test_idx = time_split(timestamp, data.n_rows, test_fraction, held_out_from)
    train, test = data.take(train_idx), data.take(test_idx)
    root = jax.random.key(seed)
    q_hat = _held_out_predictions(test, hypers, reward_model, root, progress)
    # one key for every candidate: all are evaluated on the same resamples
    evaluation = {"key": jax.random.fold_in(root, 2), "estimators": hypers,
                  "n_boot": n_boot, "alpha": alpha, "rule": rule, "scheme": scheme}
    results = []
    for i, spec in enumerate(candidates):
        with _stage(f"candidate {spec['name']}: train or load, {n_boot} bootstrap "
                    "resamples", progress):
            results.append(_candidate_result(spec, i, train, test, q_hat, root,
                                             checkpoint_dir or out_dir, evaluation))
    report = {
        "data": {**_data_summary(data, train, test, source, test_fraction, load),
                 **({"held_out_from": str(held_out_from)} if held_out_from is not None
                    else {})},
        "logging": results[0]["logging_value"],
        "rule": asdict(rule), "rule_text": describe_rule(rule, alpha), "estimators": hypers,
        "reward_model": reward_models.config_or_default(reward_model), "n_boot": n_boot,
        "alpha": alpha, "bootstrap": scheme, "seed": seed, "candidates": results,
    }
    if load and load.get("attribution") and attribution_rows is not None:
        report["rewards"] = attribution_summary(load["attribution"], attribution_rows,
                                                np.min(timestamp[test_idx]))
    if out_dir:
        write_report(report, out_dir)
    return report


def _evaluation(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The checked ``evaluation`` settings (n_boot, alpha, bootstrap scheme, seed)."""
    ev = dict(cfg.get("evaluation") or {})
    if "estimators" in ev:
        raise ConfigError("evaluation.estimators is now the estimator config group: "
                          f"estimator=[{','.join(map(str, ev['estimators']))}] (each at the "
                          "values of conf/estimator/<name>.yaml; estimator.dros.lambda_=10 "
                          "changes one)")
    check_keys("evaluation", ev, EVALUATION_KEYS)
    out = {"n_boot": ev.get("n_boot", 1000), "alpha": ev.get("alpha", 0.05),
           "scheme": ev.get("bootstrap"), "seed": ev.get("seed", 0)}
    if out["scheme"] is not None and out["scheme"] not in BOOTSTRAP_SCHEMES:
        raise ConfigError(f"evaluation.bootstrap must be multinomial, poisson or null, got "
                          f"{out['scheme']!r}")
    out["n_boot"] = check_int("evaluation.n_boot", out["n_boot"], 10, 10**6)
    Range(0.0, 1.0, low_open=True, high_open=True).check("evaluation.alpha", out["alpha"])
    out["seed"] = check_int("evaluation.seed", out["seed"], 0, 2**31 - 1)
    return out


def _check_rewards(cfg: Mapping[str, Any]) -> None:
    """The ``rewards`` keys are known, and ``rewards.now`` (when set, with a
    ``rewards.path`` to read) is a time."""
    rw = dict(cfg.get("rewards") or {})
    check_keys("rewards", rw, REWARDS_KEYS)
    now = rw.get("now")
    if now is None:
        return
    try:
        parse_timestamp("rewards.now", now)
    except ValueError:
        raise ConfigError(f"rewards.now must be ISO text such as 2026-01-02T00:00:00 (the "
                          f"time the logs are read; null: the latest event), got {now!r}"
                          ) from None
    if not rw.get("path"):
        raise ConfigError(f"rewards.now={now} is the time a reward stream is read; give "
                          "rewards.path too")


def run_from_config(cfg: Mapping[str, Any], out_dir: str | None = None,
                    echo: bool = True) -> dict[str, Any]:
    """The gate of ``conf/evaluate.yaml``: every setting is checked before the log is read.

    Estimators come from the ``estimator`` group (the values of ``conf/estimator/*.yaml``,
    as in estimator studies), the reward model from the ``reward_model`` group.
    """
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ConfigError(f"unknown config key {key!r}; allowed: {', '.join(CONFIG_KEYS)}")
    ev = _evaluation(cfg)
    hypers = est_registry.from_config(cfg.get("estimator") or list(DEFAULT_ESTIMATORS))
    reward_models.check_config(cfg.get("reward_model"))
    rule = GateRule.from_config(cfg.get("gate"))
    candidates = parse_candidates(cfg.get("candidate"), cfg.get("candidate_params"))
    _check_rewards(cfg)
    from estimators.partitioned.config import held_out_from, run_streamed, streamed

    if streamed(cfg):
        return run_streamed(cfg, candidates, hypers, rule, ev, out_dir, echo)
    cut = held_out_from(cfg)
    data, timestamp, source, load = load_logs(cfg)
    rows = load.pop("attribution_rows", None) if load else None
    if echo:
        print("\n".join(describe_load(load)))
    report = run_gate(data, timestamp, candidates, source=source, load=load,
                      test_fraction=(cfg.get("split") or {}).get("test_fraction", 0.3),
                      estimators=hypers, n_boot=ev["n_boot"], alpha=ev["alpha"],
                      reward_model=cfg.get("reward_model"), rule=rule, seed=ev["seed"],
                      out_dir=out_dir, scheme=ev["scheme"] or "multinomial",
                      progress=echo, checkpoint_dir=cfg.get("checkpoint_dir"),
                      attribution_rows=rows, held_out_from=cut)
    if echo:
        print(format_table(report))
    return report
