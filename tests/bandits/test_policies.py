"""Policies: valid distributions, actions drawn from them, closed forms, validation.

Statistical checks use ``Z`` binomial standard errors; every random input comes from a
fixed seed, so a run is deterministic. One compiled ``vmap`` over ``N_KEYS`` keys per
policy (cached in :func:`batched_act`) serves every test of that policy.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import NONDEFAULT_HYPER

import bandits
import envs  # noqa: F401  (sets XLA flags; imported before any JAX computation runs)
from bandits.context_free import ArmStats, gaussian_posterior
from bandits.linear import RidgeState

N_ARMS, DIM = 5, 4
N_KEYS = 20_000
Z = 5.0  # tolerance, in standard errors

HYPER = NONDEFAULT_HYPER
NAMES = bandits.names()
# Thompson sampling: Monte Carlo probs over Beta draws, or quadrature over Gaussian scores
MC_TS = [n for n in NAMES if "n_prob_draws" in bandits.spec(n).static]
GAUSSIAN_TS = [n for n in NAMES if "n_prob_nodes" in bandits.spec(n).static]
TS = MC_TS + GAUSSIAN_TS
LINEAR = [n for n in NAMES if bandits.spec(n).contextual]
RIDGE = [n for n in LINEAR if bandits.spec(n).fold_logs is not None
         and not n.endswith("_shared")]  # one ridge per arm (RidgeState)
# one-hot action probabilities away from exact ties
GREEDY = ("ucb1", "lin_ucb", "discounted_ucb", "sliding_window_ucb", "discounted_lin_ucb",
          "restart_lin_ucb", "neural_ucb", "lin_ucb_shared")
CONTEXT = np.array([0.8, -0.5, 0.3, 1.1], np.float32)


def test_every_registered_policy_is_covered():
    assert len(NAMES) == 21
    assert set(HYPER) == set(NAMES)
    assert set(TS) == {"ts_gaussian", "ts_beta", "lin_ts", "discounted_ts", "neural_linear",
                       "neural_ts", "lin_ts_shared"}
    assert set(GAUSSIAN_TS) == {"ts_gaussian", "lin_ts", "neural_linear", "neural_ts",
                                "lin_ts_shared"}
    per_arm = {n for n in NAMES if n.startswith("neural_") or n.endswith("_shared")}
    assert set(LINEAR) - per_arm == {
        "lin_ucb", "lin_ts", "lin_eps_greedy", "discounted_lin_ucb",
                           "restart_lin_ucb"}
    assert set(RIDGE) == {"lin_ucb", "lin_ts", "lin_eps_greedy"}


# --------------------------------------------------------------------------- helpers


@functools.cache
def policy(name):
    return bandits.make(name, N_ARMS, DIM, **HYPER[name])


@functools.cache
def batched_act(name):
    """jit(vmap(act)) over (key, context, mask); params and state are arguments."""
    return jax.jit(jax.vmap(policy(name).act, in_axes=(None, None, 0, 0, 0)))


def act_many(name, state, *, params=None, context=CONTEXT, mask, seed=0):
    """``N_KEYS`` decisions; ``context`` (dim,) / ``mask`` (n_arms,) are broadcast."""
    params = policy(name).default_params if params is None else params
    keys = jax.random.split(jax.random.key(seed), N_KEYS)
    ctx = np.broadcast_to(np.asarray(context, np.float32), (N_KEYS, DIM))
    msk = np.broadcast_to(np.asarray(mask, bool), (N_KEYS, N_ARMS))
    dec = batched_act(name)(params, state, keys, jnp.asarray(ctx), jnp.asarray(msk))
    return np.asarray(dec.action), np.asarray(dec.probs, np.float64)


@functools.cache
def _apply_updates(name):
    p = policy(name)

    def run(params, state, xs, actions, rewards):
        def body(s, inp):
            return p.update(params, s, *inp), None

        return jax.lax.scan(body, state, (xs, actions, rewards))[0]

    return jax.jit(run)


def updated_state(name, xs, actions, rewards, params=None):
    """The policy's state after updating on (xs[i], actions[i], rewards[i]) in order."""
    p = policy(name)
    params = p.default_params if params is None else params
    s0 = p.init(params, jax.random.key(0))
    return _apply_updates(name)(params, s0, jnp.asarray(xs, jnp.float32),
                                jnp.asarray(actions, jnp.int32),
                                jnp.asarray(rewards, jnp.float32))


def random_history(seed, n, arms=N_ARMS):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, DIM))
    actions = rng.integers(0, arms, n)
    rewards = rng.integers(0, 2, n).astype(np.float64)  # 0/1: valid for Beta TS too
    return xs, actions, rewards


def random_masks(rng, n):
    m = rng.random((n, N_ARMS)) < 0.5
    m[np.arange(n), rng.integers(0, N_ARMS, n)] = True  # at least one eligible arm
    return m


def freq_of(actions):
    return np.bincount(actions, minlength=N_ARMS) / len(actions)


def assert_close_in_se(got, want, se, what=""):
    """|got - want| <= Z·se elementwise (exact where se == 0)."""
    got, want, se = map(np.asarray, (got, want, se))
    bad = np.abs(got - want) > Z * se + 1e-12
    assert not bad.any(), f"{what}: got {got}, want {want}, se {se}"


def binom_se(p, n):
    p = np.asarray(p, np.float64)
    return np.sqrt(p * (1 - p) / n)


# ----------------------------------------------------- every policy: valid decisions


@pytest.mark.parametrize("name", NAMES)
def test_decisions_are_distributions_over_eligible_arms(name):
    """After random updates, over random contexts and masks: probs sum to 1, are zero on
    masked arms and the action is eligible (and has positive probability where probs
    are exact)."""
    state = updated_state(name, *random_history(1, 12))
    rng = np.random.default_rng(2)
    ctx = rng.standard_normal((N_KEYS, DIM)).astype(np.float32)
    masks = random_masks(rng, N_KEYS)
    keys = jax.random.split(jax.random.key(3), N_KEYS)
    p = policy(name)
    dec = batched_act(name)(p.default_params, state, keys, jnp.asarray(ctx),
                            jnp.asarray(masks))
    action, probs = np.asarray(dec.action), np.asarray(dec.probs)
    assert action.dtype == np.int32 and action.shape == (N_KEYS,)
    assert probs.shape == (N_KEYS, N_ARMS)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert (probs[~masks] == 0).all()
    assert masks[np.arange(N_KEYS), action].all()
    chosen = probs[np.arange(N_KEYS), action]
    assert (chosen > 0).all()
    if name in MC_TS:  # the deciding draw counts: at least 1/(n + 1), never a 0 propensity
        assert (chosen >= 1 / (HYPER[name]["n_prob_draws"] + 1) - 1e-7).all()
    if name == "uniform":
        np.testing.assert_allclose(probs, masks / masks.sum(-1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_drawn_from_probs(name):
    """Empirical action frequencies over N_KEYS keys match ``probs`` (exact policies) or
    the mean of the Monte Carlo ``probs`` across keys (Beta Thompson sampling)."""
    state = updated_state(name, *random_history(4, 12))
    mask = np.array([True, True, False, True, True])
    action, probs = act_many(name, state, mask=mask, seed=5)
    freq = freq_of(action)
    if name in MC_TS:
        draws = HYPER[name]["n_prob_draws"]
        target = probs.mean(0)
        se = binom_se(target, N_KEYS) * np.sqrt(1 + 1 / draws)
        assert (target > 0.02).sum() >= 2, target  # a non-trivial distribution
    elif name in GAUSSIAN_TS:  # quadrature: the same probs for every key, up to the
        # chosen arm's positive floor
        np.testing.assert_allclose(probs, np.broadcast_to(probs[0], probs.shape), atol=1e-6)
        target = probs[0]
        se = binom_se(target, N_KEYS)
        assert (target > 0.02).sum() >= 2, target
    else:
        np.testing.assert_array_equal(probs, np.broadcast_to(probs[0], probs.shape))
        target = probs[0]
        se = binom_se(target, N_KEYS)
        if name not in GREEDY:
            assert (target > 0.02).sum() >= 2, target
    assert target[2] == 0 and freq[2] == 0
    assert_close_in_se(freq, target, se, name)


# ----------------------------------------------------------- linear: ridge state


@pytest.mark.parametrize("name", RIDGE)
def test_ridge_state_matches_closed_form(name):
    """A_a⁻¹ = inv(reg·I + X_aᵀX_a) and θ̂_a = A_a⁻¹X_aᵀy_a after 40 updates; an arm never
    played keeps I/reg and θ̂ = 0 bit for bit; A⁻¹ stays exactly symmetric."""
    rng = np.random.default_rng(6)
    n, reg = 40, 0.5
    xs = rng.standard_normal((n, DIM))
    actions = rng.integers(0, N_ARMS - 1, n)  # the last arm is never played
    true = rng.standard_normal((N_ARMS, DIM))
    ys = np.einsum("nd,nd->n", xs, true[actions]) + 0.3 * rng.standard_normal(n)
    params = policy(name).default_params._replace(reg=reg)
    state = updated_state(name, xs, actions, ys, params)
    assert isinstance(state, RidgeState)
    a_inv, theta = np.asarray(state.a_inv), np.asarray(state.theta)
    assert a_inv.shape == (N_ARMS, DIM, DIM) and theta.shape == (N_ARMS, DIM)
    for a in range(N_ARMS - 1):
        xa, ya = xs[actions == a], ys[actions == a]
        assert len(ya) >= 5
        want_inv = np.linalg.inv(reg * np.eye(DIM) + xa.T @ xa)
        np.testing.assert_allclose(a_inv[a], want_inv, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(theta[a], want_inv @ xa.T @ ya, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(a_inv[-1], np.eye(DIM, dtype=np.float32) / np.float32(reg))
    np.testing.assert_array_equal(theta[-1], 0.0)
    np.testing.assert_array_equal(a_inv, np.swapaxes(a_inv, -1, -2))


def _ridge_numpy_scores(state, ctx):
    a_inv = np.asarray(state.a_inv, np.float64)
    theta = np.asarray(state.theta, np.float64)
    ctx = np.asarray(ctx, np.float64)
    mean = ctx @ theta.T
    var = np.einsum("ni,aij,nj->na", ctx, a_inv, ctx)
    return mean, var


def _check_greedy(action, probs, scores, masks, what):
    """action = argmax of scores over eligible arms wherever the top two are clearly
    apart; probs one-hot at action."""
    s = np.where(masks, scores, -np.inf)
    best = np.argmax(s, -1)
    top2 = np.sort(s, -1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]  # inf when one arm is eligible
    clear = gap > 1e-4 * (1 + np.abs(top2[:, 1]))
    assert clear.mean() > 0.95, what
    np.testing.assert_array_equal(action[clear], best[clear], err_msg=what)
    np.testing.assert_array_equal(probs, np.eye(N_ARMS)[action], err_msg=what)


def test_lin_ucb_choice_matches_numpy_index():
    """argmax over eligible arms of xᵀθ̂_a + α·sqrt(xᵀA_a⁻¹x), with NumPy in float64."""
    state = updated_state("lin_ucb", *random_history(7, 30, arms=N_ARMS - 1))
    rng = np.random.default_rng(8)
    ctx = rng.standard_normal((N_KEYS, DIM)).astype(np.float32)
    masks = random_masks(rng, N_KEYS)
    keys = jax.random.split(jax.random.key(9), N_KEYS)
    mean, var = _ridge_numpy_scores(state, ctx)
    actions = {}
    for alpha in (0.0, 0.6, 2.5):
        params = policy("lin_ucb").default_params._replace(alpha=alpha)
        dec = batched_act("lin_ucb")(params, state, keys, jnp.asarray(ctx),
                                     jnp.asarray(masks))
        action, probs = np.asarray(dec.action), np.asarray(dec.probs)
        _check_greedy(action, probs, mean + alpha * np.sqrt(var), masks, f"alpha={alpha}")
        actions[alpha] = action
    # the exploration bonus matters on this data, so the comparison above has teeth
    assert (actions[0.0] != actions[2.5]).mean() > 0.1


# ------------------------------------------------------------------------- UCB1


def test_ucb1_index_matches_numpy_on_random_states():
    """index = mean + c·sqrt(2 ln t / n), t = total pulls + 1; untried eligible arms are
    chosen first, with probs split evenly between them."""
    p = policy("ucb1")
    n = 4000
    rng = np.random.default_rng(10)
    counts = rng.integers(0, 12, (n, N_ARMS)).astype(np.float32)
    sums = (counts * rng.random((n, N_ARMS))).astype(np.float32)
    masks = random_masks(rng, n)
    keys = jax.random.split(jax.random.key(11), n)
    fn = jax.jit(jax.vmap(p.act, in_axes=(None, 0, 0, None, 0)))
    c64, s64 = counts.astype(np.float64), sums.astype(np.float64)
    t = c64.sum(-1, keepdims=True) + 1.0
    untried = (counts == 0) & masks
    some_untried = untried.any(-1)
    assert 0.2 < some_untried.mean() < 0.8
    for c in (1.0, 0.3):
        dec = fn(p.default_params._replace(c=c), ArmStats(jnp.asarray(counts),
                                                         jnp.asarray(sums)),
                 keys, jnp.asarray(CONTEXT), jnp.asarray(masks))
        action, probs = np.asarray(dec.action), np.asarray(dec.probs, np.float64)
        u = some_untried
        assert untried[u, action[u]].all()
        np.testing.assert_allclose(probs[u], untried[u] / untried[u].sum(-1, keepdims=True),
                                   rtol=1e-6)
        with np.errstate(divide="ignore", invalid="ignore"):
            index = s64 / c64 + c * np.sqrt(2 * np.log(t) / c64)
        _check_greedy(action[~u], probs[~u], index[~u], masks[~u], f"c={c}")


def test_ucb1_uses_t_plus_one_hand_case():
    """counts (1, 2), means (0, 0.46), c = 1: with t = 4 arm 0's bonus wins by 0.488 −
    0.46; with t = 3 (a plausible off-by-one) arm 1 would win."""
    counts, sums = np.array([1.0, 2.0]), np.array([0.0, 0.92])
    bonus = lambda t: np.sqrt(2 * np.log(t) / counts)
    assert np.argmax(sums / counts + bonus(4.0)) == 0
    assert np.argmax(sums / counts + bonus(3.0)) == 1
    p = bandits.make("ucb1", 2, 1, c=1.0)
    dec = jax.jit(p.decide)(p.default_params, ArmStats(jnp.asarray(counts, jnp.float32),
                                                       jnp.asarray(sums, jnp.float32)),
                            {"tiebreak": jnp.float32(0.9)}, jnp.zeros(1),
                            jnp.ones(2, bool))
    assert int(dec.action) == 0
    np.testing.assert_array_equal(np.asarray(dec.probs), [1.0, 0.0])


# ------------------------------------------------------------- Thompson sampling


def test_gaussian_posterior_matches_conjugate_formula():
    """Normal–normal conjugacy written in the variance form:
    mean = (σ²μ0 + σ0²Σr) / (σ² + nσ0²),  var = σ²σ0² / (σ² + nσ0²)."""
    params = policy("ts_gaussian").default_params._replace(prior_mean=0.3, prior_std=2.0,
                                                           noise_std=0.5)
    counts = np.array([0.0, 1.0, 4.0, 25.0, 100.0])
    sums = np.array([0.0, 0.7, -1.3, 12.0, 41.0])
    mean, std = gaussian_posterior(params, ArmStats(jnp.asarray(counts, jnp.float32),
                                                    jnp.asarray(sums, jnp.float32)))
    mu0, s0, s = 0.3, 2.0, 0.5
    want_mean = (s**2 * mu0 + s0**2 * sums) / (s**2 + counts * s0**2)
    want_var = s**2 * s0**2 / (s**2 + counts * s0**2)
    np.testing.assert_allclose(np.asarray(mean), want_mean, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(std), np.sqrt(want_var), rtol=2e-6)
    assert float(mean[0]) == pytest.approx(mu0) and float(std[0]) == pytest.approx(s0)


TS_STATES = {
    "ts_gaussian": ArmStats(np.array([8.0, 3.0, 0.0, 12.0, 5.0], np.float32),
                            np.array([4.0, 2.4, 0.0, 5.0, 1.0], np.float32)),
    "ts_beta": ArmStats(np.array([8.0, 4.0, 0.0, 12.0, 5.0], np.float32),
                        np.array([5.0, 3.0, 0.0, 6.0, 1.0], np.float32)),
}


@pytest.mark.parametrize("name", sorted(TS_STATES))
def test_context_free_ts_matches_numpy_posterior_argmax(name):
    """Action frequencies and mean Monte Carlo probs equal P(arm is the eligible argmax
    of one posterior draw per arm), simulated in NumPy (Beta(a0+s, b0+f) or normal)."""
    state = TS_STATES[name]
    mask = np.array([True, True, True, True, False])
    hp = HYPER[name]
    rng = np.random.default_rng(12)
    m = 400_000
    c, s = state.counts.astype(np.float64), state.sums.astype(np.float64)
    if name == "ts_beta":
        draws = rng.beta(hp["a0"] + s, hp["b0"] + c - s, size=(m, N_ARMS))
    else:
        prec = 1 / hp["prior_std"] ** 2 + c / hp["noise_std"] ** 2
        mean = (hp["prior_mean"] / hp["prior_std"] ** 2 + s / hp["noise_std"] ** 2) / prec
        draws = mean + rng.standard_normal((m, N_ARMS)) / np.sqrt(prec)
    want = freq_of(np.argmax(np.where(mask, draws, -np.inf), -1))
    assert (want > 0.05).sum() >= 3, want
    action, probs = act_many(name, ArmStats(*map(jnp.asarray, state)), mask=mask, seed=13)
    n_mc = N_KEYS * hp.get("n_prob_draws", np.inf)  # Gaussian TS: probs by quadrature
    assert_close_in_se(probs.mean(0), want, binom_se(want, 1) * np.sqrt(1 / n_mc + 1 / m),
                       "probs")
    assert_close_in_se(freq_of(action), want, binom_se(want, 1) * np.sqrt(1 / N_KEYS + 1 / m),
                       "actions")


def test_lin_ts_equals_full_parameter_sampling():
    """Sampling scores N(xᵀθ̂, v²xᵀA⁻¹x) gives the action distribution of drawing
    θ̃_a ~ N(θ̂_a, v²A_a⁻¹) with a Cholesky factor (NumPy, float64) and scoring xᵀθ̃_a."""
    name = "lin_ts"
    state = updated_state(name, *random_history(14, 10, arms=N_ARMS - 1))
    mask = np.array([True, True, False, True, True])
    v = HYPER[name]["v"]
    a_inv = np.asarray(state.a_inv, np.float64)
    a_inv = (a_inv + np.swapaxes(a_inv, -1, -2)) / 2
    theta = np.asarray(state.theta, np.float64)
    chol = np.linalg.cholesky(v**2 * a_inv)  # (arms, d, d)
    rng = np.random.default_rng(15)
    m = 200_000
    z = rng.standard_normal((m, N_ARMS, DIM))
    theta_tilde = theta + np.einsum("aij,naj->nai", chol, z)
    scores = theta_tilde @ CONTEXT.astype(np.float64)
    want = freq_of(np.argmax(np.where(mask, scores, -np.inf), -1))
    assert (want > 0.03).sum() >= 3, want
    action, probs = act_many(name, state, mask=mask, seed=16)
    assert_close_in_se(probs.mean(0), want, binom_se(want, 1) * np.sqrt(1 / m), "probs")
    assert_close_in_se(freq_of(action), want, binom_se(want, 1) * np.sqrt(1 / N_KEYS + 1 / m),
                       "actions")


def test_lin_ts_with_v_zero_draws_actions_from_probs():
    """At the initial state every arm predicts 0; with v = 0 all eligible arms tie."""
    name = "lin_ts"
    p = policy(name)
    params = p.default_params._replace(v=0.0)
    state = p.init(params, jax.random.key(0))
    mask = np.array([False, True, True, False, True])
    action, probs = act_many(name, state, params=params, mask=mask, seed=17)
    target = probs.mean(0)
    np.testing.assert_allclose(target, mask / 3, atol=1e-6)
    assert_close_in_se(freq_of(action), target, binom_se(target, N_KEYS), "actions")


# ------------------------------------------------- ε-greedy, softmax, exact ties

EPS_MASK = np.array([True, True, True, False, True])  # 4 eligible arms
EPS_TIES = [0, 1, 2]  # tied best eligible arms; the masked arm 3 scores higher still


def _eps_state(name):
    if name == "eps_greedy":
        # means 0.5, 0.5, (untried: initial_value 0.5), 0.9 (masked), 0.1
        counts = np.array([2.0, 4.0, 0.0, 1.0, 3.0], np.float32)
        sums = np.array([1.0, 2.0, 0.0, 0.9, 0.3], np.float32)
        return ArmStats(jnp.asarray(counts), jnp.asarray(sums))
    r = np.array([0.5, 0.25, -0.5, 0.125], np.float32)
    assert float(r @ CONTEXT) > 0
    theta = np.stack([r, r, r, 2 * r, -r])
    a_inv = np.broadcast_to(np.eye(DIM, dtype=np.float32), (N_ARMS, DIM, DIM))
    return RidgeState(jnp.asarray(a_inv), jnp.asarray(theta))


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("name", ["eps_greedy", "lin_eps_greedy"])
def test_epsilon_greedy_probs_are_exact(name, epsilon):
    """probs = (1 − ε)/n_ties on the tied best eligible arms + ε/n_eligible on every
    eligible arm, 0 elsewhere; actions follow them."""
    p = policy(name)
    params = p.default_params._replace(epsilon=epsilon)
    if name == "eps_greedy":
        params = params._replace(initial_value=0.5)
    action, probs = act_many(name, _eps_state(name), params=params, mask=EPS_MASK, seed=18)
    want = np.zeros(N_ARMS)
    want[EPS_TIES] += (1 - epsilon) / len(EPS_TIES)
    want[EPS_MASK] += epsilon / EPS_MASK.sum()
    np.testing.assert_allclose(probs, np.broadcast_to(want, probs.shape), rtol=1e-6,
                               atol=1e-7)
    assert_close_in_se(freq_of(action), want, binom_se(want, N_KEYS), "actions")


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_softmax_probs_are_boltzmann_over_eligible_arms(scale):
    """probs = exp(mean/τ) / Σ_eligible exp(mean/τ), untried arms at initial_value; at
    scale 100 the naive exponentials overflow, the policy's must not."""
    name = "softmax"
    p = policy(name)
    tau, init = 0.4, 0.2 * scale
    params = p.default_params._replace(temperature=tau, initial_value=init)
    counts = np.array([2.0, 4.0, 0.0, 1.0, 3.0], np.float32)
    sums = (np.array([1.0, 3.0, 0.0, 0.2, -0.6]) * scale).astype(np.float32)
    mask = np.array([True, True, True, False, True])
    action, probs = act_many(name, ArmStats(jnp.asarray(counts), jnp.asarray(sums)),
                             params=params, mask=mask, seed=19)
    means = np.where(counts > 0, (sums / np.maximum(counts, 1)).astype(np.float64), init)
    z = np.where(mask, means / tau, -np.inf)
    w = np.exp(z - z.max())
    want = w / w.sum()
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs[0], want, rtol=1e-5, atol=1e-7)
    assert_close_in_se(freq_of(action), want, binom_se(want, N_KEYS), "actions")


def _tie_case(case):
    """(policy name, params, state, mask, tied arms)."""
    if case == "ucb1-finite":
        # arms 0, 1, 4 identical; arm 2 lower; arm 3 higher but masked
        st = ArmStats(jnp.asarray([4.0, 4.0, 4.0, 2.0, 4.0]),
                      jnp.asarray([2.0, 2.0, 1.0, 1.9, 2.0]))
        return "ucb1", None, st, np.array([True, True, True, False, True]), [0, 1, 4]
    if case == "ucb1-untried":
        st = ArmStats(jnp.asarray([0.0, 3.0, 0.0, 0.0, 2.0]),
                      jnp.asarray([0.0, 3.0, 0.0, 0.0, 2.0]))
        return "ucb1", None, st, np.array([True, True, False, True, True]), [0, 3]
    if case == "lin_ucb-init":
        p = policy("lin_ucb")
        return ("lin_ucb", None, p.init(p.default_params, None),
                np.array([True, False, True, True, False]), [0, 2, 3])
    name = case.split("-")[0]
    params = policy(name).default_params._replace(epsilon=0.0)
    if name == "eps_greedy":
        params = params._replace(initial_value=0.5)
    return name, params, _eps_state(name), EPS_MASK, EPS_TIES


@pytest.mark.parametrize("case", ["ucb1-finite", "ucb1-untried", "lin_ucb-init",
                                  "eps_greedy-eps0", "lin_eps_greedy-eps0"])
def test_exact_ties_are_split_evenly(case):
    name, params, state, mask, ties = _tie_case(case)
    action, probs = act_many(name, state, params=params, mask=mask, seed=20)
    want = np.zeros(N_ARMS)
    want[ties] = 1 / len(ties)
    np.testing.assert_allclose(probs, np.broadcast_to(want, probs.shape), rtol=1e-6)
    assert_close_in_se(freq_of(action), want, binom_se(want, N_KEYS), "actions")


@pytest.mark.parametrize("u, mask, want", [
    (0.0, [True] * 5, 1), (0.34, [True] * 5, 2), (0.999999, [True] * 5, 4),
    (0.49, [True, True, False, True, True], 1), (0.5, [True, True, False, True, True], 4),
    (0.7, [True, False, True, True, False], 2),
])
def test_greedy_picks_the_floor_u_m_th_tied_arm(u, mask, want):
    """With m tied maxima, u in [k/m, (k+1)/m) picks the k-th of them (0-based)."""
    from bandits.base import greedy

    scores = jnp.asarray([1.0, 3.0, 3.0, 0.0, 3.0])
    dec = jax.jit(greedy)(scores, jnp.asarray(mask), jnp.float32(u))
    assert int(dec.action) == want


# --------------------------------------------------------------------- validation


def test_make_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="alpha"):
        bandits.make("lin_ucb", 5, 10, alpha=-1)
    with pytest.raises(ValueError, match="epsilon"):
        bandits.make("eps_greedy", 5, 10, epsilon=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        bandits.make("lin_eps_greedy", 5, 10, epsilon=-0.1)
    with pytest.raises(ValueError, match="temperature"):
        bandits.make("softmax", 5, 1, temperature=0.0)  # open at 0
    with pytest.raises(ValueError, match="n_prob_draws"):
        bandits.make("ts_beta", 5, 1, n_prob_draws=0)
    with pytest.raises(ValueError, match="n_prob_nodes"):
        bandits.make("lin_ts", 5, 3, n_prob_nodes=2.5)
    with pytest.raises(ValueError, match="n_prob_nodes"):
        bandits.make("ts_gaussian", 5, 1, n_prob_nodes=1)
    with pytest.raises(ValueError, match="n_prob_draws"):
        bandits.make("ts_gaussian", 5, 1, n_prob_draws=128)
    with pytest.raises(ValueError, match="alpha"):
        bandits.make("lin_ucb", 5, 10, alpha=float("nan"))
    with pytest.raises(ValueError, match="alpha"):
        bandits.make("lin_ucb", 5, 10, alpha=True)
    with pytest.raises(ValueError, match="alpha"):
        bandits.make("lin_ucb", 5, 10, alpha="1")
    # closed ends are accepted
    bandits.make("eps_greedy", 5, 1, epsilon=0.0)
    bandits.make("eps_greedy", 5, 1, epsilon=1.0)
    bandits.make("lin_ucb", 5, 10, alpha=0)


def test_make_rejects_unknown_keys_and_names():
    with pytest.raises(ValueError) as err:
        bandits.make("lin_ucb", 5, 10, gamma=1.0)
    assert "gamma" in str(err.value)
    assert "alpha" in str(err.value) and "reg" in str(err.value)
    with pytest.raises(ValueError) as err:
        bandits.make("ts_beta", 5, 1, alpha=1.0)
    assert all(k in str(err.value) for k in ("a0", "b0", "n_prob_draws"))
    with pytest.raises(ValueError, match="none"):
        bandits.make("uniform", 5, 1, epsilon=0.1)
    for call in (lambda: bandits.make("thompson", 5, 10), lambda: bandits.spec("thompson")):
        with pytest.raises(ValueError) as err:
            call()
        assert "thompson" in str(err.value)
        assert all(n in str(err.value) for n in NAMES)


def test_make_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_arms"):
        bandits.make("lin_ucb", 0, 10)
    with pytest.raises(ValueError, match="n_arms"):
        bandits.make("uniform", 2.0, 1)
    with pytest.raises(ValueError, match="dim"):
        bandits.make("lin_ucb", 5, 0)


def test_make_stores_values_in_params_and_sizes_in_the_policy():
    p = bandits.make("lin_ucb", 5, 10, alpha=2)
    assert (p.name, p.n_arms, p.dim) == ("lin_ucb", 5, 10)
    assert p.default_params.alpha == 2.0 and isinstance(p.default_params.alpha, float)
    assert p.default_params.reg == 1.0
    # n_prob_draws is structural: with one draw besides the deciding one, probs are the
    # shares of two draws, one-hot where they agree and halves where they do not
    p = bandits.make("ts_beta", 3, 1, n_prob_draws=1)
    state = p.init(p.default_params, None)
    keys = jax.random.split(jax.random.key(0), 50)
    probs = jax.jit(jax.vmap(p.act, in_axes=(None, None, 0, None, None)))(
        p.default_params, state, keys, jnp.zeros(1), jnp.ones(3, bool)).probs
    rows = {tuple(r) for r in np.sort(np.asarray(probs), -1).tolist()}
    assert rows == {(0.0, 0.0, 1.0), (0.0, 0.5, 0.5)}
