"""Ground-truth policy values and fixed-policy logs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.truth import policy_value, simulate_logs


@pytest.fixture(scope="module")
def world():
    w = envs.make("linear-gaussian", n_arms=4, dim=3, intercept=False)
    return w, w.sample_params(jax.random.key(0))


def uniform(x, m):
    return m / jnp.sum(m)


def test_uniform_value_is_zero_in_a_centred_linear_world(world):
    """With x ~ N(0, I) and no intercept every arm's mean reward averages to 0."""
    w, p = world
    v = policy_value(w, p, uniform, jax.random.key(1), n_contexts=200_000, batch=50_000)
    assert abs(float(v.value)) < 4 * float(v.std_error)
    assert 0 < float(v.std_error) < 0.01


def test_greedy_value_matches_numpy_monte_carlo(world):
    """The oracle's value E[max_a θ_a·x] against an independent NumPy estimate."""
    w, p = world
    theta = np.asarray(p.theta, np.float64)

    def oracle(x, m):
        mu = jnp.sum(p.theta * x, -1)
        return (mu == jnp.max(mu)).astype(jnp.float32)

    v = policy_value(w, p, oracle, jax.random.key(2), n_contexts=200_000, batch=50_000)
    x = np.random.default_rng(0).standard_normal((400_000, 3))
    ref = (x @ theta.T).max(1)
    se = np.sqrt(float(v.std_error) ** 2 + ref.var() / len(ref))
    assert abs(float(v.value) - ref.mean()) < 4 * se


def test_logs_follow_the_logging_policy(world):
    w, p = world

    def softmax(x, m):
        z = jnp.where(m, jnp.sum(p.theta * x, -1), -jnp.inf)
        return jax.nn.softmax(z)

    logs = simulate_logs(w, p, softmax, jax.random.key(3), n_rows=5000, n_datasets=3)
    assert logs.context.shape == (3, 5000, 3) and logs.action_dist.shape == (3, 5000, 4)
    np.testing.assert_allclose(
        logs.pscore, np.take_along_axis(logs.action_dist, logs.action[..., None], -1)[..., 0])
    # IPS with the logged propensities recovers the logging policy's own value
    ips = np.asarray(logs.reward).mean()
    v = policy_value(w, p, softmax, jax.random.key(4), n_contexts=200_000, batch=50_000)
    se = np.asarray(logs.reward).std() / np.sqrt(15_000)
    assert abs(ips - float(v.value)) < 4 * se
    # a dataset does not depend on how many are drawn
    one = simulate_logs(w, p, softmax, jax.random.key(3), n_rows=5000, n_datasets=1)
    np.testing.assert_array_equal(np.asarray(one.action[0]), np.asarray(logs.action[0]))
