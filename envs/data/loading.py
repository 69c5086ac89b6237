"""Loading a production log for the deployment gate: the decision log, the reward events
joined to it by attribution, and a description of what was loaded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.data.events import EventLog, id_runs, read_events, read_table
from envs.data.logged import LoggedData
from envs.data.obd import load_open_bandit
from envs.data.rewards import Attribution, DecisionStatus, attribute_rewards, format_report


def _load_obd(cfg: Mapping[str, Any]):
    """``load_logs`` for ``data=obd``: the Open Bandit Dataset at ``obd.path``."""
    o = dict(cfg.get("obd") or {})
    if not o.get("path"):
        raise ValueError("data=obd needs obd.path: the Open Bandit Dataset directory "
                         "(e.g. obd.path=../shared/data/obd)")
    obd = load_open_bandit(o["path"], o.get("behavior_policy", "random"),
                           o.get("campaign", "all"))
    load = {"format": "Open Bandit Dataset", "rows_read": obd.data.n_rows,
            "rows_kept": obd.data.n_rows, "n_arms": obd.data.n_arms,
            "n_arms_source": "the dataset's item list", "dim": obd.data.dim,
            **_time_span(obd.timestamp)}
    return obd.data, obd.timestamp, (f"Open Bandit Dataset {obd.behavior_policy}/"
                                     f"{obd.campaign} ({o['path']})"), load


def load_logs(cfg: Mapping[str, Any]):
    """``(LoggedData, timestamps, description, load report)`` for ``data``: a decision-log
    file (.parquet, .csv, .jsonl) or ``obd`` (the Open Bandit Dataset at ``obd.path``).
    The load report is what :func:`describe_load` puts in words; timestamps are (n,)
    datetime64[us]."""
    source = cfg.get("data")
    if not source:
        raise ValueError("data: give a decision log (.parquet, .csv or .jsonl) or obd")
    if source == "obd":
        return _load_obd(cfg)
    if not os.path.exists(source):
        raise ValueError(f"data: no such file {source!r}")
    ld = dict(cfg.get("load") or {})
    rw = dict(cfg.get("rewards") or {})
    joining = bool(rw.get("path"))
    # with a separate reward file, rewards missing from the log are placeholders (0) until
    # the join fills them; ``has_reward`` keeps track of which they are
    log = read_events(source, n_arms=ld.get("n_arms"),
                      missing_reward=0.0 if joining else ld.get("missing_reward"),
                      on_invalid=ld.get("on_invalid", "raise"),
                      rejects_path=ld.get("rejects_path"),
                      arm_features=ld.get("arm_features"))
    load = {k: v for k, v in log.report.items() if k != "batches"}
    if not joining:
        return log.data, log.timestamp, source, {**load, **_time_span(log.timestamp)}
    data, timestamp, att = join_rewards(log, rw, ld.get("missing_reward"))
    filled = int(np.sum(~log.has_reward & (att.status == DecisionStatus.FILLED)))
    load.update(rows_without_reward=log.n_rows - data.n_rows, attribution=att.report,
                rewards_filled=filled,  # by the join; the read's were placeholders
                attribution_rows={"timestamp": log.timestamp, "status": att.status},
                **_time_span(timestamp))
    return data, timestamp, source, load


def _time_span(timestamp) -> dict[str, str]:
    if timestamp is None or len(timestamp) == 0:
        return {}
    t = np.asarray(timestamp).astype("datetime64[s]")
    return {"first_timestamp": str(t.min()), "last_timestamp": str(t.max())}


def describe_load(load: Mapping[str, Any] | None) -> list[str]:
    """What was loaded, in words: rows read, kept and rejected by reason, rewards filled,
    arms and how their number was found, features, time span, ignored columns."""
    if not load:
        return []
    out = [f"rows: {load['rows_read']:,} read ({load.get('format', '')}), "
           f"{load['rows_kept']:,} kept, {load.get('rows_rejected', 0):,} rejected"]
    if load.get("rejected"):
        out.append("rejected by reason: " + ", ".join(f"{k} {v:,}" for k, v in
                                                      load["rejected"].items()))
    if load.get("rewards_filled"):
        out.append(f"rewards filled with load.missing_reward: {load['rewards_filled']:,}")
    if load.get("rows_without_reward"):
        out.append(f"left out with no reward yet: {load['rows_without_reward']:,}")
    how = load.get("n_arms_from") or load.get("n_arms_source", "inferred")
    arms = f"arms: {load['n_arms']} ({how}"
    arms += "; declare it with load.n_arms=K)" if load.get("n_arms_source") == "inferred" \
        else ")"
    if load.get("arms_without_rows"):
        arms += (f"; {len(load['arms_without_rows'])} arm ids have no rows: "
                 f"{id_runs(load['arms_without_rows'])}")
    out += [arms, f"features: {load['dim']}"]
    if "first_timestamp" in load:
        out.append(f"time span: {load['first_timestamp']} to {load['last_timestamp']}")
    if load.get("ignored_columns"):
        out.append(f"ignored columns: {', '.join(load['ignored_columns'])}")
    return out


def read_reward_events(path: str) -> dict[str, np.ndarray]:
    """Reward events (.parquet, .csv or .jsonl): ``user_id``, ``timestamp``, ``value`` and
    optionally ``event_id`` (the decision it belongs to, when known), each (m,): ids as
    objects ("" where null), timestamps datetime64[us], values float64."""
    if not os.path.exists(path):
        raise ValueError(f"rewards.path: no such file {path!r}")
    table = read_table(path, string_columns=("event_id", "user_id", "timestamp"),
                       setting="rewards.path")
    missing = [c for c in ("timestamp", "value") if c not in table.column_names]
    if "user_id" not in table.column_names and "event_id" not in table.column_names:
        missing.append("user_id or event_id")
    if missing:
        raise ValueError(f"reward events {path!r} lack the column(s) {', '.join(missing)}; "
                         f"found {', '.join(table.column_names)}")
    ts = table["timestamp"]
    if not pa.types.is_timestamp(ts.type):
        try:
            ts = pc.cast(ts, pa.timestamp("us", tz="UTC"))
        except pa.ArrowInvalid as err:
            raise ValueError(f"reward events {path!r}: timestamp must be ISO-8601 text or a "
                             f"timestamp column ({err})") from err
    out = {"timestamp": ts.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
                          .astype("datetime64[us]"),
           "value": table["value"].to_numpy(zero_copy_only=False).astype(np.float64)}
    for key in ("event_id", "user_id"):
        if key in table.column_names:
            out[key] = np.asarray(table[key].fill_null("").to_numpy(zero_copy_only=False),
                                  dtype=object)
    return out


def join_rewards(log: EventLog, rw: Mapping[str, Any],
                 missing_reward) -> tuple[LoggedData, np.ndarray, Attribution]:
    """Attributes a reward file (``rw``: ``path``, ``window_s``, ``combine``, ``now``) to a
    decision log's decisions that have no reward.

    Decisions whose reward is still pending (their window is open) or missing with no
    missing-reward value are left out of the evaluation — counted and printed, never
    dropped silently. Returns ``(LoggedData, timestamps)`` of the decisions kept and the
    :class:`Attribution` of every decision.
    """
    events = read_reward_events(rw["path"])
    decisions = {"event_id": log.event_id, "timestamp": log.timestamp,
                 "user_id": log.user_id}
    try:
        att = attribute_rewards(decisions, events, window_s=float(rw.get("window_s", 86_400)),
                                missing_reward=missing_reward,
                                combine=rw.get("combine", "sum"), now=rw.get("now"))
    except ValueError as e:  # the collector names its argument; the gate's key is rewards.now
        if str(e).startswith("now "):
            raise ValueError(f"rewards.{e}") from None
        raise
    print(format_report(att.report))
    reward = np.where(log.has_reward, log.data.reward, att.reward)
    keep = np.isfinite(reward)
    if not keep.all():
        st = att.status[~keep]
        print(f"{int((~keep).sum()):,} decisions have no reward and are left out of the "
              f"evaluation: {int(np.sum(st == DecisionStatus.PENDING)):,} pending (window still"
              f" open), {int(np.sum(st == DecisionStatus.MISSING)):,} missing (set "
              "load.missing_reward to give them a value)")
    data = replace(log.data, reward=reward.astype(log.data.reward.dtype))
    return data.take(np.flatnonzero(keep)), log.timestamp[keep], att
