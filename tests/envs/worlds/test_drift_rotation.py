"""The gradual drift's rotate mode: each arm's θ turns at a constant angular speed in a
plane drawn per instance, keeping its length; the walk mode is unchanged."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX starts)
from envs.engine import simulate
from envs.worlds import GradualWorld, make, make_drift
from envs.worlds.drift import rotation_turns

K, D, RATE = 3, 4, 0.3
ROOT = jax.random.key(11)
ROUNDS = (0, 1, 4, 20, 99)


@pytest.fixture(scope="module")
def rolled():
    """A rotating world with a nonzero bias, its instance and the state of each round in
    ``ROUNDS`` (stepped through every round before it)."""
    base = make("logistic-bernoulli", n_arms=K, dim=D, base_logit=-0.5)
    world = make_drift("gradual", base, rate=RATE, mode="rotate")
    params = world.sample_params(ROOT)
    state = world.init_state(params, ROOT)
    step = jax.jit(world.step)
    states = {}
    for t in range(max(ROUNDS) + 1):
        state = step(params, state, jax.random.fold_in(ROOT, t), jnp.int32(t))
        if t in ROUNDS:
            states[t] = state
    return world, params, states


def _angles(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.arccos(np.clip(cos, -1, 1))


def test_rotation_keeps_norms_and_turns_at_the_rate(rolled):
    _, params, states = rolled
    theta0 = np.asarray(params.base.theta)
    u, v = (np.asarray(x) for x in params.extra[0])  # leaves: theta, bias, noise_std
    assert params.extra[1:] == ((), ())
    np.testing.assert_allclose(np.sum(u * v, -1), 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1, rtol=1e-6)
    np.testing.assert_allclose(u, theta0 / np.linalg.norm(theta0, axis=-1, keepdims=True),
                               rtol=1e-6)
    for t, state in states.items():
        theta = np.asarray(state.base_params.theta)
        np.testing.assert_allclose(np.linalg.norm(theta, axis=-1),
                                   np.linalg.norm(theta0, axis=-1), rtol=1e-6)
        phi = math.remainder((t + 1) * RATE, 2 * math.pi)  # angle in [0, π] between them
        np.testing.assert_allclose(_angles(theta, theta0), abs(phi), atol=1e-5, err_msg=t)
        want = (math.cos(phi) * theta0
                + math.sin(phi) * np.linalg.norm(theta0, axis=-1, keepdims=True) * v)
        np.testing.assert_allclose(theta, want, atol=1e-5, err_msg=t)
        np.testing.assert_array_equal(state.base_params.bias, params.base.bias)
        np.testing.assert_array_equal(state.base_params.noise_std, params.base.noise_std)


def test_mean_rewards_follow_the_rotated_coefficients(rolled):
    world, params, states = rolled
    x = np.asarray(jax.random.normal(jax.random.key(2), (D,)), np.float64)
    u, v = (np.asarray(a, np.float64) for a in params.extra[0])
    theta0 = np.asarray(params.base.theta, np.float64)
    for t, state in states.items():
        phi = (t + 1) * RATE
        theta = (math.cos(phi) * theta0
                 + math.sin(phi) * np.linalg.norm(theta0, axis=-1, keepdims=True) * v)
        logit = theta @ x - 0.5
        got = world.mean_rewards(params, state, jnp.asarray(x, jnp.float32))
        np.testing.assert_allclose(got, 1 / (1 + np.exp(-logit)), atol=1e-5, err_msg=t)


def test_rotation_turns_are_exact_modulo_a_turn():
    for rate, t in [(0.3, 0), (0.3, 99), (1e-3, 10**6), (2.5, 123_456_789), (7.0, 5)]:
        want = math.fmod((t + 1) * rate / (2 * math.pi), 1.0)
        got = float(rotation_turns(rate, jnp.int32(t)))
        assert abs(math.remainder(got - want, 1.0)) < 2e-7, (rate, t, got, want)


def test_walk_mode_is_the_default_random_walk():
    """The default and ``mode="walk"`` agree bit for bit, and both are the sum of the
    round keys' N(0, rate²) increments (θ from ``fold_in(k, 2)``, bias ``fold_in(k, 3)``)."""
    rate = 0.05
    base = make("linear-gaussian", n_arms=K, dim=D)
    default = GradualWorld(base, rate=rate)
    walk = make_drift("gradual", base, rate=rate, mode="walk")
    p0, p1 = default.sample_params(ROOT), walk.sample_params(ROOT)
    assert p0.extra == () and p1.extra == ()
    s0, s1 = default.init_state(p0, ROOT), walk.init_state(p1, ROOT)
    theta, bias = np.asarray(p0.base.theta), np.asarray(p0.base.bias)
    for t in range(3):
        key = jax.random.fold_in(ROOT, t)
        s0 = default.step(p0, s0, key, jnp.int32(t))
        s1 = walk.step(p1, s1, key, jnp.int32(t))
        for a, b in zip(jax.tree_util.tree_leaves((p0, s0)), jax.tree_util.tree_leaves((p1, s1))):
            np.testing.assert_array_equal(a, b)
        theta = theta + rate * np.asarray(jax.random.normal(jax.random.fold_in(key, 2), (K, D)))
        bias = bias + rate * np.asarray(jax.random.normal(jax.random.fold_in(key, 3), (K,)))
        np.testing.assert_allclose(s1.base_params.theta, theta, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(s1.base_params.bias, bias, rtol=1e-6, atol=1e-7)


def test_a_bad_mode_is_refused_by_name():
    with pytest.raises(ValueError, match=r"drift\.mode must be one of walk, rotate, "
                                         r"got 'spin'"):
        make_drift("gradual", make("linear-gaussian"), mode="spin")
    with pytest.raises(ValueError, match=r"drift\.mode .*got 'spin'"):
        GradualWorld(make("linear-gaussian"), mode="spin")


def test_a_rotating_world_runs_through_the_engine():
    world = make_drift("gradual", make("linear-gaussian", n_arms=K, dim=D), rate=0.05,
                       mode="rotate")
    run = simulate(bandits.make("eps_greedy", K, D), world, n_rounds=50, n_seeds=4)
    final = run.seed_regret[..., -1]
    assert final.shape == (1, 4) and np.all(np.isfinite(final)) and np.all(final >= 0)
