"""The exploration floor: every eligible arm keeps at least ``floor``; the reported
probabilities are the whole system's (the inner policy mixed with uniform exploration),
actions are drawn from them, and off-policy estimates on the logs of a floored greedy
policy are unbiased where the greedy policy's own logs support nothing else."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
from bandits.combinators import exploration_floor
from envs.engine import simulate
from envs.worlds import registry

K, D = 4, 3


def _floored(floor=0.05):
    return exploration_floor(bandits.make("lin_ucb", K, D), floor=floor)


def test_probs_are_the_inner_ones_mixed_with_the_floor():
    policy, inner = _floored(), bandits.make("lin_ucb", K, D)
    params = policy.default_params
    assert params.floor == 0.05 and params.alpha == inner.default_params.alpha
    state = policy.init(params, jax.random.key(0))
    rng = np.random.default_rng(1)
    for i in range(20):
        ctx = jnp.asarray(rng.standard_normal(D), jnp.float32)
        mask = jnp.asarray(rng.random(K) < 0.7).at[i % K].set(True)
        noise = policy.draw(params, jax.random.key(i))
        got = policy.decide(params, state, noise, ctx, mask)
        want = inner.decide(inner.default_params, state, noise["inner"], ctx, mask)
        m = int(mask.sum())
        expected = (1 - 0.05 * m) * np.asarray(want.probs) + 0.05 * np.asarray(mask)
        np.testing.assert_allclose(got.probs, expected, rtol=1e-6, atol=1e-7)
        assert np.all(np.asarray(got.probs)[np.asarray(mask)] >= 0.05 - 1e-7)
        assert bool(mask[got.action])


def test_actions_are_drawn_from_the_reported_probs():
    policy = _floored(0.1)
    params = policy.default_params
    state = policy.init(params, jax.random.key(0))
    ctx = jnp.ones(D, jnp.float32)
    for arm, reward in [(0, 1.0), (1, -1.0), (3, -1.0)]:  # arm 0 becomes the best
        state = policy.update(params, state, ctx, jnp.int32(arm), jnp.float32(reward))
    mask = jnp.array([True, True, False, True])
    n = 20_000
    dec = jax.jit(jax.vmap(policy.act, in_axes=(None, None, 0, None, None)))(
        params, state, jax.random.split(jax.random.key(3), n), ctx, mask)
    probs = np.asarray(dec.probs[0], np.float64)
    np.testing.assert_allclose(np.asarray(dec.probs), np.broadcast_to(probs, (n, K)))
    freq = np.bincount(np.asarray(dec.action), minlength=K) / n
    se = np.sqrt(probs * (1 - probs) / n)
    np.testing.assert_allclose(probs, [1 - 3 * 0.1 + 0.1, 0.1, 0.0, 0.1], rtol=1e-6)
    assert freq[2] == 0
    assert np.all(np.abs(freq - probs) <= 4 * se + 1e-12), (freq, probs)


def test_bad_floors_are_refused():
    with pytest.raises(ValueError, match=r"floor must be in \[0, 1/n_arms\] = \[0, 0.25\], "
                                         r"got 0.3"):
        _floored(0.3)


@pytest.mark.slow
def test_ips_on_a_floored_greedy_policy_s_logs_is_unbiased():
    """Greedy LinUCB (α = 0) with a floor of 0.05 logs a learning policy's rounds; IPS of
    the uniform policy on every round of every seed equals the rounds' true uniform value
    within 3 Monte Carlo standard errors (over seeds), and is far from the logging
    policy's own mean reward."""
    policy = _floored(0.05)
    params = policy.default_params._replace(alpha=0.0)
    world = registry.make("linear-gaussian", n_arms=K, dim=D)
    run = simulate(policy, world, n_rounds=200, n_seeds=128, record="logs", seed=4,
                   policy_params=params)
    t = run.trajectories
    mask = t["mask"][0].astype(bool)
    m = mask.sum(-1)
    ips = t["reward"][0] * (1.0 / m) / t["propensity"][0]  # (S, T)
    truth = np.where(mask, t["expected_reward"][0], 0.0).sum(-1) / m
    per_seed = (ips - truth).mean(-1)
    se = per_seed.std(ddof=1) / np.sqrt(len(per_seed))
    assert abs(per_seed.mean()) < 3 * se, (per_seed.mean(), se)
    assert t["propensity"][0].min() >= 0.05 - 1e-6
    gap = t["reward"][0].mean() - truth.mean()
    assert gap > 10 * se, (gap, se)  # the logging policy is far better than uniform
