"""Policies built for drift: their statistics equal closed forms recomputed in NumPy,
their probabilities are exact, D-LinUCB with γ = 1 is LinUCB, bad hyperparameters are
named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (sets XLA flags; imported before any JAX computation runs)
from bandits.base import greedy
from bandits.drift import decayed_epsilon, discounted_posterior, window_stats
from bandits.drift_linear import discounted_ridge_scores
from bandits.linear import ridge_project
from bandits.train import train

K, D = 4, 3
ACTIONS = np.array([0, 1, 0, 2, 0, 3, 1, 1, 0, 2])
REWARDS = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
GAMMA = 0.8


def run_updates(policy, params, actions, rewards, contexts=None):
    """The state after ``update`` on every row in order (one ``lax.scan``)."""
    n = len(actions)
    xs = np.zeros((n, policy.dim), np.float32) if contexts is None else contexts

    def body(s, row):
        return policy.update(params, s, *row), None

    s0 = policy.init(params, jax.random.key(0))
    rows = (jnp.asarray(xs, jnp.float32), jnp.asarray(actions, jnp.int32),
            jnp.asarray(rewards, jnp.float32))
    return jax.jit(lambda s: jax.lax.scan(body, s, rows)[0])(s0)


def discounted_sums(actions, values, gamma, n_arms=K):
    """Σ_s γ^(T−1−s) values_s 1{a_s = a} per arm, in float64."""
    weights = gamma ** np.arange(len(actions) - 1, -1, -1, dtype=np.float64)
    return np.bincount(actions, weights=weights * values, minlength=n_arms)


def decide(policy, params, state, mask=None, u=0.3, context=None):
    mask = np.ones(policy.n_arms, bool) if mask is None else mask
    x = np.zeros(policy.dim, np.float32) if context is None else context
    return jax.jit(policy.decide)(params, state, {"tiebreak": jnp.float32(u),
                                                 "u": jnp.float32(u)},
                                  jnp.asarray(x), jnp.asarray(mask))


def test_discounted_ucb_counts_sums_and_index_match_the_formula():
    p = bandits.make("discounted_ucb", K, 1, gamma=GAMMA, xi=0.7, bound=0.5)
    state = run_updates(p, p.default_params, ACTIONS, REWARDS)
    counts = discounted_sums(ACTIONS, np.ones(len(ACTIONS)), GAMMA)
    sums = discounted_sums(ACTIONS, REWARDS, GAMMA)
    np.testing.assert_allclose(state.counts, counts, rtol=1e-6)
    np.testing.assert_allclose(state.sums, sums, rtol=1e-6, atol=1e-7)
    index = sums / counts + 2 * 0.5 * np.sqrt(0.7 * np.log(counts.sum()) / counts)
    mask = np.array([True, True, False, True])
    want = np.where(mask, index, -np.inf).argmax()
    dec = decide(p, p.default_params, state, mask)
    assert int(dec.action) == want
    np.testing.assert_array_equal(dec.probs, np.eye(K)[want])
    # an arm never pulled is tried first
    fresh = run_updates(p, p.default_params, ACTIONS[:3], REWARDS[:3])
    assert int(decide(p, p.default_params, fresh).action) in (2, 3)


@pytest.mark.parametrize("n_rounds", [5, 30])
def test_sliding_window_statistics_are_those_of_the_last_tau_rounds(n_rounds):
    tau = 8
    p = bandits.make("sliding_window_ucb", K, 1, window=tau, xi=0.6, bound=1.0)
    rng = np.random.default_rng(0)
    actions, rewards = rng.integers(0, K, n_rounds), rng.random(n_rounds)
    state = run_updates(p, p.default_params, actions, rewards)
    assert state.actions.shape == state.rewards.shape == (tau,)  # 2τ numbers
    last_a, last_r = actions[-tau:], rewards[-tau:]
    counts = np.bincount(last_a, minlength=K).astype(np.float64)
    sums = np.bincount(last_a, weights=last_r, minlength=K)
    got_counts, got_sums = window_stats(state, K)
    np.testing.assert_array_equal(got_counts, counts)
    np.testing.assert_allclose(got_sums, sums, rtol=1e-6, atol=1e-7)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = sums / counts + np.sqrt(0.6 * np.log(min(n_rounds, tau)) / counts)
    index[counts == 0] = np.inf
    dec = decide(p, p.default_params, state, u=0.0)
    assert int(dec.action) == int(np.argmax(index))
    assert dec.probs[int(np.argmax(index))] > 0


def test_discounted_ts_posterior_is_the_discounted_beta():
    p = bandits.make("discounted_ts", K, 1, gamma=GAMMA, a0=1.5, b0=0.5)
    state = run_updates(p, p.default_params, ACTIONS, REWARDS)
    a, b = discounted_posterior(p.default_params, state)
    np.testing.assert_allclose(a, 1.5 + discounted_sums(ACTIONS, REWARDS, GAMMA), rtol=1e-6)
    np.testing.assert_allclose(b, 0.5 + discounted_sums(ACTIONS, 1 - REWARDS, GAMMA),
                               rtol=1e-6)
    # γ = 1 is ts_beta: same posterior, same draws, same decisions
    p1 = bandits.make("discounted_ts", K, 1, gamma=1.0, a0=1.5, b0=0.5, n_prob_draws=32)
    ref = bandits.make("ts_beta", K, 1, a0=1.5, b0=0.5, n_prob_draws=32)
    s1 = run_updates(p1, p1.default_params, ACTIONS, REWARDS)
    sr = run_updates(ref, ref.default_params, ACTIONS, REWARDS)
    for key in range(5):
        got = p1.act(p1.default_params, s1, jax.random.key(key), jnp.zeros(1), jnp.ones(K, bool))
        want = ref.act(ref.default_params, sr, jax.random.key(key), jnp.zeros(1),
                       jnp.ones(K, bool))
        assert int(got.action) == int(want.action)
        np.testing.assert_array_equal(got.probs, want.probs)


@pytest.mark.parametrize("n_rounds", [0, 1, 4, 10])
def test_decaying_epsilon_probs_are_the_epsilon_t_mixture(n_rounds):
    p = bandits.make("decaying_eps_greedy", K, 1, epsilon0=0.6, decay=3.0)
    state = run_updates(p, p.default_params, ACTIONS[:n_rounds], REWARDS[:n_rounds])
    assert int(state.rounds) == n_rounds
    mask = np.array([True, False, True, True])
    f32 = np.float32
    eps = np.minimum(f32(1), f32(0.6) * f32(3.0) / (f32(3.0) + f32(n_rounds)))
    params32 = jax.tree_util.tree_map(jnp.float32, p.default_params)
    assert decayed_epsilon(params32, jnp.float32(n_rounds)) == eps
    counts = np.bincount(ACTIONS[:n_rounds], minlength=K)
    sums = np.bincount(ACTIONS[:n_rounds], weights=REWARDS[:n_rounds], minlength=K)
    means = np.where(mask, sums / np.maximum(counts, 1), -np.inf)
    best = (means == means.max()) & mask
    greedy_probs = best.astype(f32) / f32(best.sum())
    want = (f32(1) - eps) * greedy_probs + eps * (mask.astype(f32) / f32(mask.sum()))
    dec = decide(p, p.default_params, state, mask)
    np.testing.assert_array_equal(dec.probs, want)  # float32 arithmetic, same formula
    assert dec.probs[1] == 0 and mask[int(dec.action)]


def _linear_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((K, D))
    xs = rng.standard_normal((n, D)).astype(np.float32)
    return xs, theta, rng


def test_discounted_lin_ucb_statistics_match_the_weighted_sums():
    xs, theta, rng = _linear_rows(40, seed=1)
    actions = rng.integers(0, K, 40)
    rewards = (np.sum(xs * theta[actions], -1) + 0.1 * rng.standard_normal(40))
    gamma, lam = 0.9, 0.7
    p = bandits.make("discounted_lin_ucb", K, D, gamma=gamma, reg=lam, alpha=0.5)
    state = run_updates(p, p.default_params, actions, rewards, xs)
    w = gamma ** np.arange(39, -1, -1, dtype=np.float64)
    x64 = xs.astype(np.float64)
    for arm in range(K):
        sel = actions == arm
        xa, wa = x64[sel], w[sel]
        v = lam * np.eye(D) + (xa * wa[:, None]).T @ xa
        v2 = lam * np.eye(D) + (xa * wa[:, None] ** 2).T @ xa
        b = (xa * (wa * rewards[sel])[:, None]).sum(0)
        np.testing.assert_allclose(state.gram[arm], v, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(state.gram_sq[arm], v2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(state.xty[arm], b, rtol=1e-5, atol=1e-5)
        x = x64[0]
        u = np.linalg.solve(v, x)
        mean, var = discounted_ridge_scores(state, jnp.asarray(xs[0]))
        np.testing.assert_allclose(mean[arm], x @ np.linalg.solve(v, b), rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_allclose(var[arm], u @ v2 @ u, rtol=1e-4, atol=1e-6)


def test_discounted_lin_ucb_with_gamma_one_plays_as_lin_ucb():
    """Both policies run the same 60 rounds of a linear world on the same keys: every
    action is the same, and every arm's score xᵀθ̂ + α·width agrees within 1e-4 (relative)
    at every round (D-LinUCB solves with V, LinUCB updates V⁻¹ by Sherman–Morrison, so
    the last float32 bits differ)."""
    n = 60
    xs, theta, rng = _linear_rows(n, seed=2)
    noise = 0.1 * rng.standard_normal(n)
    disc = bandits.make("discounted_lin_ucb", K, D, gamma=1.0, alpha=0.8, reg=0.5)
    ref = bandits.make("lin_ucb", K, D, alpha=0.8, reg=0.5)
    sd = disc.init(disc.default_params, None)
    sr = ref.init(ref.default_params, None)
    mask = jnp.ones(K, bool)
    act_d, act_r = jax.jit(disc.act), jax.jit(ref.act)
    upd_d, upd_r = jax.jit(disc.update), jax.jit(ref.update)
    for t in range(n):
        key, x = jax.random.key(t), jnp.asarray(xs[t])
        dd = act_d(disc.default_params, sd, key, x, mask)
        dr = act_r(ref.default_params, sr, key, x, mask)
        assert int(dd.action) == int(dr.action), t
        np.testing.assert_array_equal(dd.probs, dr.probs)
        mean_d, var_d = discounted_ridge_scores(sd, x)
        mean_r, var_r, _ = ridge_project(sr, x)
        np.testing.assert_allclose(mean_d + 0.8 * np.sqrt(var_d),
                                   mean_r + 0.8 * np.sqrt(var_r), rtol=1e-4, atol=1e-5)
        a = int(dr.action)
        r = jnp.float32(xs[t] @ theta[a] + noise[t])
        sd = upd_d(disc.default_params, sd, x, dr.action, r)
        sr = upd_r(ref.default_params, sr, x, dr.action, r)
    assert len(np.unique([int(greedy(jnp.zeros(K), mask, jnp.float32(u)).action)
                          for u in (0.1, 0.9)])) == 2  # ties were broken at random


@pytest.mark.parametrize("name, key, value", [
    ("discounted_ucb", "gamma", 0.0),
    ("discounted_ucb", "gamma", 1.5),
    ("discounted_ts", "gamma", -0.2),
    ("discounted_lin_ucb", "gamma", 1.01),
    ("discounted_ucb", "xi", 0.0),
    ("sliding_window_ucb", "window", 0),
    ("sliding_window_ucb", "window", 2.5),
    ("decaying_eps_greedy", "epsilon0", 1.2),
    ("decaying_eps_greedy", "decay", -1.0),
    ("restart_lin_ucb", "threshold", -1.0),
    ("restart_lin_ucb", "tolerance", -0.1),
])
def test_bad_hyperparameters_are_named_with_their_value(name, key, value):
    with pytest.raises(ValueError, match=rf"bandit\.{name}\.{key} must be .*got {value!r}"):
        bandits.make(name, K, D, **{key: value})


def test_gamma_one_is_accepted_and_policies_cannot_train_from_logs():
    for name in ("discounted_ucb", "discounted_ts", "discounted_lin_ucb"):
        bandits.make(name, K, D, gamma=1.0)
    for name in ("discounted_lin_ucb", "discounted_ucb", "sliding_window_ucb",
                 "discounted_ts", "decaying_eps_greedy", "restart_lin_ucb"):
        assert bandits.spec(name).fold_logs is None
        policy = bandits.make(name, K, D)
        x, a, r = np.zeros((4, D), np.float32), np.zeros(4, np.int64), np.zeros(4, np.float32)
        with pytest.raises(ValueError, match=f"bandit '{name}' cannot be trained from logs"):
            train(policy, policy.default_params, x, a, r)
