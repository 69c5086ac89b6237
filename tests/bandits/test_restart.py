"""The restart combinator: a Page–Hinkley test on the wrapped policy's rewards resets its
state exactly when the statistic (recomputed in NumPy) crosses the threshold; between
resets the wrapped policy decides as the inner one does."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (sets XLA flags; imported before any JAX computation runs)
from bandits.combinators import RestartState, page_hinkley_init

K, D = 3, 2
THRESHOLD, TOLERANCE = 3.0, 0.05


def page_hinkley_numpy(rewards, threshold, tolerance):
    """The two-sided statistic after every reward (float64), restarted after each alarm.

    Returns:
        ``(statistics (n,), alarm rounds)``.
    """
    stats, alarms = [], []
    n = mean = up = up_min = down = down_max = 0.0
    for t, x in enumerate(rewards):
        n += 1
        mean += (x - mean) / n
        up += x - mean - tolerance
        down += x - mean + tolerance
        up_min, down_max = min(up_min, up), max(down_max, down)
        stats.append(max(up - up_min, down_max - down))
        if stats[-1] > threshold:
            alarms.append(t)
            n = mean = up = up_min = down = down_max = 0.0
    return np.array(stats), alarms


def reward_sequence():
    """Means 1, 0, 1 over three blocks of 40 rounds, noise 0.1."""
    rng = np.random.default_rng(0)
    means = np.repeat([1.0, 0.0, 1.0], 40)
    return (means + 0.1 * rng.standard_normal(means.size)).astype(np.float32)


def run(policy, rewards):
    """Updates on ``rewards`` (arm t mod K); the state after every round."""
    params = policy.default_params
    n = len(rewards)
    rows = (jnp.zeros((n, policy.dim)), jnp.arange(n, dtype=jnp.int32) % policy.n_arms,
            jnp.asarray(rewards))

    def body(s, row):
        s = policy.update(params, s, *row)
        return s, s

    return jax.jit(lambda s: jax.lax.scan(body, s, rows)[1])(policy.init(params, None))


def test_restarts_exactly_when_page_hinkley_crosses_its_threshold():
    rewards = reward_sequence()
    stats, alarms = page_hinkley_numpy(rewards.astype(np.float64), THRESHOLD, TOLERANCE)
    # the sequence keeps away from the threshold, so float32 cannot flip a comparison
    assert np.min(np.abs(stats - THRESHOLD)) > 0.05
    assert len(alarms) >= 2 and 40 <= alarms[0] < 50 and 80 <= alarms[1] < 90, alarms
    policy = bandits.restart(bandits.make("ucb1", K, D, c=0.5), threshold=THRESHOLD,
                             tolerance=TOLERANCE)
    states = run(policy, rewards)
    reset = np.asarray(states.detector.count) == 0
    assert list(np.flatnonzero(reset)) == alarms
    fresh = policy.init(policy.default_params, None).inner
    for t in alarms:  # the inner state is its init state, bit for bit
        for got, want in zip(states.inner[:2], fresh[:2]):
            np.testing.assert_array_equal(np.asarray(got)[t], np.asarray(want))
    counts = np.asarray(states.inner.counts).sum(-1)
    start = 0
    for t in range(len(rewards)):  # between alarms the inner policy counts every round
        assert counts[t] == (0 if t in alarms else t - start + 1)
        start = t + 1 if t in alarms else start


def test_without_an_alarm_the_wrapper_is_the_inner_policy():
    rewards = np.full(30, 0.5, np.float32)  # a constant stream never raises an alarm
    inner = bandits.make("lin_ucb", K, D, alpha=0.6)
    wrapped = bandits.make("restart_lin_ucb", K, D, alpha=0.6)
    sw, si = run(wrapped, rewards), run(inner, rewards)
    assert int(sw.detector.count[-1]) == 30
    for got, want in zip(sw.inner, si):
        np.testing.assert_array_equal(got, want)
    last = jax.tree_util.tree_map(lambda a: a[-1], sw)
    x, mask = jnp.asarray([0.4, -1.0]), jnp.asarray([True, False, True])
    for key in range(3):
        dw = wrapped.act(wrapped.default_params, last, jax.random.key(key), x, mask)
        di = inner.act(inner.default_params, last.inner, jax.random.key(key), x, mask)
        assert int(dw.action) == int(di.action)
        np.testing.assert_array_equal(dw.probs, di.probs)


def test_wrapper_params_state_and_name():
    inner = bandits.make("eps_greedy", K, 1, epsilon=0.2)
    policy = bandits.restart(inner, threshold=4.0, tolerance=0.0)
    assert policy.name == "restart_eps_greedy"
    assert policy.default_params._fields == ("epsilon", "initial_value", "threshold",
                                             "tolerance")
    assert tuple(policy.default_params) == (0.2, 0.0, 4.0, 0.0)
    state = policy.init(policy.default_params, None)
    assert isinstance(state, RestartState) and state.detector == page_hinkley_init()
    with pytest.raises(ValueError, match="already has hyperparameter"):
        bandits.restart(policy)
    made = bandits.make("restart_lin_ucb", K, D, threshold=2.0, tolerance=0.1)
    assert (made.default_params.threshold, made.default_params.tolerance) == (2.0, 0.1)
