"""The nonlinear benchmark worlds of neural bandits: the wheel (Riquelme et al. 2018) and
NeuralUCB's synthetic problems (Zhou et al. 2020), with per-arm features.

Statistical checks allow ``Z`` standard errors; every random input has a fixed seed.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # sets XLA flags; imported before any JAX computation runs
from common.errors import ConfigError
from envs.engine import simulate

Z = 4.0
N = 100_000


def draw_contexts(w, params, n, seed):
    keys = jax.random.split(jax.random.key(seed), n)
    x, _ = jax.jit(jax.vmap(w.sample_context, in_axes=(0, None, None)))(keys, params, ())
    return x


def realised(w, params, x, n, seed):
    """(n, K) rewards at context ``x``: the engine's two-step form, the round's one noise
    number realised for every arm."""
    keys = jax.random.split(jax.random.key(seed), n)

    @jax.jit
    def one(k):
        noise = w.draw_reward_noise(k, params, ())
        return w.realise(params, w.mean_rewards(params, (), x), noise)

    return np.asarray(jax.vmap(one)(keys), np.float64)


def assert_noise_std(rewards, mean, sd):
    """Per-arm mean ``mean`` and standard deviation ``sd``, within Z standard errors."""
    n = len(rewards)
    np.testing.assert_array_less(np.abs(rewards.mean(0) - mean), Z * sd / math.sqrt(n))
    np.testing.assert_array_less(np.abs(rewards.std(0, ddof=1) - sd),
                                 Z * sd / math.sqrt(2 * n))


# ----------------------------------------------------------------------------- wheel


def wheel_closed_form(x, delta, mu):
    """The paper's means, (n, 5) float64, written case by case."""
    out = []
    for x1, x2 in x:
        row = [mu[0], mu[1], mu[1], mu[1], mu[1]]
        if math.hypot(x1, x2) >= delta:
            quadrant = {(True, True): 1, (True, False): 2, (False, True): 3,
                        (False, False): 4}[(x1 > 0, x2 > 0)]
            row[quadrant] = mu[2]
        out.append(row)
    return np.array(out)


def test_wheel_mean_rewards_at_hand_picked_points():
    """Inside δ arm 0 is best and arms 1–4 pay μ₂; on the rim the quadrant's arm (by the
    signs of x₁, x₂, a zero coordinate counting as ≤ 0) pays μ₃ and arm 0 keeps μ₁."""
    mu = (2.5, -0.5, 7.0)
    w = envs.make("wheel", delta=0.6, mu_1=mu[0], mu_2=mu[1], mu_3=mu[2])
    assert (w.n_arms, w.dim, w.arm_features) == (5, 2, 0)
    params = w.sample_params(jax.random.key(0))
    points = np.array([[0.1, 0.2], [-0.4, 0.3], [0.0, 0.0], [0.59, 0.0],  # inside
                       [0.7, 0.5], [0.7, -0.5], [-0.7, 0.5], [-0.7, -0.5],  # rim, quadrants
                       [0.0, 0.9], [0.9, 0.0], [0.0, -0.61]], np.float32)  # on the axes
    got = jax.vmap(w.mean_rewards, in_axes=(None, None, 0))(params, (), jnp.asarray(points))
    want = wheel_closed_form(points.astype(np.float64), 0.6, mu)
    np.testing.assert_array_equal(np.asarray(got), want.astype(np.float32))
    np.testing.assert_array_equal(np.argmax(want[4:8], 1), [1, 2, 3, 4])  # one per quadrant
    np.testing.assert_array_equal(np.asarray(got)[[8, 9, 10]].argmax(1), [3, 2, 4])


def test_wheel_contexts_are_uniform_in_the_disc_and_the_rim_has_its_share():
    """‖x‖ ≤ 1; P(‖x‖ ≤ r) = r², each quadrant ¼, and the share of rounds whose best arm
    is a quadrant arm (‖x‖ ≥ δ) is 1 − δ², within Z binomial standard errors."""
    w = envs.make("wheel", delta=0.7, p_eligible=1.0)
    params = w.sample_params(jax.random.key(1))
    x = draw_contexts(w, params, N, seed=2)
    assert x.shape == (N, 2) and x.dtype == jnp.float32
    norm = np.linalg.norm(np.asarray(x, np.float64), axis=1)
    assert norm.max() <= 1.0 + 1e-6

    def within(share, p):
        assert abs(share - p) < Z * math.sqrt(p * (1 - p) / N), (share, p)

    for r in (0.2, 0.5, 0.8, 0.95):
        within((norm <= r).mean(), r * r)
    xn = np.asarray(x)
    for s1 in (1, -1):
        for s2 in (1, -1):
            within(((s1 * xn[:, 0] > 0) & (s2 * xn[:, 1] > 0)).mean(), 0.25)
    best = np.asarray(jax.vmap(w.mean_rewards, in_axes=(None, None, 0))(params, (), x))
    within((best.argmax(1) != 0).mean(), 1 - 0.7**2)


def test_wheel_reward_noise_std():
    """Realised rewards at a rim context: each arm's mean, with the stated noise std."""
    w = envs.make("wheel", delta=0.5, noise_std=0.3)
    params = w.sample_params(jax.random.key(3))
    x = jnp.asarray([-0.6, 0.6], jnp.float32)
    y = realised(w, params, x, 40_000, seed=4)
    assert_noise_std(y, np.array([1.2, 1.0, 1.0, 50.0, 1.0]), 0.3)


def test_wheel_delta_grid_gives_each_grid_point_its_delta():
    """A list of δ values is a grid: ``swept`` names it, grid point g's params hold δ_g,
    and a plain ``sample_params`` refuses the grid."""
    deltas = [0.5, 0.7, 0.9, 0.95, 0.99]
    w = envs.make("wheel", delta=deltas)
    assert w.swept() == {"env_delta": deltas}
    got = jax.vmap(w.sample_params_at, in_axes=(None, 0))(jax.random.key(0), jnp.arange(5))
    np.testing.assert_array_equal(np.asarray(got.delta), np.float32(deltas))
    with pytest.raises(ConfigError, match="delta given as a list"):
        w.sample_params(jax.random.key(0))
    assert envs.make("wheel", delta=0.9).swept() == {}


def test_wheel_runs_in_the_engine_and_a_delta_grid_plays_each_value():
    """LinUCB on the default wheel runs with finite regret; the same run as grid point 1
    of δ ∈ {0.5, 0.95} is bit for bit the single-δ run."""
    policy = bandits.make("lin_ucb", 5, 2)
    one = simulate(policy, envs.make("wheel"), n_rounds=200, n_seeds=4)
    assert np.isfinite(one.final_regret).all() and (one.final_regret >= 0).all()
    grid = simulate(policy, envs.make("wheel", delta=[0.5, 0.95]), n_rounds=200, n_seeds=4)
    np.testing.assert_array_equal(grid.grid["env_delta"], np.float32([0.5, 0.95]))
    np.testing.assert_array_equal(grid.final_regret[1], one.final_regret[0])
    assert not np.array_equal(grid.final_regret[0], grid.final_regret[1])


# ------------------------------------------------------------------- NeuralUCB's worlds


def numpy_h(function, x, a, A):
    """h of each row of ``x`` (n, K, d), float64."""
    if function == "h1":
        return 10 * (x @ a) ** 2
    if function == "h2":
        return np.einsum("nki,ji,jl,nkl->nk", x, A, A, x)  # xᵀAᵀAx
    return np.cos(3 * (x @ a))


@pytest.mark.parametrize("function", ["h1", "h2", "h3"])
def test_neural_synthetic_mean_rewards_match_numpy(function):
    """Per-arm features of unit norm (arm-major in the flat context); a of unit norm;
    mean_rewards is h of each arm's own features."""
    w = envs.make("neural-synthetic", function=function, n_arms=3, arm_features=5,
                  noise_std=0.5, p_eligible=0.7)
    assert (w.n_arms, w.arm_features, w.dim) == (3, 5, 15)
    params = w.sample_params(jax.random.key(5))
    a, A = np.asarray(params.a, np.float64), np.asarray(params.A, np.float64)
    assert A.shape == (5, 5) and abs(np.linalg.norm(a) - 1) < 1e-6
    x = draw_contexts(w, params, 256, seed=6)
    per_arm = np.asarray(x, np.float64).reshape(256, 3, 5)
    np.testing.assert_allclose(np.linalg.norm(per_arm, axis=-1), 1.0, atol=1e-6)
    got = jax.vmap(w.mean_rewards, in_axes=(None, None, 0))(params, (), x)
    np.testing.assert_allclose(np.asarray(got), numpy_h(function, per_arm, a, A),
                               rtol=1e-5, atol=1e-5)


def test_neural_synthetic_features_are_uniform_on_the_sphere_and_noise_has_its_std():
    """Each coordinate of an arm's features has mean 0 and second moment 1/d (uniform on
    the sphere), arms are independent; realised rewards have the stated noise std."""
    d = 6
    w = envs.make("neural-synthetic", function="h3", n_arms=2, arm_features=d,
                  noise_std=0.8)
    params = w.sample_params(jax.random.key(7))
    x = np.asarray(draw_contexts(w, params, N, seed=8), np.float64).reshape(N, 2, d)
    # x_j² has variance 2(d − 1)/(d²(d + 2)) on the sphere
    sd_sq = math.sqrt(2 * (d - 1) / (d * d * (d + 2)) / N)
    np.testing.assert_array_less(np.abs((x**2).mean(0) - 1 / d), Z * sd_sq)
    np.testing.assert_array_less(np.abs(x.mean(0)), Z / math.sqrt(d * N))
    cross = (x[:, 0, :] * x[:, 1, :]).sum(1)  # x_0ᵀx_1: mean 0, variance 1/d
    assert abs(cross.mean()) < Z / math.sqrt(d * N)
    ctx = jnp.asarray(x[0].reshape(-1), jnp.float32)
    mean = np.asarray(w.mean_rewards(params, (), ctx), np.float64)
    assert_noise_std(realised(w, params, ctx, 40_000, seed=9), mean, 0.8)


# ------------------------------------------------------------------------- registry


def test_bad_options_name_the_option_and_the_value():
    for name, option, value, message in [
        ("wheel", "delta", 1.5, r"env\.delta must be a number in \(0\.0, 1\.0\), got 1\.5"),
        ("wheel", "delta", [0.5, 0.0], r"env\.delta\[1\] must be .*got 0\.0"),
        ("wheel", "delta", [], r"env\.delta must be .* a non-empty list of them, got \[\]"),
        ("wheel", "noise_std", -1.0, r"env\.noise_std must be .*got -1\.0"),
        ("neural-synthetic", "function", "h4", r"env\.function must be one of h1, h2, "
                                               r"h3, got 'h4'"),
        ("neural-synthetic", "arm_features", 0, r"env\.arm_features must be .*got 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            envs.make(name, **{option: value})
    with pytest.raises(ConfigError, match="env 'wheel' has no key 'dim'"):
        envs.make("wheel", dim=3)


def test_shared_context_worlds_have_no_arm_features():
    assert envs.make("linear-gaussian").arm_features == 0
    assert envs.make("neural-synthetic").arm_features == 20
    assert envs.make("neural-synthetic").dim == 80
