"""After an abrupt change, D-UCB and SW-UCB forget the old best arm; UCB1 does not.

The world has two Bernoulli arms with means (0.8, 0.2) that swap at round ``CHANGE``;
the engine steps its state (the round index) every round. A policy *recovers* on a seed
when its mean per-round regret over rounds [CHANGE + 50, CHANGE + 150) is within 0.06
(a tenth of the gap) of its own mean over the 300 rounds before the change.

Thresholds and Monte Carlo reasoning: the per-seed windows are independent across the
``S`` = 32 seeds. D-UCB (γ = 0.98, memory ≈ 50 rounds) and SW-UCB (τ = 100) recovered
on 32 of 32 seeds when the thresholds were set; requiring 28 of 32 fails only if a
seed's chance of recovering were below about 0.8, far from what is observed. UCB1 has
averaged 8000 rounds of the old means: the old best arm's sample mean drops by only
≈ 0.6·m/8000 after m pulls, so it keeps that arm for a few hundred rounds (mean regret
≈ 0.37 over the window, 6 of 32 seeds recovered); requiring at most 16 of 32 leaves a
margin of about 3.5 binomial standard errors.
"""

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (sets XLA flags; imported before any JAX computation runs)
from envs.engine import simulate
from envs.worlds.base import World

CHANGE = 8000
S = 32
BEFORE, AFTER = (CHANGE - 300, CHANGE), (CHANGE + 50, CHANGE + 150)
TOLERANCE = 0.06


@dataclass(frozen=True)
class SwapWorld(World):
    """Two Bernoulli arms, means (0.8, 0.2) until round ``CHANGE``, (0.2, 0.8) after."""

    name: ClassVar[str] = "swap-toy"
    binary_rewards: ClassVar[bool] = True
    stationary: ClassVar[bool] = False
    OPTIONS: ClassVar[dict] = {}
    n_arms: int = 2
    dim: int = 1
    p_eligible: float = 1.0

    def sample_params(self, key):
        del key
        return ()

    def init_state(self, params, key):
        del params, key
        return jnp.int32(0)

    def step(self, params, state, key, t):
        del params, state, key
        return jnp.asarray(t, jnp.int32)  # the round index

    def mean_rewards(self, params, state, context):
        del params, context
        before = jnp.array([0.8, 0.2], jnp.float32)
        return jnp.where(state < CHANGE, before, before[::-1])


def recovered_seeds(name, **hyper) -> int:
    """How many of the S seeds recover (module docstring)."""
    policy = bandits.make(name, 2, 1, **hyper)
    run = simulate(policy, SwapWorld(), n_rounds=AFTER[1], n_seeds=S,
                   record="trajectories")
    regret = np.asarray(run.trajectories["regret"])[0]  # (S, T)
    before = regret[:, BEFORE[0]:BEFORE[1]].mean(1)
    after = regret[:, AFTER[0]:AFTER[1]].mean(1)
    return int(np.sum(after <= before + TOLERANCE))


@pytest.mark.slow
def test_forgetting_policies_recover_from_a_swap_and_ucb1_does_not():
    assert recovered_seeds("discounted_ucb", gamma=0.98) >= 28
    assert recovered_seeds("sliding_window_ucb", window=100) >= 28
    assert recovered_seeds("ucb1") <= 16
