"""Drifting worlds in the engine: dynamic regret against each round's best arm, plans
that do not change the numbers, and a drift that never moves playing the base world."""

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX starts)
from bandits.base import Decision, Policy
from envs.engine import EngineOptions, simulate
from envs.worlds import World, make, make_drift
from envs.worlds.base import NOISE_STD

T, S = 16, 4


class TwoArmParams(NamedTuple):
    means: jax.Array  # (2,) uniform on [0, 1)
    noise_std: jax.Array  # ()


@dataclass(frozen=True)
class TwoArmWorld(World):
    """Two context-free arms with means drawn uniformly on [0, 1)."""

    n_arms: int = 2
    dim: int = 1
    p_eligible: float = 1.0
    noise_std: float = 0.1
    name: ClassVar[str] = "two-arms"
    OPTIONS: ClassVar[dict] = {"noise_std": NOISE_STD}

    def sample_params(self, key):
        return TwoArmParams(jax.random.uniform(key, (2,)), jnp.float32(self.noise_std))

    def mean_rewards(self, params, state, context):
        return params.means


def _first_arm_decide(params, state, noise, context, mask):
    return Decision(jnp.int32(0), jnp.array([1.0, 0.0]))


def _nothing(params, key):
    return ()


def _unchanged(params, state, *args):
    return state


def first_arm_policy() -> Policy:
    """Always plays arm 0."""
    return Policy(name="first-arm", n_arms=2, dim=1, default_params=(),
                  init=_nothing, draw=_nothing, decide=_first_arm_decide,
                  update=_unchanged)


def test_dynamic_regret_on_a_two_arm_abrupt_world():
    """Seed ``s`` draws its instance from ``fold_in(k, 0)`` and steps round ``t`` with
    ``fold_in(fold_in(k, 4), t)``, ``k = fold_in(key(seed), s)``; the change at round 9
    draws the new means from ``fold_in(step key, 3)``. Arm 0's regret is the best mean
    minus arm 0's, before and after."""
    base, change = TwoArmWorld(), 9
    world = make_drift("abrupt", base, change_rounds=[change])
    run = simulate(first_arm_policy(), world, n_rounds=20, n_seeds=S, seed=3,
                   record="trajectories")
    for s in range(S):
        k = jax.random.fold_in(jax.random.key(3), s)
        before = np.asarray(base.sample_params(jax.random.fold_in(k, 0)).means)
        step_key = jax.random.fold_in(jax.random.fold_in(k, 4), change)
        after = np.asarray(base.sample_params(jax.random.fold_in(step_key, 3)).means)
        want = np.where(np.arange(20) < change, before.max() - before[0],
                        after.max() - after[0]).astype(np.float32)
        np.testing.assert_array_equal(run.trajectories["regret"][0, s], want)
        np.testing.assert_array_equal(run.trajectories["action"][0, s], 0)


def _stack(base, moving: bool):
    """Every drift on top of each other: abrupt, gradual, seasonal, covariate shift."""
    if not moving:
        abrupt = make_drift("abrupt", base)
        gradual = make_drift("gradual", abrupt)
        seasonal = make_drift("seasonal", gradual)
        return make_drift("covariate-shift", seasonal)
    abrupt = make_drift("abrupt", base, change_rounds=[7], rate=0.05, fraction=0.5)
    gradual = make_drift("gradual", abrupt, rate=0.05)
    seasonal = make_drift("seasonal", gradual, period=9.0, amplitude=0.5)
    return make_drift("covariate-shift", seasonal, rate=0.02, jump_rounds=[10], jump_size=1.0)


def _policy():
    return bandits.make("eps_greedy", 3, 3)


@pytest.fixture(scope="module")
def base_world():
    return make("linear-gaussian", n_arms=3, dim=3)


def _check_plans_agree(world) -> dict:
    """Block and chunk sizes change nothing, bit for bit; returns the reference run's
    trajectories."""
    ref = simulate(_policy(), world, n_rounds=T, n_seeds=S, record="logs")
    small = simulate(_policy(), world, n_rounds=T, n_seeds=S, record="logs",
                     options=EngineOptions(block_rounds=3, chunk_rounds=6))
    assert small.plan.n_chunks > 1
    assert (small.plan.block, small.plan.chunk) != (ref.plan.block, ref.plan.chunk)
    for name, values in ref.trajectories.items():
        np.testing.assert_array_equal(small.trajectories[name], values, err_msg=name)
    best = ref.trajectories["expected_reward"].argmax(-1)
    assert len(np.unique(best)) > 1
    return ref.trajectories


def test_block_and_chunk_sizes_do_not_change_a_drifting_world(base_world):
    abrupt = make_drift("abrupt", base_world, change_rounds=[7], rate=0.05, fraction=0.5)
    _check_plans_agree(make_drift("seasonal", abrupt, period=9.0, amplitude=0.5))


def test_drifts_that_never_move_play_the_base_world(base_world):
    """Same keys, same draws, same arithmetic: every drift with nothing to change (no
    change rounds, rates and amplitude 0), stacked, plays the base world bit for bit."""
    still = simulate(_policy(), base_world, n_rounds=T, n_seeds=S, record="logs")
    idle = simulate(_policy(), _stack(base_world, moving=False), n_rounds=T, n_seeds=S,
                    record="logs")
    for name, values in still.trajectories.items():
        np.testing.assert_array_equal(idle.trajectories[name], values, err_msg=name)
