"""The two joins of reward events to decisions -- by event id, and by user within the
attribution window -- and the combining of several rewards of one decision."""

from __future__ import annotations

import numpy as np

from envs.data.rewards.codes import RewardStatus
from envs.data.rewards.ids import search_sorted

# the window join's int64 key is user * span + microseconds when that stays below this
# bound, otherwise user * n_times + rank of the timestamp (tests lower it to reach both)
_KEY_LIMIT = 2**63 - 1


def join_by_id(order: np.ndarray, ids: np.ndarray, key_r: np.ndarray, by_id: np.ndarray,
               target: np.ndarray, rstatus: np.ndarray) -> None:
    """Sends each reward with an event id (``by_id`` (m,)) to the decision with that id.

    Args:
        order, ids: the decisions' (n,) sort order and sorted id keys.
        key_r: (m,) the rewards' id keys.
        target, rstatus: (m,) decision rows and :class:`RewardStatus` codes, filled in.
    """
    n = ids.shape[0]
    rows_id = np.flatnonzero(by_id)
    if not rows_id.size:
        return
    if n:
        pos = np.minimum(search_sorted(ids, key_r[rows_id]), n - 1)
        hit = ids[pos] == key_r[rows_id]
    else:
        pos, hit = np.zeros(rows_id.size, np.int64), np.zeros(rows_id.size, bool)
    target[rows_id[hit]] = order[pos[hit]]
    rstatus[rows_id] = np.where(hit, RewardStatus.MATCHED_BY_ID,
                                RewardStatus.UNKNOWN_EVENT_ID)


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
    pos = np.minimum(search_sorted(users, user_r), users.shape[0] - 1)
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
        coord_r = search_sorted(times, tr, side="right") - 1
    key_d = code_d * span + coord_d
    order = np.argsort(key_d, kind="stable")  # equal keys keep row order: latest row last
    at = search_sorted(key_d[order], code_r * span + coord_r, side="right") - 1
    hit = (at >= 0) & (code_d[order[np.maximum(at, 0)]] == code_r)
    found = np.full(code_r.shape[0], -1, np.int64)
    found[hit] = order[at[hit]]
    out[known] = found
    return out


def join_by_window(us_d, user_d, t_d, us_r, t_r, by_id, window: int, target: np.ndarray,
                   rstatus: np.ndarray) -> None:
    """Sends each reward without an event id to its user's latest decision at or before
    it, when that decision lies within ``window`` microseconds.

    Args:
        us_d, user_d, t_d: (n,) the decisions' user keys, whether a user is given, and
            times in microseconds.
        us_r, t_r, by_id: (m,) the rewards' user keys, times, and whether an id is given.
        target, rstatus: (m,) decision rows and :class:`RewardStatus` codes, filled in.
    """
    rows_w = np.flatnonzero(~by_id)
    if not rows_w.size:
        return
    with_user = np.flatnonzero(user_d)
    found = _window_join(us_d[with_user], t_d[with_user], us_r[rows_w], t_r[rows_w])
    earlier = np.flatnonzero(found >= 0)  # the user has a decision at or before it
    dec = with_user[found[earlier]]
    inside = t_r[rows_w[earlier]] - t_d[dec] <= window
    target[rows_w[earlier[inside]]] = dec[inside]
    rstatus[rows_w[earlier]] = np.where(inside, RewardStatus.MATCHED_BY_WINDOW,
                                        RewardStatus.LATE)


def combine_rewards(target, value, t_r, n_dec: int, combine: str):
    """(reward, reward time, number of rewards), each (n_dec,), per decision from the
    events attributed to it (``target`` (m,) decision rows, -1 for none)."""
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
