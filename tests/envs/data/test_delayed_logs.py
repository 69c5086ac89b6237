"""Delayed rewards as decision-log events: the tables, pending decisions in closed form,
censoring, the bias of evaluating early against a direct reference, and the input checks."""

import numpy as np
import pytest

from envs.data.delayed import delayed_event_tables, early_evaluation
from envs.data.rewards import DecisionStatus, RewardStatus, attribute_rewards

US = np.timedelta64(1, "us")


def rounds(delay, reward=None, seed=0):
    """(action, reward, propensity, delay) of len(delay) rounds; rewards all 1 by default."""
    delay = np.asarray(delay, np.int32)
    t = delay.shape[0]
    rng = np.random.default_rng(seed)
    reward = np.ones(t, np.float32) if reward is None else np.asarray(reward, np.float32)
    return (rng.integers(0, 3, t).astype(np.int32), reward,
            rng.uniform(0.1, 1.0, t).astype(np.float32), delay)


def reference(delay, reward, window, e, missing=0.0):
    """Pending mask, the final rewards and the three estimates, straight from the arrays."""
    t = np.arange(delay.shape[0])
    now = delay.shape[0] - 1 + e
    final = np.where(delay <= window, reward.astype(np.float64), missing)
    pending = (t + delay > now) & (now - t < window)
    seen = np.where(pending, missing, final)
    return pending, final, seen.mean(), final[~pending].mean(), final[now - t >= window]


def test_tables_stamp_rounds_and_delays_and_join_by_id_to_their_round():
    act, rew, prop, delay = rounds([0, 2, 1, 5], reward=[0.5, 0.0, 1.0, 2.0])
    start = np.datetime64("2025-03-01T12:00:00", "us")
    dec, rw = delayed_event_tables(act, rew, prop, delay, round_seconds=0.25, start=start,
                                   seed_index=7)
    step = np.timedelta64(250_000, "us")
    assert (dec["timestamp"] == start + np.arange(4) * step).all()
    assert (rw["timestamp"] - dec["timestamp"] == delay.astype(np.int64) * step).all()
    assert dec["event_id"].tolist() == ["s7-t0", "s7-t1", "s7-t2", "s7-t3"]
    assert len(set(dec["user_id"].tolist())) == 4
    assert rw["value"].tolist() == [0.5, 0.0, 1.0, 2.0]
    assert (dec["action"] == act).all() and (dec["propensity"] == prop).all()
    a = attribute_rewards(dec, rw, window_s=10.0, missing_reward=0.0)
    assert a.reward_decision.tolist() == [0, 1, 2, 3]
    assert (a.reward_status == RewardStatus.MATCHED_BY_ID).all()
    other, _ = delayed_event_tables(act, rew, prop, delay, seed_index=8)
    assert not set(other["event_id"].tolist()) & set(dec["event_id"].tolist())


@pytest.mark.parametrize("t,d,w", [(20, 6, 6), (20, 6, 9), (4, 7, 7), (1, 3, 5)])
def test_fixed_delay_leaves_d_minus_e_pending_and_naive_is_their_share(t, d, w):
    evals = np.arange(0, d + 2)
    out = early_evaluation(*rounds(np.full(t, d)), window_rounds=w, eval_rounds=evals)
    pending = np.clip(d - evals, 0, t)
    assert out["pending"].tolist() == pending.tolist()
    assert out["matched"].tolist() == (t - pending).tolist()
    assert out["naive"].tolist() == [(t - p) / t for p in pending]
    assert out["truth"].tolist() == [1.0] * evals.size
    assert out["share_pending"].tolist() == (pending / t).tolist()
    done = pending < t
    assert (out["drop_pending"][done] == 1.0).all() and np.isnan(out["drop_pending"][~done]).all()
    assert (out["now"] - np.datetime64("2026-01-01T00:00:00") == (t - 1 + evals) * 10**6 * US).all()


def test_censoring_counts_rewards_later_than_the_window_as_missing():
    delay = np.array([0, 3, 4, 5, 9, 2, 4, 12, 1, 5])
    reward = np.arange(1, 11, dtype=np.float32)
    w = 4
    censored = delay > w
    out = early_evaluation(*rounds(delay, reward), window_rounds=w, eval_rounds=[w, 20],
                           missing_reward=-1.0)
    assert out["censored"].tolist() == [int(censored.sum())] * 2 == [4, 4]
    assert out["filled"].tolist() == [4, 4] and out["pending"].tolist() == [0, 0]
    assert out["truth"][0] == np.where(censored, -1.0, reward.astype(float)).mean() == 24 / 10
    dec, rw = delayed_event_tables(*rounds(delay, reward), window_rounds=w)
    assert rw["round"].tolist() == np.flatnonzero(~censored).tolist()
    # the same events joined by user and window alone: the censored ones are late
    _, every = delayed_event_tables(*rounds(delay, reward))
    by_user = {k: v for k, v in every.items() if k != "event_id"}
    a = attribute_rewards(dec, by_user, window_s=float(w), missing_reward=-1.0,
                          now=np.datetime64("2026-01-01T00:00:30"))
    assert ((a.reward_status == RewardStatus.LATE) == censored).all()
    b = attribute_rewards(dec, rw, window_s=float(w), missing_reward=-1.0,
                          now=np.datetime64("2026-01-01T00:00:30"))
    assert (a.reward == b.reward).all() and (a.status == b.status).all()
    assert ((b.status == DecisionStatus.FILLED) == censored).all()


def geometric(t=400, seed=0):
    """Geometric delays (mean 3) for the all-closed checks, and rewards in {0, 1}."""
    rng = np.random.default_rng(seed)
    return rng.geometric(0.25, t) - 1, (rng.random(t) < 0.4).astype(np.float32)


def slow(t=400, seed=0):
    """Poisson delays (mean 6) and rewards in {0, 1} less likely the longer the delay."""
    rng = np.random.default_rng(seed)
    delay = rng.poisson(6.0, t)
    return delay, (rng.random(t) < np.clip(0.9 - 0.06 * delay, 0.05, 1)).astype(np.float32)


@pytest.mark.parametrize("w", [0, 1, 6, 15])
def test_no_bias_once_every_window_has_closed(w):
    delay, reward = geometric()
    out = early_evaluation(*rounds(delay, reward), window_rounds=w,
                           eval_rounds=[w, w + 1, w + 40])
    assert (out["naive_bias"] == 0.0).all() and (out["pending"] == 0).all()
    assert (out["drop_pending_bias"] == 0.0).all()


@pytest.mark.parametrize("draw,w", [(geometric, 8), (slow, 10)])
def test_random_delays_naive_bias_is_the_pending_rewards_lost(draw, w):
    delay, reward = draw()
    evals = np.arange(w)
    out = early_evaluation(*rounds(delay, reward), window_rounds=w, eval_rounds=evals)
    assert out["pending"][0] > 0 and out["naive_bias"][0] < 0
    for i, e in enumerate(evals):
        pending, final, naive, dropped, closed = reference(delay, reward, w, e)
        assert out["pending"][i] == pending.sum()
        share = pending.mean()
        lost = final[pending].mean() * share if pending.any() else 0.0
        assert out["naive_bias"][i] == pytest.approx(-lost, abs=1e-12)
        assert out["naive"][i] == pytest.approx(naive, abs=1e-12)
        assert out["drop_pending"][i] == pytest.approx(dropped, abs=1e-12)
        assert out["closed_only"][i] == pytest.approx(closed.mean(), abs=1e-12)
        assert out["truth"][i] == pytest.approx(final.mean(), abs=1e-12)


@pytest.mark.parametrize("field,row,value,pattern", [
    ("delay", 2, -1, r"delay must be >= 0; row 2 has -1"),
    ("delay", 1, 1.5, r"delay must hold integers; row 1 has 1.5"),
    ("reward", 3, np.nan, r"reward must be finite; row 3 has nan"),
    ("propensity", 0, 0.0, r"propensity must be in \(0, 1\]; row 0 has 0.0"),
    ("action", 1, -2, r"action must be >= 0; row 1 has -2"),
])
def test_bad_inputs_name_the_field_the_row_and_the_value(field, row, value, pattern):
    cols = dict(zip(("action", "reward", "propensity", "delay"),
                    (np.array(x, np.float64) for x in rounds([1, 0, 2, 3]))))
    cols[field][row] = value
    with pytest.raises(ValueError, match=pattern):
        delayed_event_tables(**cols)
    with pytest.raises(ValueError, match=pattern):
        early_evaluation(**cols, window_rounds=2, eval_rounds=[0])


def test_bad_shapes_and_settings_are_named():
    act, rew, prop, delay = rounds([1, 0, 2])
    with pytest.raises(ValueError, match=r"reward must have shape \(T,\) with T=3 .* \(2,\)"):
        delayed_event_tables(act, rew[:2], prop, delay)
    with pytest.raises(ValueError, match="eval_rounds must be >= 0; row 1 has -1"):
        early_evaluation(act, rew, prop, delay, window_rounds=2, eval_rounds=[0, -1])
    with pytest.raises(ValueError, match="window_rounds"):
        early_evaluation(act, rew, prop, delay, window_rounds=-1, eval_rounds=[0])
    with pytest.raises(ValueError, match="round_seconds"):
        delayed_event_tables(act, rew, prop, delay, round_seconds=0.0)
