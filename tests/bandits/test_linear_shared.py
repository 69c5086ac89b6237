"""Shared-parameter LinUCB and linear TS on per-arm features: the engine's decisions equal
a NumPy reference replayed on the logged contexts for 300 rounds, and with a shared
context (``arm_features = 0``) shared LinUCB is disjoint LinUCB."""

import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX starts)
from envs.engine import simulate
from envs.worlds import registry

T, S = 300, 2


@pytest.fixture(scope="module")
def per_arm_run():
    world = registry.make("neural-synthetic", function="h1", n_arms=4, arm_features=5)
    policy = bandits.make("lin_ucb_shared", 4, 20, alpha=0.7, reg=1.5, arm_features=5)
    return simulate(policy, world, n_rounds=T, n_seeds=S, record="logs")


def _numpy_lin_ucb(contexts, played, rewards, alpha, reg, k, d):
    """Shared LinUCB replayed in float64 on the run's contexts: each round, whether the
    arm the run played is a largest score (within 1e-5 relative, for exact ties, which
    the run breaks at random: unit-norm features tie every arm's width at the start),
    then the update with that arm and its reward."""
    a = reg * np.eye(d)
    b = np.zeros(d)
    agree = []
    for ctx, arm, reward in zip(contexts, played, rewards):
        x = ctx.reshape(k, d)
        a_inv = np.linalg.inv(a)
        scores = x @ (a_inv @ b) + alpha * np.sqrt(np.einsum("ki,ij,kj->k", x, a_inv, x))
        agree.append(scores[arm] >= scores.max() - 1e-5 * abs(scores.max()))
        a += np.outer(x[arm], x[arm])
        b += reward * x[arm]
    return np.array(agree)


def test_shared_lin_ucb_on_per_arm_features_equals_numpy(per_arm_run):
    logs = per_arm_run.trajectories
    for s in range(S):
        agree = _numpy_lin_ucb(np.asarray(logs["context"][0, s], np.float64),
                               np.asarray(logs["action"][0, s]),
                               np.asarray(logs["reward"][0, s], np.float64), 0.7, 1.5, 4, 5)
        assert agree.all(), f"seed {s}: rounds {np.flatnonzero(~agree)[:5]} disagree"


def test_with_a_shared_context_shared_lin_ucb_is_disjoint_lin_ucb():
    world = registry.make("linear-gaussian", n_arms=3, dim=4)
    kw = dict(n_rounds=T, n_seeds=3, record="trajectories")
    shared = simulate(bandits.make("lin_ucb_shared", 3, 4, arm_features=0), world, **kw)
    disjoint = simulate(bandits.make("lin_ucb", 3, 4), world, **kw)
    np.testing.assert_array_equal(shared.trajectories["action"],
                                  disjoint.trajectories["action"])


def test_arm_features_must_split_the_context():
    with pytest.raises(ValueError, match="arm_features .* n_arms·d = dim = 20, got 6"):
        bandits.make("lin_ucb_shared", 4, 20, arm_features=6)
