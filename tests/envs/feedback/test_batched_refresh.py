"""A served model refreshed every B rounds: decisions read the state as of the last
refresh (after rounds B − 1, 2B − 1, ...) while the learner keeps every reward, B = 1 is
immediate learning, and a grid of cadences runs each B as if alone."""

import jax
import numpy as np
import pytest
from feedback_runs import (
    CLICK_K,
    EPS_DELAYS,
    EPS_EVERY,
    EPS_ROW,
    EPS_T,
    LIN_D,
    LIN_K,
    LIN_T,
    clicks_world,
    lin_world,
    optimistic_greedy,
    run,
)

import bandits
from bandits import linear
from envs.feedback import Feedback

K = CLICK_K
CADENCES = [LIN_T, 1, 5, 20]  # row 0: never refreshed within the run
ALPHAS = [0.5, 1.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def cadences():
    """LinUCB with the refresh cadences :data:`CADENCES`, 3 seeds, logged contexts."""
    policy = bandits.make("lin_ucb", LIN_K, LIN_D)
    params = policy.default_params._replace(alpha=np.array(ALPHAS))
    return run(policy, lin_world(), Feedback(update_every=CADENCES), LIN_T, 3, record="logs",
               policy_params=params)


def test_never_refreshed_model_serves_the_initial_state(cadences):
    # row 0: B = T with alpha 0.5
    r, T = cadences, LIN_T
    assert CADENCES[0] == T and ALPHAS[0] == 0.5
    tr = {k: v[:1] for k, v in r.trajectories.items()}
    # the initial ridge state scores every arm alike on any context: K-way ties throughout
    np.testing.assert_array_equal(tr["propensity"], np.float32(1.0 / LIN_K))
    # while the learner has learnt every round's reward
    policy = bandits.make("lin_ucb", LIN_K, LIN_D, alpha=0.5)
    init = policy.init(policy.default_params, jax.random.key(0))
    for s in range(3):
        rows = (tr["context"][0, s], tr["action"][0, s].astype(np.int64), tr["reward"][0, s])
        want = linear.fold_logs(init, [rows])
        np.testing.assert_allclose(r.final_state.theta[0, s], want.theta, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(r.final_state.a_inv[0, s], want.a_inv, rtol=1e-3, atol=1e-5)


def _stats(action, value, keep):
    return (np.bincount(action[keep], minlength=K).astype(np.float64),
            np.bincount(action[keep], weights=value[keep], minlength=K))


@pytest.fixture(scope="module")
def refreshed(eps_fixed):
    """Optimistic greedy on clicks by (B, d): (trajectories, final counts) of one grid row;
    d = 3 is row 0 of the shared fixed-delay rollout (4 seeds)."""
    batched = run(optimistic_greedy(), clicks_world(), Feedback(update_every=5), EPS_T, 3)
    row = EPS_ROW["refresh"]
    assert (EPS_EVERY[row], EPS_DELAYS[row]) == (4, 3)
    return {(5, 0): ({k: v[0] for k, v in batched.trajectories.items()},
                     batched.final_state.counts[0]),
            (4, 3): ({k: v[row] for k, v in eps_fixed.trajectories.items()},
                     eps_fixed.final_state.counts[row])}


@pytest.mark.parametrize("every, delay", [(5, 0), (4, 3)])
def test_decisions_follow_the_refresh_schedule(refreshed, every, delay):
    T = EPS_T
    tr, counts = refreshed[every, delay]
    np.testing.assert_array_equal(counts.sum(-1), T - delay)
    for s in range(tr["action"].shape[0]):
        a, y, p = tr["action"][s], tr["reward"][s].astype(np.float64), tr["propensity"][s]
        for t in range(T):
            # served: the learner after round (t // B)·B − 1, which knows rounds ≤ that − d
            n, v = _stats(a, y, np.arange(T) <= (t // every) * every - 1 - delay)
            num, den = np.where(n > 0, v, 1.0), np.where(n > 0, n, 1.0)
            best = [i for i in range(K)
                    if all(num[i] * den[j] >= num[j] * den[i] for j in range(K))]
            assert a[t] in best, (t, a[t], best)
            assert p[t] == pytest.approx(1.0 / len(best), rel=1e-6), t
    # the decisions really were stale: some round kept an arm a fresh model would drop
    assert _fresh_model_disagrees(tr, delay)


def _fresh_model_disagrees(tr, delay) -> bool:
    """Some decision differs from what greedy on every arrived reward would have played
    (``tr`` holds one grid row: (seeds, T))."""
    T = tr["action"].shape[-1]
    for s in range(tr["action"].shape[0]):
        a, y = tr["action"][s], tr["reward"][s].astype(np.float64)
        for t in range(T):
            n, v = _stats(a, y, np.arange(T) <= t - 1 - delay)
            means = np.where(n > 0, v / np.maximum(n, 1.0), 1.0)
            if means[a[t]] < means.max():
                return True
    return False


def test_cadence_grid_lanes_run_as_if_alone(cadences, lin_plain):
    # rows 1..3 (alpha 1, the default) against the plain run's first 3 seeds
    grid, alone = cadences, lin_plain
    default = bandits.make("lin_ucb", LIN_K, LIN_D).default_params.alpha
    assert ALPHAS[1:] == [1.0] * 3 and default == 1.0
    np.testing.assert_array_equal(grid.grid["update_every"], CADENCES)
    for key in ("action", "reward", "propensity", "regret"):
        np.testing.assert_array_equal(grid.trajectories[key][1:2],
                                      alone.trajectories[key][:, :3])
    for x, y in zip(jax.tree_util.tree_leaves(grid.final_state),
                    jax.tree_util.tree_leaves(alone.final_state)):
        np.testing.assert_array_equal(x[1:2], y[:, :3])
    action = grid.trajectories["action"]
    assert (action[2] != action[1]).any() and (action[3] != action[1]).any()
    # B = 20: the first 20 decisions come from the initial state, all K arms tied
    np.testing.assert_array_equal(grid.trajectories["propensity"][3, :, :20],
                                  np.float32(1 / LIN_K))
