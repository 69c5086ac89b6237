"""The fault model: NaN scores at their rate, outages in exactly their rounds, a stale
model frozen from its round, a corruption in exactly its round, latencies with their
mean; and arguments out of range refused with their name and value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
from bandits.context_free import ArmStats
from bandits.faults import FaultState, flip_estimates, negate_floats
from common.errors import ConfigError

K, D, T = 3, 2, 24
MASK = jnp.ones(K, bool)


KEYS = jax.random.split(jax.random.key(0), T)
CONTEXTS = jnp.asarray(np.random.default_rng(0).standard_normal((T, D)), jnp.float32)


def scripted_run(policy, params=None):
    """``T`` rounds of serve, then update with arm t mod K and reward (t mod 5)/5 (not the
    decision's arm, so twins with different faults learn the same rows). Returns the
    decisions and the state after each round's observe, and the final state."""
    params = policy.default_params if params is None else params
    rows = (KEYS, CONTEXTS, jnp.arange(T, dtype=jnp.int32) % K,
            jnp.arange(T, dtype=jnp.float32) % 5 / 5)

    def body(state, row):
        key, ctx, arm, reward = row
        dec, state = policy.serve(params, state, key, ctx, MASK)
        return policy.update(params, state, ctx, arm, reward), (dec, state)

    final, outputs = jax.jit(lambda s: jax.lax.scan(body, s, rows))(
        policy.init(params, jax.random.key(1)))
    decisions, observed = jax.tree_util.tree_map(np.asarray, outputs)
    return decisions, observed, final


def at(tree, t):
    return jax.tree_util.tree_map(lambda x: x[t], tree)


def test_nan_scores_at_their_rate_with_the_inner_action():
    inner = bandits.make("eps_greedy", K, D, epsilon=0.5)
    policy = bandits.faulty(inner, nan_rate=0.3)
    params = policy.default_params
    assert params._fields == ("epsilon", "initial_value", "nan_rate") and params.nan_rate == 0.3
    state = policy.init(params, jax.random.key(0))
    state = state._replace(inner=inner.update(inner.default_params, state.inner,
                                              jnp.zeros(D), jnp.int32(1), jnp.float32(1.0)))
    n = 20_000

    def both(key):
        noise = policy.draw(params, key)
        return (policy.decide(params, state, noise, jnp.zeros(D), MASK),
                inner.decide(inner.default_params, state.inner, noise["inner"], jnp.zeros(D),
                             MASK))

    got, want = jax.jit(jax.vmap(both))(jax.random.split(jax.random.key(1), n))
    nan = np.isnan(np.asarray(got.probs))
    assert np.all(nan.all(-1) == nan.any(-1))  # all probabilities NaN, or none
    rate, se = nan[:, 0].mean(), np.sqrt(0.3 * 0.7 / n)
    assert abs(rate - 0.3) < 4 * se, (rate, se)
    np.testing.assert_array_equal(got.action, want.action)
    np.testing.assert_array_equal(np.asarray(got.probs)[~nan[:, 0]],
                                  np.asarray(want.probs)[~nan[:, 0]])
    np.testing.assert_array_equal(got.info.latency, 0.0)
    for rate in (0.0, 1.0):  # a param: a sweep reaches the rate without rebuilding
        dec = policy.act(params._replace(nan_rate=rate), state, jax.random.key(2),
                         jnp.zeros(D), MASK)
        assert bool(np.isnan(np.asarray(dec.probs)).all()) == (rate == 1.0)


def test_outages_stale_model_and_corruption_happen_in_their_rounds():
    inner = bandits.make("lin_ucb", K, D)
    c, stale = 9, 15
    policy = bandits.faulty(inner, outages=((3, 6), (10, 11)), stale_from=stale,
                            corrupt_at=c)
    twin = bandits.faulty(inner, outages=((3, 6), (10, 11)), stale_from=stale)
    dec, states, final = scripted_run(policy)
    twin_dec, twin_states, _ = scripted_run(twin)
    assert isinstance(final, FaultState) and int(final.round) == T
    np.testing.assert_array_equal(states.round, np.arange(1, T + 1))
    down = np.isin(np.arange(T), [3, 4, 5, 10])
    np.testing.assert_array_equal(np.asarray(dec.action) == -1, down)
    np.testing.assert_array_equal(np.asarray(dec.probs)[down], 0.0)
    np.testing.assert_allclose(np.asarray(dec.probs)[~down].sum(-1), 1.0, rtol=1e-6)
    for t in range(c):  # before round c the twins are one
        for got, want in zip(at(states.inner, t), at(twin_states.inner, t)):
            np.testing.assert_array_equal(got, want)
    corrupted = at(states.inner, c)  # decided and kept from the negated state
    for got, want in zip(corrupted, negate_floats(at(twin_states.inner, c))):
        np.testing.assert_array_equal(got, want)
    noise = policy.draw(policy.default_params, KEYS[c])["inner"]
    want = inner.decide(inner.default_params, corrupted, noise, CONTEXTS[c], MASK)
    assert int(dec.action[c]) == int(want.action)
    np.testing.assert_array_equal(dec.probs[c], want.probs)
    assert not np.array_equal(dec.probs[c], twin_dec.probs[c])  # the corruption shows
    frozen = at(states.inner, stale)
    for t in range(stale, T):  # stale: no update after decision `stale` changes the state
        for got, want in zip(at(states.inner, t), frozen):
            np.testing.assert_array_equal(got, want)
    changed = [not np.array_equal(at(states.inner, t).a_inv, at(states.inner, t - 1).a_inv)
               for t in range(1, stale + 1)]
    assert all(changed)


def test_corruptions_of_each_kind():
    """An ε-greedy state with counts and sums, corrupted by a decision in round c = 12 (and
    not by one in round 11): negate flips both, flip only the sums, reset restores init."""
    inner = bandits.make("eps_greedy", K, D, epsilon=0.0)
    trained = ArmStats(jnp.array([4.0, 2.0, 1.0]), jnp.array([3.0, -1.0, 0.5]))
    flipped = ArmStats(trained.counts, -trained.sums)
    expected = {"negate": ArmStats(-trained.counts, -trained.sums), "flip": flipped,
                "reset": ArmStats(jnp.zeros(K), jnp.zeros(K))}
    actions = {}
    for kind, want in expected.items():
        policy = bandits.faulty(inner, corrupt_at=12, corruption=kind)
        params = policy.default_params
        for t, after in ((11, trained), (12, want)):
            state = FaultState(trained, jnp.int32(t))
            dec, state = policy.serve(params, state, jax.random.key(0), jnp.zeros(D), MASK)
            actions[kind, t] = int(dec.action)
            assert int(state.round) == t + 1
            np.testing.assert_array_equal(state.inner.counts, after.counts, err_msg=kind)
            np.testing.assert_array_equal(state.inner.sums, after.sums, err_msg=kind)
    # means 0.75, −0.5, 0.5 flipped: the worst arm, 1, looks best from round 12
    assert (actions["flip", 11], actions["flip", 12]) == (0, 1)
    ridge = bandits.make("lin_ucb", K, D).init(bandits.make("lin_ucb", K, D).default_params,
                                                None)
    ridge = ridge._replace(theta=ridge.theta + 1.0)
    np.testing.assert_array_equal(flip_estimates(ridge).a_inv, ridge.a_inv)
    np.testing.assert_array_equal(flip_estimates(ridge).theta, -ridge.theta)


def test_latency_is_log_normal_with_its_mean():
    mean, sigma, n = 50.0, 0.5, 20_000
    policy = bandits.faulty(bandits.make("uniform", K, D), latency_mean=mean,
                            latency_sigma=sigma)
    params = policy.default_params
    state = policy.init(params, jax.random.key(0))
    dec = jax.jit(jax.vmap(policy.act, in_axes=(None, None, 0, None, None)))(
        params, state, jax.random.split(jax.random.key(5), n), jnp.zeros(D), MASK)
    latency = np.asarray(dec.info.latency, np.float64)
    se = latency.std() / np.sqrt(n)
    assert abs(latency.mean() - mean) < 4 * se, (latency.mean(), se)
    assert abs(np.log(latency).std() - sigma) < 0.02
    assert abs(np.median(latency) - mean * np.exp(-sigma**2 / 2)) < 0.03 * mean


@pytest.mark.parametrize("kwargs, message", [
    (dict(nan_rate=1.5), r"faulty.nan_rate must be a number in \[0.0, 1.0\], got 1.5"),
    (dict(outages=((3, 2),)), r"faulty.outages\[0\] must be a pair .* got \(3, 2\)"),
    (dict(outages=((0, 5), (4, 6))), r"faulty.outages\[1\] = \(4, 6\) overlaps"),
    (dict(outages=5), r"faulty.outages must be a sequence of \(start, stop\) pairs, got 5"),
    (dict(stale_from=-2), r"faulty.stale_from must be an integer .* got -2"),
    (dict(corrupt_at=2.5), r"faulty.corrupt_at must be an integer .* got 2.5"),
    (dict(corruption="zero"), r"faulty.corruption must be one of negate, flip, reset, "
                              r"got 'zero'"),
    (dict(latency_mean=-1.0), r"faulty.latency_mean .* got -1.0"),
    (dict(latency_sigma=float("inf")), r"faulty.latency_sigma .* got inf"),
])
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bandits.faulty(bandits.make("lin_ucb", K, D), **kwargs)


def test_flip_needs_estimates_it_knows():
    with pytest.raises(ConfigError, match=r"faulty.corruption='flip' needs .* "
                                          r"'discounted_ucb' keeps DiscountedStats"):
        bandits.faulty(bandits.make("discounted_ucb", K, D), corrupt_at=3, corruption="flip")


def test_exploration_collapses_and_propensities_are_lost_in_their_rounds():
    inner = bandits.make("eps_greedy", K, D, epsilon=0.9)
    plain, _, _ = scripted_run(bandits.faulty(inner))
    collapsed, _, _ = scripted_run(bandits.faulty(inner, greedy_from=10))
    lost, _, _ = scripted_run(bandits.faulty(inner, propensity_lost_from=15))
    # before the fault round everything is the inner policy's
    np.testing.assert_array_equal(collapsed.action[:10], plain.action[:10])
    np.testing.assert_array_equal(collapsed.probs[:10], plain.probs[:10])
    top = np.argmax(plain.probs, axis=1)
    np.testing.assert_array_equal(collapsed.action[10:], top[10:])
    np.testing.assert_array_equal(collapsed.probs[10:], np.eye(K)[top[10:]])
    assert (plain.action[10:] != top[10:]).any(), "ε = 0.9 explores in some late round"
    np.testing.assert_array_equal(lost.action, plain.action)
    np.testing.assert_array_equal(lost.probs[:15], plain.probs[:15])
    assert (lost.probs[15:] == 0).all()


def test_a_stale_neural_model_stops_training_too():
    """A network that trains every 4 rounds: while fresh, a training changes it; once
    stale (after decision 8), neither updates nor trainings do, so it serves the network
    it had at decision 8."""
    inner = bandits.make("neural_eps_greedy", K, D, hidden=8, buffer=16, train_every=4,
                         n_steps=2, batch=4)
    policy = bandits.faulty(inner, stale_from=8)
    params = policy.default_params
    state = policy.init(params, jax.random.key(0))
    nets = []
    for t in range(T):
        _, state = policy.serve(params, state, KEYS[t], CONTEXTS[t], MASK)
        state = policy.update(params, state, CONTEXTS[t], jnp.int32(t % K), jnp.float32(1.0))
        if (t + 1) % 4 == 0:
            state = policy.train(params, state)
        nets.append(jax.tree_util.tree_leaves(state.inner.net))
    changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(a, b))  # noqa: E731
    assert changed(nets[2], nets[3]) and changed(nets[6], nets[7])  # trained while fresh
    for t in range(8, T):
        assert not changed(nets[7], nets[t]), t  # frozen from decision 8 on
    assert int(state.inner.buffer.count) == 8  # the rewards of decisions 8 on are dropped
