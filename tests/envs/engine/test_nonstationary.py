"""Worlds that change over time: the engine carries every lane's world state through the
rounds and steps it once a round, before the round's context is drawn, with keys from
the step stream ``fold_in(seed_key, 4)``."""

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX starts)
from envs.engine import EngineOptions, simulate

N_ARMS, DIM, T, S = 3, 2, 40, 5


class DriftParams(NamedTuple):
    theta: jax.Array  # (K, d)
    noise_std: jax.Array  # ()


class DriftState(NamedTuple):
    count: jax.Array  # () int32 steps taken
    last_round: jax.Array  # () int32 the round of the last step
    level: jax.Array  # () float32 a random walk that shifts contexts and mean rewards


@dataclass(frozen=True)
class DriftingWorld:
    """A toy world whose state is a round counter and a random walk: contexts and mean
    rewards move with it, so the best arm changes over time."""

    name: ClassVar[str] = "drifting-toy"
    stationary: ClassVar[bool] = False
    n_arms: int = N_ARMS
    dim: int = DIM

    def sample_params(self, key):
        theta = jax.random.normal(key, (self.n_arms, self.dim))
        return DriftParams(theta, jnp.float32(0.5))

    def init_state(self, params, key):
        del params
        return DriftState(jnp.int32(0), jnp.int32(-1), 0.1 * jax.random.normal(key, ()))

    def step(self, params, state, key, t):
        del params
        return DriftState(state.count + 1, jnp.asarray(t, jnp.int32),
                          state.level + 0.3 * jax.random.normal(key, ()))

    def sample_context(self, key, params, state):
        del params
        context = jax.random.normal(key, (self.dim,)) + state.level
        return context, jnp.ones((self.n_arms,), bool)

    def mean_rewards(self, params, state, context):
        slopes = jnp.linspace(-1.0, 1.0, self.n_arms)
        shift = state.level + 0.01 * state.count + 0.001 * state.last_round
        return params.theta @ context + shift * slopes

    def draw_reward_noise(self, key, params, state):
        del params, state
        return jax.random.normal(key, ())

    def realise(self, params, mean, noise):
        return mean + params.noise_std * noise


@dataclass(frozen=True)
class IdleWorld(DriftingWorld):
    """Not stationary, but its step leaves the state as it is."""

    def step(self, params, state, key, t):
        del params, key, t
        return state


@dataclass(frozen=True)
class StillWorld(DriftingWorld):
    """The same world declared stationary: never stepped."""

    stationary: ClassVar[bool] = True


def _policy():
    return bandits.make("lin_eps_greedy", N_ARMS, DIM, epsilon=0.2)


def reference(policy, world, n_rounds: int, n_seeds: int, seed: int = 0) -> dict:
    """The engine's rounds, written out: ``jax.vmap`` over seeds, a Python loop over
    rounds. Returns (S, T, ...) arrays."""
    root = jax.random.key(seed)
    pp = jax.tree_util.tree_map(jnp.float32, policy.default_params)

    def init(s):
        k = jax.random.fold_in(root, s)
        ep = world.sample_params(jax.random.fold_in(k, 0))
        return (ep, world.init_state(ep, jax.random.fold_in(k, 2)),
                policy.init(pp, jax.random.fold_in(k, 1)),
                jax.random.split(jax.random.fold_in(k, 3), 3), jax.random.fold_in(k, 4))

    def one_round(ep, es, ps, streams, step_stream, t):
        es = world.step(ep, es, jax.random.fold_in(step_stream, t), t)
        context, mask = world.sample_context(jax.random.fold_in(streams[0], t), ep, es)
        noise_r = world.draw_reward_noise(jax.random.fold_in(streams[1], t), ep, es)
        dec = policy.decide(pp, ps, policy.draw(pp, jax.random.fold_in(streams[2], t)),
                            context, mask)
        mu = world.mean_rewards(ep, es, context)
        reward = world.realise(ep, mu[dec.action], noise_r)
        ps = policy.update(pp, ps, context, dec.action, reward)
        regret = jnp.max(jnp.where(mask, mu, -jnp.inf)) - mu[dec.action]
        return es, ps, {"action": dec.action, "reward": reward, "regret": regret,
                        "context": context, "expected_reward": mu}

    ep, es, ps, streams, step_stream = jax.vmap(init)(jnp.arange(n_seeds))
    step = jax.jit(jax.vmap(one_round, in_axes=(0, 0, 0, 0, 0, None)))
    rows = []
    for t in range(n_rounds):
        es, ps, row = step(ep, es, ps, streams, step_stream, jnp.int32(t))
        rows.append(row)
    return {k: np.stack([np.asarray(r[k]) for r in rows], 1) for k in rows[0]}


@pytest.fixture(scope="module")
def drifting_run():
    return simulate(_policy(), DriftingWorld(), n_rounds=T, n_seeds=S, record="logs")


def test_world_state_is_stepped_every_round(drifting_run):
    want = reference(_policy(), DriftingWorld(), T, S)
    got = {k: v[0] for k, v in drifting_run.trajectories.items()}
    np.testing.assert_array_equal(got["action"], want["action"])
    for name in ("reward", "regret", "context", "expected_reward"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)
    # the walk moves: the best arm is not the same in every round
    assert len(np.unique(want["expected_reward"].argmax(-1))) > 1


def test_plan_layout_and_batching_do_not_change_a_moving_world(drifting_run):
    ref = drifting_run.trajectories
    small = simulate(_policy(), DriftingWorld(), n_rounds=T, n_seeds=S, record="logs",
                     options=EngineOptions(block_rounds=3, chunk_rounds=12, group_lanes=1))
    assert (small.plan.block, small.plan.chunk) != (drifting_run.plan.block,
                                                    drifting_run.plan.chunk)
    assert small.plan.n_chunks > 1
    for name, values in ref.items():
        np.testing.assert_array_equal(small.trajectories[name], values, err_msg=name)
    later = simulate(_policy(), DriftingWorld(), n_rounds=T, n_seeds=3, record="logs",
                     first_seed=2, options=EngineOptions(layout="vmap", chunk_rounds=8))
    np.testing.assert_array_equal(later.trajectories["action"], ref["action"][:, 2:])
    for name in ("reward", "context", "expected_reward"):
        np.testing.assert_allclose(later.trajectories[name], ref[name][:, 2:], rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def test_an_idle_step_leaves_the_stationary_numbers():
    """The step stream is a new stream: a world that steps without changing its state
    meets the numbers of the same world declared stationary."""
    idle = simulate(_policy(), IdleWorld(), n_rounds=T, n_seeds=S, record="logs")
    still = simulate(_policy(), StillWorld(), n_rounds=T, n_seeds=S, record="logs")
    np.testing.assert_array_equal(idle.trajectories["action"], still.trajectories["action"])
    for name in ("reward", "regret", "context", "expected_reward"):
        np.testing.assert_allclose(idle.trajectories[name], still.trajectories[name],
                                   rtol=1e-6, atol=1e-6, err_msg=name)
