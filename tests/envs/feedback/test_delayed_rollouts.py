"""Delayed rewards in the engine, checked against what the policy's state must hold:
zero delay is immediate feedback, a fixed delay d leaves the last d rewards pending, the
attribution window censors late rewards, rewards arriving together are learnt in
decision order, and layouts, lane groups and seed batches never change the numbers."""

import jax
import numpy as np
import pytest
from feedback_runs import (
    CLICK_D,
    CLICK_K,
    EPS_DELAYS,
    EPS_EVERY,
    EPS_ROW,
    EPS_T,
    GEO_MEANS,
    GEO_ROW,
    GEO_T,
    GEO_WINDOWS,
    MIX_T,
    MIXTURE,
    clicks_world,
    drifting_params,
    run,
)

import bandits
from envs.engine import EngineOptions
from envs.feedback import Feedback

K, D = CLICK_K, CLICK_D


@pytest.fixture(scope="module")
def clicks():
    return clicks_world()


def _run(policy, world, feedback, n_rounds, n_seeds=4, **kw):
    return run(policy, world, feedback, n_rounds, n_seeds, **kw)


def _assert_same_run(a, b, rows=slice(None), seeds=slice(None)):
    """``b``'s grid ``rows`` and ``seeds`` replay ``a`` exactly."""
    for key in ("action", "reward", "propensity", "regret"):
        np.testing.assert_array_equal(a.trajectories[key], b.trajectories[key][rows, seeds],
                                      err_msg=key)
    for x, y in zip(jax.tree_util.tree_leaves(a.final_state),
                    jax.tree_util.tree_leaves(b.final_state)):
        np.testing.assert_array_equal(x, y[rows, seeds])


@pytest.fixture(scope="module")
def ucb1_plain():
    """UCB1 on clicks, rewards learnt in their own round: no feedback settings and
    ``Feedback(update_every=1)``, seed 3 (as the shared geometric rollout)."""
    policy = bandits.make("ucb1", CLICK_K, CLICK_D)
    return [_run(policy, clicks_world(), fb, GEO_T, seed=3)
            for fb in (None, Feedback(update_every=1))]


def test_zero_delay_is_immediate_feedback_lin_ucb(lin_plain, lin_fixed):
    # the fixed-delay rollout's d = 0 row (window 40), its first 4 seeds
    assert lin_fixed.grid["delay_mean"][0] == 0
    zero = lin_fixed
    assert (zero.trajectories["delay"][0] == 0).all()
    _assert_same_run(lin_plain, zero, slice(0, 1), slice(0, 4))


def test_zero_delay_is_immediate_feedback_ucb1(ucb1_plain, ucb1_geometric):
    # the geometric rollout's mean-0 row (window 3) draws only zero delays
    row = GEO_ROW["zero"]
    assert GEO_MEANS[row] == 0.0 and GEO_WINDOWS[row] == 3
    zero = ucb1_geometric
    assert (zero.trajectories["delay"][row] == 0).all()
    plain, every_round = ucb1_plain
    _assert_same_run(plain, zero, slice(row, row + 1), slice(0, 4))
    _assert_same_run(plain, every_round)


def _stats(action, value, keep, k=K):
    """Per-arm counts and sums of ``value`` over the rounds where ``keep`` (one seed)."""
    return (np.bincount(action[keep], minlength=k).astype(np.float64),
            np.bincount(action[keep], weights=value[keep], minlength=k))


def test_fixed_delay_leaves_last_d_rewards_pending(eps_fixed):
    # optimistic greedy: an arm never learnt about scores 1, so it is played first;
    # the shared rollout's row 1: d = 7, served model refreshed every round
    row, (T, d) = EPS_ROW["pending"], (EPS_T, 7)
    assert EPS_DELAYS[row] == d and EPS_EVERY[row] == 1
    tr = {k: v[row] for k, v in eps_fixed.trajectories.items()}
    state = jax.tree_util.tree_map(lambda x: x[row], eps_fixed.final_state)
    assert (tr["delay"] == d).all()
    np.testing.assert_array_equal(state.counts.sum(-1), T - d)
    for s in range(4):
        a, y = tr["action"][s], tr["reward"][s].astype(np.float64)
        counts, sums = _stats(a, y, np.arange(T) < T - d)
        np.testing.assert_array_equal(state.counts[s], counts)
        np.testing.assert_array_equal(state.sums[s], sums)
        # rounds 0..d decide with no data: every arm tied at its initial value
        np.testing.assert_allclose(tr["propensity"][s, :d + 1], 1.0 / K)
        # afterwards greedy on what arrived by round r - 1 (rounds t <= r - 1 - d)
        _assert_greedy_replay(a, y, tr["propensity"][s], lambda r_: r_ - 1 - d)
    # row 2: a run no longer than its delay (d = T) has learnt nothing
    early = EPS_ROW["early"]
    assert EPS_DELAYS[early] == T
    np.testing.assert_array_equal(eps_fixed.final_state.counts[early], 0.0)
    np.testing.assert_array_equal(eps_fixed.final_state.sums[early], 0.0)


def _assert_greedy_replay(action, reward, propensity, last_known, initial=1.0):
    """Each round's action is a best arm of the greedy sample means over rounds
    ``t <= last_known(r)`` (an arm never seen scores ``initial``), with propensity 1/ties."""
    for r_ in range(action.shape[0]):
        keep = np.arange(action.shape[0]) <= last_known(r_)
        n, s = _stats(action, reward, keep)
        # compare s_i / n_i exactly as fractions (initial value: initial / 1)
        num, den = np.where(n > 0, s, initial), np.where(n > 0, n, 1.0)
        best = [i for i in range(K)
                if all(num[i] * den[j] >= num[j] * den[i] for j in range(K))]
        assert action[r_] in best, (r_, action[r_], best)
        assert propensity[r_] == pytest.approx(1.0 / len(best), rel=1e-6), r_


@pytest.fixture(scope="module")
def censored(clicks, ucb1_geometric):
    """UCB1 on clicks, geometric delays of mean 4, window 3, 4 seeds, per missing value:
    (rollout, grid row, rounds)."""
    runs = {0.0: (ucb1_geometric, GEO_ROW["window"], GEO_T)}
    for missing in (0.5, "drop"):
        fb = Feedback(delay="geometric", delay_mean=4.0, attribution_window=3,
                      missing=missing)
        runs[missing] = (_run(bandits.make("ucb1", K, D), clicks, fb, 80), 0, 80)
    return runs


@pytest.mark.parametrize("missing", [0.0, 0.5, "drop"])
def test_window_censors_late_rewards(censored, missing):
    r, row, T = censored[missing]
    W = 3
    assert GEO_MEANS[GEO_ROW["window"]] == 4.0 and GEO_WINDOWS[GEO_ROW["window"]] == W
    tr = {k: v[row] for k, v in r.trajectories.items()}
    state = jax.tree_util.tree_map(lambda x: x[row], r.final_state)
    t = np.arange(T)
    assert (tr["delay"] > W).any() and (tr["delay"] <= W).any()
    for s in range(4):
        a, y, delay = tr["action"][s], tr["reward"][s].astype(np.float64), tr["delay"][s]
        on_time = (delay <= W) & (t + delay <= T - 1)
        late = (delay > W) & (t + W <= T - 1)
        counts, sums = _stats(a, y, on_time)
        if missing != "drop":
            late_counts, _ = _stats(a, y, late)
            counts, sums = counts + late_counts, sums + missing * late_counts
        np.testing.assert_array_equal(state.counts[s], counts)
        np.testing.assert_array_equal(state.sums[s], sums)


def _discounted_replay(gamma, arrivals):
    """Discounted counts and sums after learning ``arrivals`` (action, value) in order."""
    counts, sums = np.zeros(K), np.zeros(K)
    for a, v in arrivals:
        counts, sums = gamma * counts, gamma * sums
        counts[a] += 1.0
        sums[a] += v
    return counts, sums


def test_arrivals_are_learnt_in_decision_order(clicks):
    # each update discounts what came before, so the order of arrivals shows in the state
    gamma, T, W = 0.7, 40, 8
    policy = bandits.make("discounted_ucb", K, D, gamma=gamma)
    r = _run(policy, clicks, Feedback(delay="geometric", delay_mean=3.0, attribution_window=W,
                                      missing=0.25), T)
    tr, state = r.trajectories, r.final_state
    reversed_differs = False
    for s in range(4):
        a, y, delay = tr["action"][0, s], tr["reward"][0, s], tr["delay"][0, s]
        arrival = np.minimum(delay, W) + np.arange(T)
        value = np.where(delay > W, 0.25, y)
        rows = [(arrival[t], t, a[t], value[t]) for t in range(T) if arrival[t] <= T - 1]
        counts, sums = _discounted_replay(gamma, [(x[2], x[3]) for x in sorted(rows)])
        np.testing.assert_allclose(state.counts[0, s], counts, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state.sums[0, s], sums, rtol=1e-5, atol=1e-6)
        backwards = sorted(rows, key=lambda x: (x[0], -x[1]))
        other, _ = _discounted_replay(gamma, [(x[2], x[3]) for x in backwards])
        reversed_differs |= not np.allclose(other, counts, rtol=1e-5, atol=1e-6)
    assert reversed_differs  # the check can tell the orders apart


def _lin_ucb_drifting(drifting, n_seeds, **kw):
    policy = bandits.make("lin_ucb", K, D)
    return _run(policy, drifting, MIXTURE, MIX_T, n_seeds=n_seeds, seed=3,
                policy_params=drifting_params(policy), **kw)


@pytest.fixture(scope="module")
def grouped(drifting):
    """Seeds 5..7 run alone, in lane groups of 2 (6 groups over the 4 grid rows)."""
    return _lin_ucb_drifting(drifting, 3, first_seed=5, options=EngineOptions(group_lanes=2))


def test_layout_and_lane_groups_do_not_change_numbers(drifting, reference, grouped):
    # the reference runs 128 seeds in lane groups of 64; compared on seeds 0..7 (vmap)
    # and 5..7 (groups of 2), every grid row
    vmap = _lin_ucb_drifting(drifting, 8, options=EngineOptions(layout="vmap"))
    for other, seeds in ((vmap, slice(0, 8)), (grouped, slice(5, 8))):
        for key in ("action", "delay"):
            np.testing.assert_array_equal(other.trajectories[key],
                                          reference.trajectories[key][:, seeds], err_msg=key)
        np.testing.assert_allclose(other.trajectories["reward"],
                                   reference.trajectories["reward"][:, seeds],
                                   rtol=1e-5, atol=1e-5)


def test_seeds_run_alone_equal_the_same_seeds_in_a_larger_run(reference, grouped):
    alone = grouped  # seeds 5..7 of the reference's 128
    for key in ("action", "delay"):
        np.testing.assert_array_equal(alone.trajectories[key],
                                      reference.trajectories[key][:, 5:8], err_msg=key)
    np.testing.assert_allclose(alone.final_state.theta, reference.final_state.theta[:, 5:8],
                               rtol=1e-5, atol=1e-5)
