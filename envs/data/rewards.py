"""Reward collection: joining delayed reward events to the decisions they reward.

A production log records each decision when it is made; its reward (a click, a purchase)
arrives later as a separate event. :func:`attribute_rewards` joins the two streams and
returns one reward per decision, ready for :class:`envs.data.logged.LoggedData`, together with
the status of every decision and of every reward event and a report that accounts for
all of them.

**The join.** A reward event goes to a decision in one of two ways:

- *by event id*: a reward that carries an ``event_id`` goes to the decision with that id,
  whatever its user and timestamp (an exact join; the window plays no part, so a reward
  stamped before its decision, say by a skewed clock, still counts). An id that no
  decision has is an ``unknown_event_id``; such a reward is not retried by window.
- *by user and attribution window*: a reward without an id, at time t, goes to its user's
  *latest* decision at or before t, provided that decision lies in ``[t - window, t]``.
  If the user's latest decision at or before t is older than that, the reward is
  ``late``; if the user has no decision at or before t at all (none, or only later ones),
  it is ``unmatched``. An earlier decision of the user that is also inside the window
  never gets the reward: the latest one does.

**Ties and edges** (timestamps are compared in whole microseconds; ``window_s`` is
rounded to the nearest microsecond):

- a decision and a reward at the same instant: the decision counts as before the reward,
  so it gets it;
- a reward exactly ``window`` after the decision is inside; one microsecond more is late;
- several decisions of one user at the same instant: the one in the latest row is the
  user's latest decision;
- several rewards of one decision are ordered by timestamp, then by row: that order
  decides ``"first"`` and ``"last"``.

**Combining.** The rewards attributed to one decision (by id and by window alike) are
combined by ``combine``: ``"sum"`` (purchases, revenue), ``"max"`` (binary clicks: clicked
at least once), ``"first"`` or ``"last"``. ``reward_timestamp`` is the time of the event
the value was read from: the last reward for ``"sum"`` and ``"last"``, the first for
``"first"`` and the first reward reaching the maximum for ``"max"``.

**Decisions without a reward.** A decision's window is still open while
``now - timestamp < window``: it is ``pending`` (reward NaN) since its reward may still
come. ``now`` defaults to the latest timestamp in either stream, and events stamped at
``now`` are taken to be all in; so at ``now - timestamp == window`` the window is closed.
A decision whose window has closed with no reward gets ``missing_reward`` (status
``filled``, e.g. 0 for "no click"). There is no default for ``missing_reward``: passing
``None`` leaves such decisions without a reward (NaN, status ``missing``) and counts them.
A decision that already has a reward is ``matched`` even while its window is open; the
report counts those (``matched_window_open``), since more rewards may still change their
value. Note also that once a user has a later decision, rewards without an id go to that
one: an earlier decision still pending can then only be reached by id.

Rows with a reward (``np.isfinite(result.reward)``: ``matched`` and ``filled``) are the
ones to evaluate; pending and missing ones carry NaN, which ``LoggedData`` rejects.

**Codes.** ``status`` holds :class:`DecisionStatus` codes (``DECISION_STATUS[code]`` is the
name) and ``reward_status`` :class:`RewardStatus` codes (``REWARD_STATUS[code]``).

**Ids.** ``event_id`` and ``user_id`` may be bytes, str (encoded to UTF-8 bytes when the
other stream has bytes), integers (compared as their decimal text) or objects of those;
an empty id or ``None`` means "not given". Decisions need a non-empty, unique
``event_id``; a decision without a ``user_id`` can be reached by id only. A reward needs
an ``event_id`` or a ``user_id``.

**How it runs.** Everything is array operations, O((n + m) log(n + m)) for n decisions
and m rewards, with no loop over rows. Ids are joined through a sorted copy of the
decisions' ids and ``np.searchsorted`` (queries sorted first, which on large arrays is many
times faster than searching in row order; ids of up to 8 bytes are compared as uint64).
For the window join, users become integer codes (``np.unique``), each decision gets one
int64 key ``user * span + time`` (time in microseconds from the earliest event or, where
that could overflow, the rank of the decision's timestamp), decisions are sorted by it
once, and each reward finds its user's latest decision at or before it with one search.
The rewards of a decision are combined with ``ufunc.reduceat`` over the rewards sorted by
(decision, time). On one core 10⁶ decisions (and 5·10⁵ rewards) take about a second and
10⁷ about 25 s, most of it sorting string ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from envs.data.logged import check_finite

COMBINE = ("sum", "max", "first", "last")
DECISION_STATUS = ("matched", "filled", "pending", "missing")
REWARD_STATUS = ("matched_by_id", "matched_by_window", "late", "unmatched",
                 "unknown_event_id")

# the window join's int64 key is user * span + microseconds when that stays below this
# bound, otherwise user * n_times + rank of the timestamp (tests lower it to reach both)
_KEY_LIMIT = 2**63 - 1


class DecisionStatus(IntEnum):
    """``Attribution.status`` codes, one per decision."""

    MATCHED = 0  # at least one reward event attributed (by id or by window)
    FILLED = 1  # no reward, window closed: reward = missing_reward
    PENDING = 2  # no reward yet, window still open at `now`: reward NaN
    MISSING = 3  # no reward, window closed, missing_reward=None: reward NaN


class RewardStatus(IntEnum):
    """``Attribution.reward_status`` codes, one per reward event."""

    MATCHED_BY_ID = 0  # its event_id names a decision
    MATCHED_BY_WINDOW = 1  # no event_id; its user's latest decision is inside the window
    LATE = 2  # no event_id; its user's latest earlier decision is older than the window
    UNMATCHED = 3  # no event_id; its user has no decision at or before it
    UNKNOWN_EVENT_ID = 4  # its event_id names no decision


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


def _fmt(x) -> str:
    """A value as plain Python would print it; timestamps in ISO form."""
    if isinstance(x, np.datetime64):
        return str(x)
    return repr(np.asarray(x).tolist())


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


def _check_rows(name: str, x, n: int, source: str) -> None:
    if x is not None and x.shape[0] != n:
        raise ValueError(f"{name} must have shape (n,) with n={n} rows (from {source}), "
                         f"got {x.shape}")


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


def _ids(name: str, x: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, given): ids as bytes ('S'), str ('U') or integers; given is False where an id
    is empty or None (integer ids are always given)."""
    if x is None:
        return np.zeros(n, "S1"), np.zeros(n, bool)
    kind = x.dtype.kind
    if kind in "iu":
        return x, np.ones(n, bool)
    if kind == "O":
        y = x.copy()
        y[np.equal(x, None)] = b""
        try:
            x = y.astype("S")  # bytes, ASCII str and integers
        except UnicodeEncodeError:
            try:
                x = y.astype("U")  # non-ASCII str (with ASCII bytes)
            except UnicodeDecodeError:
                raise ValueError(f"{name} mixes non-ASCII str and non-ASCII bytes; pass "
                                 f"one type") from None
    elif kind not in "SU":
        raise ValueError(f"{name} must hold bytes, str or integer ids, got dtype {x.dtype}")
    return x, x != x.dtype.type()


def _common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two id arrays of one kind: integers and str become UTF-8 bytes when the other holds
    bytes, integers become str when the other holds str."""
    ka, kb = a.dtype.kind, b.dtype.kind
    if ka in "iu" and kb in "iu":
        if np.result_type(a, b).kind in "iu":
            return a, b
        return a.astype("S"), b.astype("S")  # int64 against large uint64
    if ka in "iu":
        a = a.astype(kb)
    elif kb in "iu":
        b = b.astype(ka)
    enc = lambda x: np.char.encode(x, "utf-8") if x.dtype.kind == "U" else x
    return (enc(a), enc(b)) if a.dtype.kind != b.dtype.kind else (a, b)


def _keys(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrays that sort and compare like ``a`` and ``b`` (one kind): bytes of up to 8
    characters become uint64, which sort several times faster. Only equality is used."""
    if a.dtype.kind == b.dtype.kind == "S" and max(a.itemsize, b.itemsize) <= 8:
        return a.astype("S8").view(np.uint64), b.astype("S8").view(np.uint64)
    return a, b


def _search(sorted_keys: np.ndarray, queries: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted`` with the queries visited in sorted order: the same answer, many
    times faster on large arrays (successive searches then touch neighbouring memory)."""
    q = np.argsort(queries)
    out = np.empty(queries.shape[0], np.int64)
    out[q] = np.searchsorted(sorted_keys, queries[q], side=side)
    return out


def _check_decision_ids(ev: np.ndarray, given: np.ndarray,
                        key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted keys) of the decisions' event ids, after checking them."""
    if not given.all():
        row = int(np.argmin(given))
        raise ValueError(f"decisions.event_id must be non-empty; row {row} has "
                         f"{_fmt(ev[row])} ({int((~given).sum())} empty rows)")
    order = np.argsort(key, kind="stable")
    ids = key[order]
    dup = np.flatnonzero(ids[1:] == ids[:-1])
    if dup.size:
        k = dup[np.argmin(order[dup + 1])]  # the first row repeating an earlier id
        first = order[np.searchsorted(ids, ids[k], side="left")]
        raise ValueError(f"decisions.event_id must be unique; row {int(order[k + 1])} "
                         f"repeats {_fmt(ev[first])} of row {int(first)} "
                         f"({dup.size} repeats)")
    return order, ids


def _window_join(user_d, t_d, user_r, t_r):
    """For each reward: the row of its user's latest decision at or before it, or -1.

    ``user_d``/``t_d`` are the decisions with a user id, ``user_r``/``t_r`` the rewards to
    place. Among decisions of one user at one instant the latest row is taken.
    """
    out = np.full(user_r.shape[0], -1, np.int64)
    if user_d.shape[0] == 0 or user_r.shape[0] == 0:
        return out
    users, code_d = np.unique(user_d, return_inverse=True)
    code_d = code_d.reshape(-1).astype(np.int64)
    pos = np.minimum(_search(users, user_r), users.shape[0] - 1)
    known = users[pos] == user_r
    code_r = pos[known].astype(np.int64)
    tr = t_r[known]
    lo = min(int(t_d.min()), int(tr.min())) if tr.size else int(t_d.min())
    hi = max(int(t_d.max()), int(tr.max())) if tr.size else int(t_d.max())
    span = hi - lo + 1
    if users.shape[0] * span <= _KEY_LIMIT:  # microseconds from the earliest event
        coord_d, coord_r = t_d - lo, tr - lo
    else:  # ranks of the decisions' timestamps: a reward's is that of the last one <= it
        times, coord_d = np.unique(t_d, return_inverse=True)
        span, coord_d = times.shape[0], coord_d.reshape(-1)
        coord_r = _search(times, tr, side="right") - 1
    key_d = code_d * span + coord_d
    order = np.argsort(key_d, kind="stable")  # equal keys keep row order: latest row last
    at = _search(key_d[order], code_r * span + coord_r, side="right") - 1
    hit = (at >= 0) & (code_d[order[np.maximum(at, 0)]] == code_r)
    found = np.full(code_r.shape[0], -1, np.int64)
    found[hit] = order[at[hit]]
    out[known] = found
    return out


def _combine(target, value, t_r, n_dec: int, combine: str):
    """(reward, reward time, number of rewards) per decision from the attributed events."""
    reward = np.full(n_dec, np.nan)
    when = np.full(n_dec, np.iinfo(np.int64).min, np.int64)  # NaT
    count = np.zeros(n_dec, np.int64)
    sel = np.flatnonzero(target >= 0)
    if sel.size == 0:
        return reward, when, count
    order = sel[np.lexsort((t_r[sel], target[sel]))]  # by decision, time, row (stable)
    dec, v, t = target[order], value[order], t_r[order]
    starts = np.flatnonzero(np.r_[True, dec[1:] != dec[:-1]])
    ends = np.r_[starts[1:], dec.shape[0]]
    rows = dec[starts]
    count[rows] = ends - starts
    if combine == "sum":
        reward[rows], when[rows] = np.add.reduceat(v, starts), t[ends - 1]
    elif combine == "first":
        reward[rows], when[rows] = v[starts], t[starts]
    elif combine == "last":
        reward[rows], when[rows] = v[ends - 1], t[ends - 1]
    else:  # max: timed at the first event reaching the maximum
        best = np.maximum.reduceat(v, starts)
        at = np.where(v == np.repeat(best, ends - starts), np.arange(v.shape[0]), v.shape[0])
        reward[rows], when[rows] = best, t[np.minimum.reduceat(at, starts)]
    return reward, when, count


def attribute_rewards(decisions: Mapping[str, np.ndarray], rewards: Mapping[str, np.ndarray],
                      *, window_s: float, missing_reward: float | None,
                      combine: str = "sum", now: np.datetime64 | None = None) -> Attribution:
    """Joins reward events to decisions (rules, ties and codes in the module notes).

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
    window = int(round(float(window_s) * 1e6))

    ts_d = _column(decisions, "decisions", "timestamp", True)
    n = ts_d.shape[0]
    ev_d = _column(decisions, "decisions", "event_id", True)
    us_d = _column(decisions, "decisions", "user_id", False)
    for name, x in (("decisions.event_id", ev_d), ("decisions.user_id", us_d)):
        _check_rows(name, x, n, "decisions.timestamp")
    ts_r = _column(rewards, "rewards", "timestamp", True)
    m = ts_r.shape[0]
    value = _column(rewards, "rewards", "value", True)
    ev_r = _column(rewards, "rewards", "event_id", False)
    us_r = _column(rewards, "rewards", "user_id", False)
    for name, x in (("rewards.value", value), ("rewards.event_id", ev_r),
                    ("rewards.user_id", us_r)):
        _check_rows(name, x, m, "rewards.timestamp")

    t_d = _timestamps("decisions.timestamp", ts_d)
    t_r = _timestamps("rewards.timestamp", ts_r)
    check_finite("rewards.value", value)
    value = value.astype(np.float64)
    (ev_d, id_d), (ev_r, by_id) = (_ids("decisions.event_id", ev_d, n),
                                   _ids("rewards.event_id", ev_r, m))
    (us_d, user_d), (us_r, user_r) = (_ids("decisions.user_id", us_d, n),
                                      _ids("rewards.user_id", us_r, m))
    ev_d, ev_r = _common(ev_d, ev_r)
    us_d, us_r = _common(us_d, us_r)
    lost = ~by_id & ~user_r
    if lost.any():
        row = int(np.argmax(lost))
        raise ValueError(f"rewards need an event_id or a user_id; row {row} has neither "
                         f"(event_id {_fmt(ev_r[row])}, user_id {_fmt(us_r[row])}; "
                         f"{int(lost.sum())} such rows)")
    key_d, key_r = _keys(ev_d, ev_r)
    order, ids = _check_decision_ids(ev_d, id_d, key_d)
    us_d, us_r = _keys(us_d, us_r)

    latest = None
    for name, t in (("decisions.timestamp", t_d), ("rewards.timestamp", t_r)):
        if t.size and (latest is None or t.max() > latest[2]):
            latest = (name, int(np.argmax(t)), int(t.max()))
    if now is None:
        now_us = None if latest is None else latest[2]
    else:
        try:
            if isinstance(now, (bool, int, float, np.number)):
                raise TypeError
            now_dt = np.datetime64(now, "us")
        except (TypeError, ValueError):
            raise ValueError(f"now must be a datetime64, got {now!r}") from None
        if np.isnat(now_dt):
            raise ValueError("now must not be NaT")
        now_us = int(now_dt.astype(np.int64))
        if latest is not None and latest[2] > now_us:
            raise ValueError(f"now must not precede any event; {latest[0]} row {latest[1]} "
                             f"is {_fmt(np.int64(latest[2]).astype('datetime64[us]'))}, "
                             f"now is {_fmt(now_dt)}")

    # 1. by event id
    target = np.full(m, -1, np.int64)
    rstatus = np.full(m, RewardStatus.UNMATCHED, np.int8)
    rows_id = np.flatnonzero(by_id)
    if rows_id.size:
        if n:
            pos = np.minimum(_search(ids, key_r[rows_id]), n - 1)
            hit = ids[pos] == key_r[rows_id]
        else:
            pos, hit = np.zeros(rows_id.size, np.int64), np.zeros(rows_id.size, bool)
        target[rows_id[hit]] = order[pos[hit]]
        rstatus[rows_id] = np.where(hit, RewardStatus.MATCHED_BY_ID,
                                    RewardStatus.UNKNOWN_EVENT_ID)
    # 2. by user and window
    rows_w = np.flatnonzero(~by_id)
    if rows_w.size:
        with_user = np.flatnonzero(user_d)
        found = _window_join(us_d[with_user], t_d[with_user], us_r[rows_w], t_r[rows_w])
        earlier = np.flatnonzero(found >= 0)  # the user has a decision at or before it
        dec = with_user[found[earlier]]
        inside = t_r[rows_w[earlier]] - t_d[dec] <= window
        target[rows_w[earlier[inside]]] = dec[inside]
        rstatus[rows_w[earlier]] = np.where(inside, RewardStatus.MATCHED_BY_WINDOW,
                                            RewardStatus.LATE)

    reward, when, count = _combine(target, value, t_r, n, combine)
    matched = count > 0
    open_ = (now_us - t_d < window) if now_us is not None else np.zeros(n, bool)
    status = np.where(matched, DecisionStatus.MATCHED,
                      np.where(open_, DecisionStatus.PENDING,
                               DecisionStatus.MISSING if missing_reward is None
                               else DecisionStatus.FILLED)).astype(np.int8)
    if missing_reward is not None:
        reward[status == DecisionStatus.FILLED] = float(missing_reward)

    rcount = np.bincount(rstatus, minlength=len(REWARD_STATUS))
    dcount = np.bincount(status, minlength=len(DECISION_STATUS))
    report = {"decisions": n, "rewards": m}
    report.update({name: int(c) for name, c in zip(REWARD_STATUS, rcount)})
    report.update({name: int(c) for name, c in zip(DECISION_STATUS, dcount)})
    report["several_rewards"] = int((count > 1).sum())
    report["matched_window_open"] = int((matched & open_).sum())
    report.update(window_s=float(window_s), combine=combine,
                  missing_reward=None if missing_reward is None else float(missing_reward),
                  now=None if now_us is None else str(np.int64(now_us).astype("datetime64[us]")))
    return Attribution(reward=reward, reward_timestamp=when.view("datetime64[us]"),
                       status=status, reward_status=rstatus, reward_decision=target,
                       report=report)


def _pct(k: int, total: int) -> str:
    return f"{100 * k / total:5.1f}%" if total else "     -"


def format_report(report: dict) -> str:
    """The report of :func:`attribute_rewards` as a few aligned lines of text."""
    r, n, m = report, report["decisions"], report["rewards"]
    w = f"{r['window_s']:g} s window" if "window_s" in r else "window"
    fill = r.get("missing_reward")
    lines = [f"reward events: {m:,}"]
    for key, label in (("matched_by_id", "matched by event id"),
                       ("matched_by_window", f"matched within the {w}"),
                       ("late", "late (user's latest decision before the window)"),
                       ("unmatched", "unmatched (no earlier decision of the user)"),
                       ("unknown_event_id", "unknown event id")):
        lines.append(f"  {label:<50} {r[key]:>12,} {_pct(r[key], m)}")
    head = f"decisions: {n:,}"
    settings = [s for s in (f"combine {r['combine']!r}" if "combine" in r else "",
                            f"now {r['now']}" if r.get("now") else "") if s]
    if settings:
        head += f" ({', '.join(settings)})"
    lines.append(head)
    for key, label in (("matched", "with a reward"),
                       ("filled", "window closed, no reward: filled with "
                        + (f"{fill:g}" if fill is not None else "-")),
                       ("pending", "pending (window still open)"),
                       ("missing", "window closed, no reward, left missing")):
        lines.append(f"  {label:<50} {r[key]:>12,} {_pct(r[key], n)}")
    lines.append(f"  {'of those with a reward: several reward events':<50} "
                 f"{r['several_rewards']:>12,}")
    lines.append(f"  {'of those with a reward: window still open':<50} "
                 f"{r['matched_window_open']:>12,}")
    return "\n".join(lines)
