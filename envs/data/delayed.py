"""Delayed rewards of a simulated run as decision-log events, and what evaluating them
early costs.

A run recorded per round gives, for rounds t = 0..T-1, the ``action``, the true realised
``reward``, the ``propensity`` and the drawn ``delay`` (whole rounds, before censoring):
round t's reward reaches the log ``delay[t]`` rounds after its decision. A censoring window
of W rounds means a reward with ``delay > W`` never counts (the decision's window closes
first, and it gets ``missing_reward``).

:func:`delayed_event_tables` turns those arrays into the two tables
:func:`envs.data.rewards.attribute_rewards` joins: one decision per round, stamped
``start + t * round_seconds``, and one reward event per round, stamped ``delay[t]`` rounds
later and carrying the true reward. Each reward event carries its decision's ``event_id``
(the exact join a production collector does; it ignores the window, so rewards censored
by a window are left out of the table, see ``window_rounds``) and its ``user_id``; every
round has its own user, so the join by user and window, used on the same events without
their ids, is exact too: a reward goes to its round's decision when ``delay <= W`` and is
``late`` otherwise.

:func:`early_evaluation` reads the logs ``e`` rounds after the last decision (``now`` =
``start + (T - 1 + e) * round_seconds``), when only rewards with ``t + delay <= T - 1 + e``
have arrived, and compares the policy-value estimates a team would compute then with the
value once every window has closed. A decision is pending while its window is open,
``T - 1 + e - t < W``, and its reward has not arrived; for ``e >= W`` none is, and the naive
estimate equals the truth exactly.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from common.errors import DataError
from common.formatting import plain
from common.validation import check_int
from envs.data.rewards import DecisionStatus, attribute_rewards
from envs.data.validation import (
    check_finite,
    check_probabilities,
    first_bad_row,
    parse_timestamp,
)

START = np.datetime64("2026-01-01T00:00:00", "us")  # the default time of round 0
COLUMNS = ("action", "reward", "propensity", "delay")


def _integers(name: str, x: np.ndarray) -> np.ndarray:
    """``x`` as int64 after checking it holds integers >= 0."""
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x) | (x != np.round(x))
        if bad.any():
            row = first_bad_row(bad)
            raise DataError(f"{name} must hold integers; row {row} has {plain(x[row])}")
    elif x.dtype.kind not in "iu":
        raise DataError(f"{name} must hold integers, got dtype {x.dtype}")
    neg = x < 0
    if neg.any():
        row = first_bad_row(neg)
        raise DataError(f"{name} must be >= 0; row {row} has {plain(x[row])} "
                        f"({int(neg.sum())} bad rows)")
    return x.astype(np.int64)


def check_rounds(action, reward, propensity, delay) -> tuple[np.ndarray, ...]:
    """The four per-round arrays checked: 1-D, equally long (T >= 1), ``action`` and
    ``delay`` integers >= 0, ``reward`` finite, ``propensity`` in (0, 1].

    Returns:
        (action int64, reward float64, propensity float64, delay int64), each (T,).

    Raises:
        DataError: naming the field, the first bad row and its value (or the shapes).
    """
    cols = dict(zip(COLUMNS, map(np.asarray, (action, reward, propensity, delay))))
    for name, x in cols.items():
        if x.ndim != 1:
            raise DataError(f"{name} must be 1-D (T,), got shape {x.shape}")
        if x.shape != cols["action"].shape:
            raise DataError(f"{name} must have shape (T,) with T={cols['action'].shape[0]} "
                            f"rounds (from action), got {x.shape}")
    if cols["action"].shape[0] == 0:
        raise DataError("action has 0 rounds; at least one is needed")
    check_finite("reward", cols["reward"])
    p = cols["propensity"]
    check_finite("propensity", p)
    check_probabilities("propensity", p)
    return (_integers("action", cols["action"]), cols["reward"].astype(np.float64),
            p.astype(np.float64), _integers("delay", cols["delay"]))


def round_microseconds(round_seconds) -> int:
    """The length of a round in whole microseconds (> 0)."""
    if isinstance(round_seconds, bool) or \
            not isinstance(round_seconds, (int, float, np.number)) or \
            not np.isfinite(round_seconds) or round_seconds <= 0:
        raise ValueError(f"round_seconds must be a finite number > 0, got {round_seconds!r}")
    us = round(float(round_seconds) * 1e6)
    if us < 1 or abs(float(round_seconds) * 1e6 - us) > 1e-6 * us:
        raise ValueError(f"round_seconds must be a whole number of microseconds, "
                         f"got {round_seconds!r}")
    return us


def delayed_event_tables(action, reward, propensity, delay, *, round_seconds: float = 1.0,
                         start=START, seed_index: int = 0,
                         window_rounds: int | None = None) -> tuple[dict, dict]:
    """One seed's rounds as a decision table and a reward-event table for
    :func:`envs.data.rewards.attribute_rewards` (joins described in the module notes).

    Args:
        action, reward, propensity, delay: (T,) per-round arrays (see :func:`check_rounds`).
        round_seconds: the length of a round, a whole number of microseconds.
        start: the time of round 0 (datetime64 or ISO text).
        seed_index: an integer >= 0 in every id (``"s<seed>-t<t>"``, ``"s<seed>-u<t>"``),
            so the tables of several seeds can be joined together.
        window_rounds: the censoring window W; when given, the reward events with
            ``delay > W`` are left out. None keeps them all.

    Returns:
        ``(decisions, rewards)``. decisions (T rows): ``event_id`` and ``user_id`` (str),
        ``timestamp`` datetime64[us], ``action`` int64, ``propensity`` float64, ``round``
        int64 (t). rewards (one row per kept round, in round order): ``event_id`` and
        ``user_id`` of its decision, ``timestamp`` datetime64[us] (``delay`` rounds after
        the decision), ``value`` float64 (the true reward), ``round`` and ``delay`` int64.
    """
    action, reward, propensity, delay = check_rounds(action, reward, propensity, delay)
    seed_index = check_int("seed_index", seed_index, low=0)
    us, t0 = round_microseconds(round_seconds), parse_timestamp("start", start)
    if (len(action) + int(delay.max())) * us >= 2**62 - abs(int(t0.astype(np.int64))):
        raise ValueError(f"the rounds do not fit in datetime64[us]: {len(action)} rounds "
                         f"and delays up to {int(delay.max())} of {us} us")
    t = np.arange(len(action), dtype=np.int64)
    text = t.astype(str)
    ev = np.char.add(f"s{seed_index}-t", text)
    user = np.char.add(f"s{seed_index}-u", text)
    ts = t0 + (t * us).astype("timedelta64[us]")
    decisions = {"event_id": ev, "user_id": user, "timestamp": ts, "action": action,
                 "propensity": propensity, "round": t}
    keep = t if window_rounds is None else \
        np.flatnonzero(delay <= check_int("window_rounds", window_rounds, low=0))
    rewards = {"event_id": ev[keep], "user_id": user[keep],
               "timestamp": ts[keep] + (delay[keep] * us).astype("timedelta64[us]"),
               "value": reward[keep], "round": t[keep], "delay": delay[keep]}
    return decisions, rewards


def _eval_rounds(eval_rounds) -> np.ndarray:
    e = np.atleast_1d(np.asarray(eval_rounds))
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"eval_rounds must be a non-empty 1-D list of integers >= 0, "
                         f"got shape {e.shape}")
    try:
        return _integers("eval_rounds", e)
    except DataError as err:
        raise ValueError(str(err)) from None


def _mean(x: np.ndarray) -> float:
    """The mean, NaN for an empty array (without a warning)."""
    return float(x.mean()) if x.size else float("nan")


def _read(decisions: dict, rewards: dict, now_round: int, us: int, window_rounds: int,
          missing_reward: float) -> dict:
    """The estimates from the logs as read ``now_round`` rounds after round 0."""
    arrived = rewards["round"] + rewards["delay"] <= now_round
    now = decisions["timestamp"][0] + np.timedelta64(now_round * us, "us")
    a = attribute_rewards(decisions, {k: v[arrived] for k, v in rewards.items()},
                          window_s=window_rounds * us / 1e6, missing_reward=missing_reward,
                          combine="sum", now=now)
    pending = a.status == DecisionStatus.PENDING
    closed = now_round - decisions["round"] >= window_rounds
    return {"now": now, "pending": int(pending.sum()), "matched": a.report["matched"],
            "filled": a.report["filled"],
            "matched_window_open": a.report["matched_window_open"],
            "naive": float(np.where(pending, missing_reward, a.reward).mean()),
            "drop_pending": _mean(a.reward[~pending]), "closed_only": _mean(a.reward[closed])}


def early_evaluation(action, reward, propensity, delay, *, window_rounds: int, eval_rounds,
                     missing_reward: float = 0.0, round_seconds: float = 1.0) -> dict:
    """The policy-value estimates of one seed's log read ``e`` rounds after its last
    decision, for each ``e`` in ``eval_rounds``, against the value once all windows close.

    Args:
        action, reward, propensity, delay: (T,) per-round arrays (see :func:`check_rounds`).
        window_rounds: the censoring window W in rounds (integer >= 0).
        eval_rounds: E integers >= 0: how many rounds after the last decision the log is read.
        missing_reward: the reward of a decision whose window closed without one.
        round_seconds: the length of a round (a whole number of microseconds).

    Returns:
        A table (dict of (E,) arrays, row i for ``eval_rounds[i]``): ``eval_rounds`` and
        ``decisions`` (T), ``pending``, ``matched``, ``filled``, ``matched_window_open``,
        ``censored`` (rounds with ``delay > W``) int64; ``now`` datetime64[us];
        ``share_pending`` (pending / T), ``naive`` (mean over all T decisions, pending ones
        taken as ``missing_reward``), ``drop_pending`` (mean over the decisions with a
        reward, pending ones dropped: what ``LoggedData`` would be given), ``closed_only``
        (mean over the decisions whose window has closed), ``truth`` (mean over all T of
        the reward when ``delay <= W``, else ``missing_reward``) and each estimate's bias
        ``<name>_bias`` = estimate - truth, all float64. A mean over no decisions is NaN.
    """
    action, reward, propensity, delay = check_rounds(action, reward, propensity, delay)
    window_rounds = check_int("window_rounds", window_rounds, low=0)
    evals = _eval_rounds(eval_rounds)
    if isinstance(missing_reward, bool) or \
            not isinstance(missing_reward, (int, float, np.number)) or \
            not np.isfinite(missing_reward):
        raise ValueError(f"missing_reward must be a finite number, got {missing_reward!r}")
    missing_reward, us = float(missing_reward), round_microseconds(round_seconds)
    decisions, rewards = delayed_event_tables(action, reward, propensity, delay,
                                              round_seconds=round_seconds,
                                              window_rounds=window_rounds)
    n = action.shape[0]
    rows = [_read(decisions, rewards, n - 1 + int(e), us, window_rounds, missing_reward)
            for e in evals]
    out = {"eval_rounds": evals, "decisions": np.full(evals.size, n, np.int64)}
    for k in ("pending", "matched", "filled", "matched_window_open"):
        out[k] = np.array([r[k] for r in rows], np.int64)
    out["censored"] = np.full(evals.size, int((delay > window_rounds).sum()), np.int64)
    out["now"] = np.array([r["now"] for r in rows], "datetime64[us]")
    out["share_pending"] = out["pending"] / n
    truth = float(np.where(delay <= window_rounds, reward, missing_reward).mean())
    out["truth"] = np.full(evals.size, truth)
    for k in ("naive", "drop_pending", "closed_only"):
        out[k] = np.array([r[k] for r in rows], np.float64)
        out[f"{k}_bias"] = out[k] - truth
    return out


def read_at(columns: dict, now) -> dict:
    """Decision-event columns (:func:`envs.data.logged.events_from_logged`) as a log read
    at ``now`` shows them: a reward whose ``reward_timestamp`` is after ``now`` has not
    arrived, so its ``reward`` and ``reward_timestamp`` are null (NaN / NaT), as
    production logs have them. The columns given are not changed.

    Loaded through the gate (:func:`envs.data.loading.load_logs`), such a log is read with
    ``load.missing_reward`` (e.g. 0: the early estimate that counts pending decisions as
    missing) or with ``load.on_invalid=reject`` (the estimate that drops them).
    """
    now = parse_timestamp("now", now)
    late = np.asarray(columns["reward_timestamp"], "datetime64[us]") > now
    out = dict(columns)
    out["reward"] = np.where(late, np.nan, np.asarray(columns["reward"], np.float64))
    out["reward_timestamp"] = np.where(late, np.datetime64("NaT", "us"),
                                       np.asarray(columns["reward_timestamp"],
                                                  "datetime64[us]"))
    return out


REWARD_EVENT_SCHEMA = pa.schema([("event_id", pa.string()), ("user_id", pa.string()),
                                 ("timestamp", pa.timestamp("us", tz="UTC")),
                                 ("value", pa.float64())])


def draw_delays(kind: str, n: int, *, mean_rounds: float, sigma: float = 1.0,
                seed: int = 0) -> np.ndarray:
    """(n,) int64 reward delays in whole rounds, drawn as a simulated run draws them
    (:func:`envs.feedback.delays.sample_delay`; ``kind`` one of ``fixed``, ``geometric``,
    ``lognormal``, with mean ``mean_rounds`` and, for ``lognormal``, ``sigma``)."""
    import jax
    import jax.numpy as jnp

    from envs.feedback.delays import sample_delay
    from envs.feedback.spec import FeedbackParams

    params = FeedbackParams(delay_mean=jnp.float32(mean_rounds), delay_sigma=jnp.float32(sigma),
                            slow_mean=jnp.float32(0), slow_share=jnp.float32(0),
                            attribution_window=jnp.float32(0), update_every=jnp.float32(1))
    keys = jax.random.split(jax.random.key(seed), n)
    return np.asarray(jax.vmap(lambda k: sample_delay(kind, params, k))(keys), np.int64)


def write_reward_events(path, rewards: dict) -> None:
    """Writes a reward-event table (``event_id``, ``user_id``, ``timestamp``, ``value``, as
    :func:`delayed_event_tables` gives them; other columns are left out) to ``path``
    (.parquet, .csv or .jsonl, by the decision logs' writers): the file the gate reads
    as ``rewards.path``."""
    from envs.data.events.formats import open_sink

    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.asarray(rewards[k])).cast(pa.string()) for k in ("event_id", "user_id")]
        + [pa.array(np.asarray(rewards["timestamp"], "datetime64[us]"))
           .cast(pa.timestamp("us", tz="UTC")),
           pa.array(np.asarray(rewards["value"], np.float64))], schema=REWARD_EVENT_SCHEMA)
    sink = open_sink(path, REWARD_EVENT_SCHEMA, 0)
    try:
        sink.write_batch(batch)
    finally:
        sink.close()
