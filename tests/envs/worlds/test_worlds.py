"""Worlds: closed-form mean rewards, reward noise, eligibility masks, registry errors.

Statistical checks allow ``Z`` standard errors; every random input has a fixed seed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # sets XLA flags; imported before any JAX computation runs

Z = 5.0
N = 40_000

# Non-default options everywhere, and p_eligible < 1 so the mask path is exercised.
WORLDS = {
    "linear-gaussian": dict(n_arms=4, dim=6, noise_std=0.7, p_eligible=0.6, context_std=0.8),
    "logistic-bernoulli": dict(n_arms=4, dim=6, scale=2.0, base_logit=-1.0, p_eligible=0.6,
                               context_std=1.5),
    "slice-sum": dict(n_arms=3, dim=11, noise_std=0.4, p_eligible=0.6),  # 2 spare features
}


def test_every_registered_world_is_covered():
    # the supervised world's mean rewards are dataset labels: tests/envs/test_supervised.py;
    # the wheel and NeuralUCB's synthetic worlds: test_neural_worlds.py
    others = {"supervised", "wheel", "neural-synthetic"}
    assert set(WORLDS) | others == set(envs.names()) and len(envs.names()) == 6


def world(name):
    return envs.make(name, **WORLDS[name])


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_mean_rewards(name, w, params, x):
    """x: (n, dim) float64 -> (n, n_arms)."""
    if name == "slice-sum":
        width = w.dim // w.n_arms
        sums = x[:, : width * w.n_arms].reshape(len(x), w.n_arms, width).sum(-1)
        return sums**2 / width
    z = x @ np.asarray(params.theta, np.float64).T + np.asarray(params.bias, np.float64)
    return sigmoid(z) if name == "logistic-bernoulli" else z


def contexts(w, params, n, seed):
    keys = jax.random.split(jax.random.key(seed), n)
    x, mask = jax.jit(jax.vmap(w.sample_context, in_axes=(0, None, None)))(keys, params, ())
    return np.asarray(x), np.asarray(mask)


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_mean_rewards_closed_form(name):
    """linear: θ_a·x + b_a; logistic: sigmoid of that; slice-sum: (Σ slice_a)² / width."""
    w = world(name)
    params = w.sample_params(jax.random.key(1))
    x, mask = contexts(w, params, 512, seed=2)
    assert x.shape == (512, w.dim) and x.dtype == np.float32
    assert mask.shape == (512, w.n_arms) and mask.dtype == bool
    mu = np.asarray(jax.jit(jax.vmap(w.mean_rewards, in_axes=(None, None, 0)))(params, (), x))
    assert mu.shape == (512, w.n_arms)
    want = numpy_mean_rewards(name, w, params, x.astype(np.float64))
    np.testing.assert_allclose(mu, want, rtol=2e-5, atol=2e-6)
    if name == "logistic-bernoulli":
        np.testing.assert_array_equal(np.asarray(params.bias), -1.0)
        assert ((mu > 0) & (mu < 1)).all()
    if name == "linear-gaussian":
        np.testing.assert_array_equal(np.asarray(params.bias), 0.0)
    if name == "slice-sum":
        # the two spare features do not matter
        x2 = x.copy()
        x2[:, 9:] += 100.0
        mu2 = jax.vmap(w.mean_rewards, in_axes=(None, None, 0))(params, (), x2)
        np.testing.assert_array_equal(np.asarray(mu2), mu)


@pytest.mark.parametrize("name", ["linear-gaussian", "logistic-bernoulli"])
def test_sample_params_scale(name):
    """θ entries ~ N(0, scale²/d): mean 0 and std scale/sqrt(d); a key fixes the draw."""
    scale = 2.0 if name == "logistic-bernoulli" else 1.0
    kw = {"scale": scale} if name == "logistic-bernoulli" else {}
    w = envs.make(name, n_arms=40, dim=250, **kw)
    theta = np.asarray(w.sample_params(jax.random.key(3)).theta, np.float64)
    sd = scale / np.sqrt(250)
    n = theta.size
    assert abs(theta.mean()) < Z * sd / np.sqrt(n)
    assert abs(theta.std() - sd) < Z * sd / np.sqrt(2 * n)
    again = np.asarray(w.sample_params(jax.random.key(3)).theta)
    other = np.asarray(w.sample_params(jax.random.key(4)).theta)
    np.testing.assert_array_equal(again, theta.astype(np.float32))
    assert not np.allclose(other, again)


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_sample_rewards_statistics(name):
    """Over N keys at one context: ``sample_rewards`` gives independent arms (Gaussian
    worlds: per-arm mean = mean_rewards, variance = noise_std², uncorrelated arms; binary
    worlds: 0/1 with frequency = mean_rewards). The engine's two-step form, one noise
    number realised for the played arm, has the same per-arm distribution, and
    ``sample_reward`` is exactly that two-step reward of the action."""
    w = world(name)
    params = w.sample_params(jax.random.key(5))
    x = contexts(w, params, 1, seed=6)[0][0]
    mu = np.asarray(w.mean_rewards(params, (), jnp.asarray(x)), np.float64)
    keys = jax.random.split(jax.random.key(7), N)
    actions = jnp.asarray(np.random.default_rng(8).integers(0, w.n_arms, N), jnp.int32)

    @jax.jit
    def draw(keys, params, actions):
        def one(k, a):
            noise = w.draw_reward_noise(k, params, ())
            return (w.sample_rewards(k, params, (), x), w.sample_reward(k, params, (), x, a),
                    w.realise(params, w.mean_rewards(params, (), x), noise), noise)
        return jax.vmap(one)(keys, actions)

    y, y_one, y_two_step, noise = map(np.asarray, draw(keys, params, actions))
    assert y.shape == y_two_step.shape == (N, w.n_arms) and y.dtype == np.float32
    assert noise.shape == (N,)  # one number per round, whatever the number of arms
    # equal up to float rounding (the compiler may contract mean + std·noise differently)
    np.testing.assert_allclose(y_one, y_two_step[np.arange(N), np.asarray(actions)],
                               rtol=1e-6, atol=1e-6)
    for sample in (y_two_step.astype(np.float64), y.astype(np.float64)):
        if w.binary_rewards:
            assert set(np.unique(sample)) <= {0.0, 1.0}
            se = np.sqrt(mu * (1 - mu) / N)
            assert (np.abs(sample.mean(0) - mu) < Z * se).all(), (sample.mean(0), mu)
        else:
            sd = WORLDS[name]["noise_std"]
            np.testing.assert_array_less(np.abs(sample.mean(0) - mu), Z * sd / np.sqrt(N))
            np.testing.assert_array_less(np.abs(sample.var(0, ddof=1) - sd**2),
                                         Z * sd**2 * np.sqrt(2 / N))
    if w.binary_rewards:
        assert ((mu > 0.05) & (mu < 0.95)).sum() >= 2, mu  # informative arms
        return
    corr = np.corrcoef(y.T)[np.triu_indices(w.n_arms, 1)]
    np.testing.assert_array_less(np.abs(corr), Z / np.sqrt(N))
    # the noise scale is read from params, so a batch of world instances can differ
    y0 = jax.vmap(w.sample_rewards, in_axes=(0, None, None, None))(
        keys[:16], params._replace(noise_std=jnp.float32(0.0)), (), x)
    np.testing.assert_array_equal(np.asarray(y0), np.broadcast_to(mu.astype(np.float32),
                                                                   (16, w.n_arms)))


@pytest.mark.parametrize("p", [0.3, 0.85])
def test_eligibility_masks(p):
    """Every round has an eligible arm. An arm is eligible if its uniform is < p or it is
    the arm with the smallest uniform, so P(eligible) = p + (1 − p)^n / n exactly, which
    is slightly above p (at most by (1 − p)^n / n); and P(exactly one eligible arm) =
    n·p·(1 − p)^(n−1) + (1 − p)^n. Contexts stay N(0, I)."""
    n_arms = 6
    w = envs.make("linear-gaussian", n_arms=n_arms, dim=3, p_eligible=p, intercept=False)
    x, mask = contexts(w, w.sample_params(jax.random.key(9)), N, seed=10)
    assert mask.any(-1).all()
    freq = mask.mean(0)
    want = p + (1 - p) ** n_arms / n_arms
    se = np.sqrt(want * (1 - want) / N)
    np.testing.assert_array_less(np.abs(freq - want), Z * se)
    if p == 0.3:  # the excess over p is 8 standard errors here: it must show
        assert (freq > p + 3 * se).all()
    one = (mask.sum(-1) == 1).mean()
    want_one = n_arms * p * (1 - p) ** (n_arms - 1) + (1 - p) ** n_arms
    assert abs(one - want_one) < Z * np.sqrt(want_one * (1 - want_one) / N)
    np.testing.assert_array_less(np.abs(x.mean(0)), Z / np.sqrt(N))
    np.testing.assert_array_less(np.abs(x.var(0) - 1), Z * np.sqrt(2 / N))


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_p_eligible_one_makes_every_arm_eligible(name):
    kw = {**WORLDS[name], "p_eligible": 1.0}
    w = envs.make(name, **kw)
    _, mask = contexts(w, w.sample_params(jax.random.key(11)), 2000, seed=12)
    assert mask.dtype == bool and mask.shape == (2000, w.n_arms) and mask.all()


def test_registry_errors_name_the_problem():
    with pytest.raises(ValueError) as err:
        envs.make("linear-gausian")
    assert "linear-gausian" in str(err.value)
    assert all(n in str(err.value) for n in envs.names())
    with pytest.raises(ValueError) as err:
        envs.make("linear-gaussian", n_arm=5)
    assert "n_arm" in str(err.value) and "noise_std" in str(err.value)
    with pytest.raises(ValueError, match="scale"):
        envs.make("slice-sum", scale=2.0)  # a logistic-only option
    with pytest.raises(ValueError, match="noise_std"):
        envs.make("linear-gaussian", noise_std=-0.1)
    with pytest.raises(ValueError, match="n_arms"):
        envs.make("linear-gaussian", n_arms=0)
    with pytest.raises(ValueError, match="dim"):
        envs.make("linear-gaussian", dim=2.5)
    with pytest.raises(ValueError, match="p_eligible"):
        envs.make("linear-gaussian", p_eligible=0.0)
    with pytest.raises(ValueError, match="p_eligible"):
        envs.make("linear-gaussian", p_eligible=1.2)
    with pytest.raises(ValueError, match="scale"):
        envs.make("logistic-bernoulli", scale=-1.0)
    with pytest.raises(ValueError, match=r"env.context_std must be a number in \[0.0, inf\]"):
        envs.make("linear-gaussian", context_std=-0.5)
    with pytest.raises(ValueError, match="context_std"):
        envs.make("slice-sum", context_std=0.5)
    with pytest.raises(ValueError, match="dim"):
        envs.make("slice-sum", n_arms=5, dim=4)
    # edges that are allowed
    assert envs.make("linear-gaussian", noise_std=0.0).noise_std == 0.0
    assert envs.make("logistic-bernoulli", base_logit=-3.0).base_logit == -3.0
    assert envs.make("slice-sum", n_arms=4, dim=4).dim == 4
    assert envs.make("logistic-bernoulli", context_std=0.0).context_std == 0.0


@pytest.mark.parametrize("intercept", [True, False])
def test_intercept_feature(intercept):
    w = envs.make("linear-gaussian", n_arms=3, dim=4, intercept=intercept)
    x, _ = contexts(w, w.sample_params(jax.random.key(0)), 4000, seed=5)
    if intercept:
        np.testing.assert_array_equal(x[:, 0], 1.0)
    else:
        assert abs(x[:, 0].std() - 1.0) < 0.05 and abs(x[:, 0].mean()) < 0.05
    assert np.all(np.abs(x[:, 1:].std(0) - 1.0) < 0.05)
    with pytest.raises(ValueError, match="env.intercept must be true or false"):
        envs.make("linear-gaussian", intercept=1)


@pytest.mark.parametrize("name", ["linear-gaussian", "logistic-bernoulli"])
@pytest.mark.parametrize("intercept", [True, False])
def test_context_std_sets_the_spread_of_contexts(name, intercept):
    """Features other than the intercept ~ N(0, s²): mean within Z s.e. of 0 and std
    within Z s.e. of s; at s = 0 every context is (1, 0, …, 0) (or 0 without intercept),
    and at s = 1 the contexts are bit for bit the default world's."""
    w = envs.make(name, n_arms=3, dim=4, intercept=intercept, context_std=2.5)
    params = w.sample_params(jax.random.key(0))
    x, _ = contexts(w, params, N, seed=5)
    free = x[:, 1:] if intercept else x
    np.testing.assert_array_less(np.abs(free.mean(0)), Z * 2.5 / np.sqrt(N))
    np.testing.assert_array_less(np.abs(free.std(0) - 2.5), Z * 2.5 / np.sqrt(2 * N))
    flat = envs.make(name, n_arms=3, dim=4, intercept=intercept, context_std=0.0)
    x0, _ = contexts(flat, params, 100, seed=5)
    want = np.zeros(4, np.float32)
    want[0] = 1.0 if intercept else 0.0
    np.testing.assert_array_equal(x0, np.broadcast_to(want, (100, 4)))
    unit = envs.make(name, n_arms=3, dim=4, intercept=intercept, context_std=1.0)
    default = envs.make(name, n_arms=3, dim=4, intercept=intercept)
    np.testing.assert_array_equal(contexts(unit, params, 100, seed=5)[0],
                                  contexts(default, params, 100, seed=5)[0])
