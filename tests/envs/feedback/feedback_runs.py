"""Rollouts shared by the feedback tests. Compiling a program costs far more than running
it, so each rollout below holds a grid of feedback settings (or more seeds and rounds)
and serves every test whose runs it contains; a test reads its grid row and seeds.

A seed's numbers depend neither on the seeds nor on the grid points run beside it, and a
run's first rounds equal a shorter run's, so a slice is the run the test would make alone.
"""

import numpy as np
import pytest

import bandits
from envs.engine import simulate
from envs.feedback import Feedback
from envs.worlds import registry

LIN_K, LIN_D = 4, 4  # LinUCB on a linear-Gaussian world
LIN_T = 1000
DELAYS = np.array([0, 10, 20, 40])  # fixed delays of the LinUCB regret run
CLICK_K, CLICK_D = 3, 4  # policies on logistic-Bernoulli clicks

# geometric delays of UCB1 on clicks: (mean, window) per grid row
GEO_MEANS = [0.5, 4.0, 20.0, 0.0]
GEO_WINDOWS = [6, 3, 6, 3]
GEO_ROW = {"spec": slice(0, 3), "window": 1, "zero": 3}
GEO_T, GEO_SEEDS = 250, 128

# mixture delays of LinUCB on a drifting world: row 0 is the layout reference, rows 1..3
# the slow shares whose delay distribution is checked
SLOW_MEANS = [12.0, 30.0, 30.0, 30.0]
SLOW_SHARES = [0.3, 0.0, 0.2, 0.5]
MIXTURE = Feedback(delay="mixture", delay_mean=1.0, slow_mean=SLOW_MEANS,
                   slow_share=SLOW_SHARES, attribution_window=10, missing=0.0, update_every=5)
MIX_T, MIX_SEEDS = 250, 128


def run(policy, world, feedback, n_rounds, n_seeds, record="trajectories", **kw):
    return simulate(policy, world, n_rounds=n_rounds, n_seeds=n_seeds, record=record,
                    feedback=feedback, **kw)


def lin_world():
    return registry.make("linear-gaussian", n_arms=LIN_K, dim=LIN_D)


def clicks_world():
    return registry.make("logistic-bernoulli", n_arms=CLICK_K, dim=CLICK_D)


@pytest.fixture(scope="session")
def lin_plain():
    """LinUCB with rewards learnt in their own round (no feedback settings), 4 seeds."""
    return run(bandits.make("lin_ucb", LIN_K, LIN_D), lin_world(), None, LIN_T, 4)


@pytest.fixture(scope="session")
def lin_fixed():
    """LinUCB with fixed delays :data:`DELAYS` (window 40), 512 seeds."""
    policy = bandits.make("lin_ucb", LIN_K, LIN_D)
    params = policy.default_params._replace(alpha=np.full(len(DELAYS), 1.0))
    return run(policy, lin_world(), Feedback(delay="fixed", delay_mean=DELAYS.tolist()),
               LIN_T, 512, policy_params=params)


@pytest.fixture(scope="session")
def ucb1_geometric():
    """UCB1 on clicks with geometric delays (rows :data:`GEO_MEANS`), censored rewards
    counting 0, 128 seeds."""
    fb = Feedback(delay="geometric", delay_mean=GEO_MEANS, attribution_window=GEO_WINDOWS,
                  missing=0.0)
    return run(bandits.make("ucb1", CLICK_K, CLICK_D), clicks_world(), fb, GEO_T, GEO_SEEDS,
               seed=3)


@pytest.fixture(scope="session")
def drifting():
    base = registry.make("linear-gaussian", n_arms=CLICK_K, dim=CLICK_D)
    return registry.make_drift("abrupt", base, change_rounds=[25, 50])


def drifting_params(policy):
    return policy.default_params._replace(alpha=np.full(len(SLOW_SHARES), 1.0))


@pytest.fixture(scope="session")
def reference(drifting):
    """LinUCB on the drifting world with :data:`MIXTURE` feedback, 128 seeds."""
    policy = bandits.make("lin_ucb", CLICK_K, CLICK_D)
    return run(policy, drifting, MIXTURE, MIX_T, MIX_SEEDS, seed=3,
               policy_params=drifting_params(policy))


# optimistic greedy on clicks with fixed delays (window 60): (delay, refresh cadence B)
# per row; row 2's delay is the whole run
EPS_DELAYS = [3, 7, 60]
EPS_EVERY = [4, 1, 1]
EPS_ROW = {"refresh": 0, "pending": 1, "early": 2}
EPS_T = 60


def optimistic_greedy():
    return bandits.make("eps_greedy", CLICK_K, CLICK_D, epsilon=0.0, initial_value=1.0)


@pytest.fixture(scope="session")
def eps_fixed():
    """Optimistic greedy on clicks with fixed delays :data:`EPS_DELAYS`, 4 seeds."""
    fb = Feedback(delay="fixed", delay_mean=EPS_DELAYS, update_every=EPS_EVERY)
    return run(optimistic_greedy(), clicks_world(), fb, EPS_T, 4)
