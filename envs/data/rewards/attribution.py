"""``attribute_rewards``: the inputs checked, the two joins, the rewards combined, each
decision's status and the report (rules, ties and codes in :mod:`envs.data.rewards`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from common.formatting import plain
from envs.data.rewards.codes import (
    COMBINE,
    DECISION_STATUS,
    REWARD_STATUS,
    DecisionStatus,
    RewardStatus,
)
from envs.data.rewards.ids import check_decision_ids, common_kind, normalise_ids, sort_keys
from envs.data.rewards.join import combine_rewards, join_by_id, join_by_window
from envs.data.validation import check_finite, parse_timestamp


@dataclass(frozen=True)
class Attribution:
    """Rewards joined to n decisions from m reward events.

    Attributes:
        reward: (n,) float64 combined reward; ``missing_reward`` where filled; NaN where
            pending or missing.
        reward_timestamp: (n,) datetime64[us] time of the reward event the value was read
            from (see the module notes); NaT where no event was attributed.
        status: (n,) int8 :class:`DecisionStatus` codes.
        reward_status: (m,) int8 :class:`RewardStatus` codes.
        reward_decision: (m,) int64 row of the decision each reward event went to, -1 for
            late, unmatched and unknown-id events.
        report: counts (see :func:`attribute_rewards`) and the settings used.
    """

    reward: np.ndarray
    reward_timestamp: np.ndarray
    status: np.ndarray
    reward_status: np.ndarray
    reward_decision: np.ndarray
    report: dict


@dataclass(frozen=True)
class _Streams:
    """Decisions (n) and reward events (m), checked and keyed for the joins: times in
    microseconds, ids and users as comparable keys."""

    t_d: np.ndarray  # (n,) int64
    order: np.ndarray  # (n,) the decisions by id
    ids: np.ndarray  # (n,) the decisions' sorted id keys
    us_d: np.ndarray  # (n,) user keys
    user_d: np.ndarray  # (n,) bool: a user is given
    t_r: np.ndarray  # (m,) int64
    value: np.ndarray  # (m,) float64
    key_r: np.ndarray  # (m,) id keys
    by_id: np.ndarray  # (m,) bool: an event id is given
    us_r: np.ndarray  # (m,) user keys


def _check_settings(window_s, missing_reward, combine: str) -> None:
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {', '.join(COMBINE)}, got {combine!r}")
    if isinstance(window_s, bool) or not isinstance(window_s, (int, float, np.number)) or \
            not np.isfinite(window_s) or window_s < 0:
        raise ValueError(f"window_s must be a finite number of seconds >= 0, got {window_s!r}")
    if missing_reward is not None and (
            isinstance(missing_reward, bool)
            or not isinstance(missing_reward, (int, float, np.number))
            or not np.isfinite(missing_reward)):
        raise ValueError(f"missing_reward must be a finite number or None, "
                         f"got {missing_reward!r}")


def _column(table: Mapping, table_name: str, key: str, required: bool):
    if not isinstance(table, Mapping):
        raise ValueError(f"{table_name} must be a dict of column arrays, "
                         f"got {type(table).__name__}")
    x = table.get(key)
    if x is None:
        if required:
            raise ValueError(f"{table_name} has no {key!r} column "
                             f"(its columns: {', '.join(sorted(map(str, table)))})")
        return None
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{table_name}.{key} must be 1-D (n,), got shape {x.shape}")
    return x


def _columns(table: Mapping, table_name: str, keys: dict[str, bool]) -> dict:
    """The 1-D columns ``keys`` (name -> required) of a table, all as long as its first."""
    cols = {k: _column(table, table_name, k, required) for k, required in keys.items()}
    first = next(iter(keys))
    n = cols[first].shape[0]
    for k, x in cols.items():
        if x is not None and x.shape[0] != n:
            raise ValueError(f"{table_name}.{k} must have shape (n,) with n={n} rows (from "
                             f"{table_name}.{first}), got {x.shape}")
    return cols


def _timestamps(name: str, x: np.ndarray) -> np.ndarray:
    """int64 microseconds since the epoch; raises on other dtypes and on NaT."""
    if not np.issubdtype(x.dtype, np.datetime64):
        raise ValueError(f"{name} must be datetime64, got dtype {x.dtype}")
    t = x.astype("datetime64[us]")
    bad = np.isnat(t)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} must not be NaT; row {row} has {x[row]} "
                         f"({int(bad.sum())} bad rows)")
    return t.view(np.int64)


def _streams(decisions: Mapping, rewards: Mapping) -> _Streams:
    """Both streams checked (shapes, times, values, ids) and keyed for the joins."""
    d = _columns(decisions, "decisions", {"timestamp": True, "event_id": True,
                                          "user_id": False})
    r = _columns(rewards, "rewards", {"timestamp": True, "value": True, "event_id": False,
                                      "user_id": False})
    n, m = d["timestamp"].shape[0], r["timestamp"].shape[0]
    t_d = _timestamps("decisions.timestamp", d["timestamp"])
    t_r = _timestamps("rewards.timestamp", r["timestamp"])
    check_finite("rewards.value", r["value"])
    (ev_d, id_d), (ev_r, by_id) = (normalise_ids("decisions.event_id", d["event_id"], n),
                                   normalise_ids("rewards.event_id", r["event_id"], m))
    (us_d, user_d), (us_r, user_r) = (normalise_ids("decisions.user_id", d["user_id"], n),
                                      normalise_ids("rewards.user_id", r["user_id"], m))
    ev_d, ev_r = common_kind(ev_d, ev_r)
    us_d, us_r = common_kind(us_d, us_r)
    lost = ~by_id & ~user_r
    if lost.any():
        row = int(np.argmax(lost))
        raise ValueError(f"rewards need an event_id or a user_id; row {row} has neither "
                         f"(event_id {plain(ev_r[row])}, user_id {plain(us_r[row])}; "
                         f"{int(lost.sum())} such rows)")
    key_d, key_r = sort_keys(ev_d, ev_r)
    order, ids = check_decision_ids(ev_d, id_d, key_d)
    us_d, us_r = sort_keys(us_d, us_r)
    return _Streams(t_d, order, ids, us_d, user_d, t_r, r["value"].astype(np.float64), key_r,
                    by_id, us_r)


def _now_us(now, t_d: np.ndarray, t_r: np.ndarray) -> int | None:
    """``now`` in microseconds; by default the latest timestamp of either stream (None
    when both are empty). ``now`` must not precede any event."""
    latest = None
    for name, t in (("decisions.timestamp", t_d), ("rewards.timestamp", t_r)):
        if t.size and (latest is None or t.max() > latest[2]):
            latest = (name, int(np.argmax(t)), int(t.max()))
    if now is None:
        return None if latest is None else latest[2]
    now_dt = parse_timestamp("now", now)
    now_us = int(now_dt.astype(np.int64))
    if latest is not None and latest[2] > now_us:
        raise ValueError(f"now must not precede any event; {latest[0]} row {latest[1]} "
                         f"is {np.int64(latest[2]).astype('datetime64[us]')}, "
                         f"now is {now_dt}")
    return now_us


def _decision_status(count, open_, missing_reward) -> np.ndarray:
    """(n,) int8 :class:`DecisionStatus` codes from the number of rewards and whether the
    window is still open."""
    return np.where(count > 0, DecisionStatus.MATCHED,
                    np.where(open_, DecisionStatus.PENDING,
                             DecisionStatus.MISSING if missing_reward is None
                             else DecisionStatus.FILLED)).astype(np.int8)


def _report(rstatus, status, count, open_, window_s, combine, missing_reward,
            now_us) -> dict:
    """The counts of every category and the settings used."""
    rcount = np.bincount(rstatus, minlength=len(REWARD_STATUS))
    dcount = np.bincount(status, minlength=len(DECISION_STATUS))
    report = {"decisions": status.shape[0], "rewards": rstatus.shape[0]}
    report.update({name: int(c) for name, c in zip(REWARD_STATUS, rcount)})
    report.update({name: int(c) for name, c in zip(DECISION_STATUS, dcount)})
    report["several_rewards"] = int((count > 1).sum())
    report["matched_window_open"] = int(((count > 0) & open_).sum())
    report.update(window_s=float(window_s), combine=combine,
                  missing_reward=None if missing_reward is None else float(missing_reward),
                  now=None if now_us is None else str(np.int64(now_us).astype("datetime64[us]")))
    return report


def attribute_rewards(decisions: Mapping[str, np.ndarray], rewards: Mapping[str, np.ndarray],
                      *, window_s: float, missing_reward: float | None,
                      combine: str = "sum", now: np.datetime64 | None = None) -> Attribution:
    """Joins reward events to decisions (rules, ties and codes in the package notes).

    Args:
        decisions: columns ``event_id`` (n,) unique non-empty ids, ``timestamp`` (n,)
            datetime64 and optionally ``user_id`` (n,) (None or empty entries: reachable by
            id only). Other columns are ignored.
        rewards: columns ``timestamp`` (m,) datetime64, ``value`` (m,) finite numbers and
            ``event_id`` and/or ``user_id`` (m,): each event needs one of them; an event
            with an ``event_id`` is joined by it.
        window_s: the attribution window in seconds, finite and >= 0.
        missing_reward: the reward of a decision whose window closed without one (e.g.
            0.0 for clicks), or None to leave those without a reward.
        combine: how several rewards of one decision make one: ``"sum"``, ``"max"``,
            ``"first"`` or ``"last"``.
        now: the time the logs were read; decisions younger than the window at ``now`` are
            pending. Defaults to the latest timestamp of either stream; must not precede it.

    Returns:
        An :class:`Attribution`. Its ``report`` counts ``decisions`` and ``rewards``; the
        rewards ``matched_by_id``, ``matched_by_window``, ``late``, ``unmatched`` and
        ``unknown_event_id`` (these five add up to ``rewards``); the decisions
        ``matched``, ``filled``, ``pending`` and ``missing`` (these four add up to
        ``decisions``); ``several_rewards``, the matched decisions with more than one
        reward event; ``matched_window_open``, the matched decisions whose window is
        still open. It also holds the settings: ``window_s``, ``combine``,
        ``missing_reward`` and ``now`` (ISO text, None when there are no events).
    """
    _check_settings(window_s, missing_reward, combine)
    window = int(round(float(window_s) * 1e6))
    s = _streams(decisions, rewards)
    now_us = _now_us(now, s.t_d, s.t_r)
    m, n = s.t_r.shape[0], s.t_d.shape[0]
    target = np.full(m, -1, np.int64)
    rstatus = np.full(m, RewardStatus.UNMATCHED, np.int8)
    join_by_id(s.order, s.ids, s.key_r, s.by_id, target, rstatus)
    join_by_window(s.us_d, s.user_d, s.t_d, s.us_r, s.t_r, s.by_id, window, target, rstatus)
    reward, when, count = combine_rewards(target, s.value, s.t_r, n, combine)
    open_ = (now_us - s.t_d < window) if now_us is not None else np.zeros(n, bool)
    status = _decision_status(count, open_, missing_reward)
    if missing_reward is not None:
        reward[status == DecisionStatus.FILLED] = float(missing_reward)
    return Attribution(reward=reward, reward_timestamp=when.view("datetime64[us]"),
                       status=status, reward_status=rstatus, reward_decision=target,
                       report=_report(rstatus, status, count, open_, window_s, combine,
                                      missing_reward, now_us))
