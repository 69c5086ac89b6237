"""The gate's settings for a streamed log (``stream`` and ``split.held_out_from`` of
``conf/evaluate.yaml``), checked before any row is read, and the streamed run."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.errors import ConfigError
from common.validation import check_int, check_keys
from envs.data.validation import parse_timestamp

STREAM_KEYS = ("enabled", "batch_rows", "workers", "scheduler")
SPLIT_KEYS = ("test_fraction", "held_out_from")


def _stream(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``stream`` settings with their defaults, every key checked."""
    st = dict(cfg.get("stream") or {})
    check_keys("stream", st, STREAM_KEYS)
    out = {"enabled": st.get("enabled", "auto"), "batch_rows": st.get("batch_rows", 65_536),
           "workers": st.get("workers", 0), "scheduler": st.get("scheduler")}
    if out["enabled"] not in ("auto", True, False):
        raise ConfigError(f"stream.enabled must be auto, true or false, got "
                          f"{out['enabled']!r}")
    out["batch_rows"] = check_int("stream.batch_rows", out["batch_rows"], 1, 10**8)
    out["workers"] = check_int("stream.workers", out["workers"], 0, 4096)
    return out


def held_out_from(cfg: Mapping[str, Any]) -> np.datetime64 | None:
    """``split.held_out_from`` as datetime64[us] (None when unset), the split's keys
    checked."""
    split = dict(cfg.get("split") or {})
    check_keys("split", split, SPLIT_KEYS)
    value = split.get("held_out_from")
    if value is None:
        return None
    try:
        return np.datetime64(parse_timestamp("split.held_out_from", value), "us")
    except ValueError:
        raise ConfigError(f"split.held_out_from must be ISO text such as "
                          f"2026-01-08T00:00:00, got {value!r}") from None


def streamed(cfg: Mapping[str, Any]) -> bool:
    """Whether the gate streams its log: ``stream.enabled=true``, or ``auto`` and
    ``data`` is a directory (other than the keyword ``obd``)."""
    enabled = _stream(cfg)["enabled"]
    data = str(cfg.get("data"))
    if enabled == "auto":
        return data != "obd" and os.path.isdir(data)  # obd: the Open Bandit Dataset
    if enabled and data == "obd":
        raise ConfigError("stream.enabled=true streams Parquet logs; data=obd (the Open "
                          "Bandit Dataset) is read in memory")
    if enabled and os.path.isfile(data) and not data.endswith(".parquet"):
        raise ConfigError(f"stream.enabled=true streams Parquet (a file or a directory of "
                          f"them), not {data!r}")
    return bool(enabled)


def _check_streamable(cfg: Mapping[str, Any], ev: Mapping[str, Any]) -> dict[str, Any]:
    """The ``load`` settings of a streamed log, after refusing what streaming cannot do."""
    load = dict(cfg.get("load") or {})
    if load.get("on_invalid", "raise") != "raise":
        raise ConfigError("load.on_invalid=reject needs the whole file; a streamed log stops "
                          "at the first invalid row (load.on_invalid=raise)")
    if (cfg.get("rewards") or {}).get("path"):
        raise ConfigError("rewards.path joins reward events with every decision in memory; "
                          "join them before streaming (the events carry their rewards)")
    if ev["scheme"] not in (None, "poisson"):
        raise ConfigError(f"evaluation.bootstrap={ev['scheme']}: a streamed log is "
                          "resampled by a Poisson bootstrap keyed by event id (null or "
                          "poisson)")
    if held_out_from(cfg) is None:
        raise ConfigError("a streamed log is split by time: give split.held_out_from, e.g. "
                          "split.held_out_from=2026-01-08T00:00:00 (rows at or after it "
                          "are held out)")
    return load


def run_streamed(cfg: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]],
                 hypers: Mapping[str, Any], rule, ev: Mapping[str, Any],
                 out_dir: str | None, echo: bool) -> dict[str, Any]:
    """The gate on the streamed log of ``cfg`` (settings already checked by the gate)."""
    from envs.data.events.dataset import open_dataset
    from estimators.gate.report import format_table
    from estimators.partitioned.driver import run_partitioned

    load = _check_streamable(cfg, ev)
    st = _stream(cfg)
    data = open_dataset(cfg["data"], n_arms=load.get("n_arms"),
                        arm_features=load.get("arm_features"))
    if echo:
        print(f"streaming {data.path}: {len(data.files)} files, {data.n_rows:,} rows, "
              f"{data.n_arms} arms; "
              + (f"{st['workers']} Dask workers" if st["workers"] else
                 f"Dask scheduler {st['scheduler']}" if st["scheduler"] else "one process"))
    report = run_partitioned(
        data, candidates, held_out_from=held_out_from(cfg), estimators=hypers,
        n_boot=ev["n_boot"], alpha=ev["alpha"], reward_model=cfg.get("reward_model"),
        rule=rule, seed=ev["seed"], batch_rows=st["batch_rows"],
        missing_reward=load.get("missing_reward"), workers=st["workers"],
        scheduler=st["scheduler"], out_dir=out_dir, checkpoint_dir=cfg.get("checkpoint_dir"),
        progress=echo)
    if echo:
        print(format_table(report))
    return report
