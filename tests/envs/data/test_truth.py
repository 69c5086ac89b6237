"""Ground-truth policy values and fixed-policy logs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.data.generate import simulate_logs
from envs.data.truth import policy_value


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


def _softmax_logging(p):
    def softmax(x, m):
        return jax.nn.softmax(jnp.where(m, jnp.sum(p.theta * x, -1), -jnp.inf))
    return softmax


def _eps_oracle(p, epsilon=0.1):
    """The best arm with probability 1 − ε, a uniform eligible arm otherwise."""
    def target(x, m):
        mu = jnp.where(m, jnp.sum(p.theta * x, -1), -jnp.inf)
        best = (mu == jnp.max(mu)).astype(jnp.float32)
        return (1 - epsilon) * best / jnp.sum(best) + epsilon * m / jnp.sum(m)
    return target


def test_logs_follow_the_logging_policy(world):
    w, p = world
    softmax = _softmax_logging(p)
    logs = simulate_logs(w, p, softmax, jax.random.key(3), n_rows=5000, n_datasets=3)
    assert logs.context.shape == (3, 5000, 3) and logs.action_dist.shape == (3, 5000, 4)
    np.testing.assert_allclose(
        logs.pscore, np.take_along_axis(logs.action_dist, logs.action[..., None], -1)[..., 0])
    want = np.asarray(jax.vmap(jax.vmap(softmax))(logs.context, logs.mask))
    np.testing.assert_allclose(logs.action_dist, want, rtol=1e-6, atol=1e-7)
    # a dataset does not depend on how many are drawn
    one = simulate_logs(w, p, softmax, jax.random.key(3), n_rows=5000, n_datasets=1)
    np.testing.assert_array_equal(np.asarray(one.action[0]), np.asarray(logs.action[0]))


def test_ips_with_logged_propensities_recovers_a_target_value(world):
    """IPS of an ε-greedy oracle target (ε = 0.1) from 15,000 rows logged by a softmax
    policy, weighting by the logged propensities: mean of π(a|x)/pscore · r over rows,
    within 4 standard errors (IPS terms' s.e. ≈ 0.016, V(π)'s MC s.e. ≈ 0.002) of
    ``policy_value`` (≈ 0.99; measured z = −0.9). The logging policy's own value (≈ 0.69)
    is ≥ 15 of those s.e. away (measured 19), so an estimate that ignored the weights
    would fail."""
    w, p = world
    softmax, target = _softmax_logging(p), _eps_oracle(p)
    logs = simulate_logs(w, p, softmax, jax.random.key(3), n_rows=5000, n_datasets=3)
    pi = np.asarray(jax.vmap(jax.vmap(target))(logs.context, logs.mask))
    action = np.asarray(logs.action)[..., None]
    weight = np.take_along_axis(pi, action, -1)[..., 0] / np.asarray(logs.pscore)
    terms = (weight * np.asarray(logs.reward)).ravel().astype(np.float64)
    ips, ips_se = terms.mean(), terms.std(ddof=1) / np.sqrt(terms.size)
    v = policy_value(w, p, target, jax.random.key(4), n_contexts=200_000, batch=50_000)
    se = np.sqrt(ips_se**2 + float(v.std_error) ** 2)
    assert abs(ips - float(v.value)) < 4 * se, (ips, float(v.value), se)
    v_log = policy_value(w, p, softmax, jax.random.key(4), n_contexts=200_000, batch=50_000)
    assert float(v.value) - float(v_log.value) > 15 * se, (float(v.value), float(v_log.value))
    # the unweighted mean estimates the logging policy's value instead
    reward = np.asarray(logs.reward, np.float64)
    mean_se = np.sqrt(reward.var(ddof=1) / reward.size + float(v_log.std_error) ** 2)
    assert abs(reward.mean() - float(v_log.value)) < 4 * mean_se
    assert abs(reward.mean() - float(v.value)) > 4 * se
