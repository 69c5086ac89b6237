"""The drifts' states, stepped by hand: each family moves the world exactly as its
docstring says, and bad options are refused by name."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # noqa: F401  (XLA flags before JAX starts)
from common.errors import ConfigError
from envs.regret.study import validate
from envs.worlds import drift_names, make, make_drift

K, D = 3, 4
ROOT = jax.random.key(7)


def _states(world, n_rounds, key=ROOT):
    """The params and the state every round is played in (rounds 0..n_rounds-1)."""
    params = world.sample_params(jax.random.fold_in(key, 0))
    state = world.init_state(params, jax.random.fold_in(key, 1))
    step = jax.jit(world.step)
    step_keys = [jax.random.fold_in(jax.random.fold_in(key, 2), t) for t in range(n_rounds)]
    states = []
    for t in range(n_rounds):
        state = step(params, state, step_keys[t], jnp.int32(t))
        states.append(state)
    return params, states, step_keys


# ------------------------------------------------------------------------------ abrupt


def test_abrupt_changes_exactly_at_the_given_rounds():
    base = make("linear-gaussian", n_arms=K, dim=D)
    world = make_drift("abrupt", base, change_rounds=[5, 12])
    params, states, keys = _states(world, 20)
    thetas = np.stack([np.asarray(s.base_params.theta) for s in states])
    np.testing.assert_array_equal(thetas[0], params.base.theta)
    changed = [t for t in range(1, 20) if not np.array_equal(thetas[t], thetas[t - 1])]
    assert changed == [5, 12]
    fresh = base.sample_params(jax.random.fold_in(keys[12], 3))
    np.testing.assert_array_equal(thetas[12], fresh.theta)
    for s in states:  # the noise scale is not an arm leaf: it never changes
        assert s.base_params.noise_std == params.base.noise_std


def test_abrupt_fraction_redraws_a_subset_of_arms():
    base = make("linear-gaussian", n_arms=8, dim=D)
    world = make_drift("abrupt", base, change_rounds=[3], fraction=0.5)
    params, states, keys = _states(world, 5)
    before, after = np.asarray(states[2].base_params.theta), np.asarray(states[3].base_params.theta)
    replaced = np.asarray(jax.random.uniform(jax.random.fold_in(keys[3], 4), (8,)) < 0.5)
    assert 0 < replaced.sum() < 8
    fresh = np.asarray(base.sample_params(jax.random.fold_in(keys[3], 3)).theta)
    np.testing.assert_array_equal(after[replaced], fresh[replaced])
    np.testing.assert_array_equal(after[~replaced], before[~replaced])


def test_abrupt_poisson_changes_at_the_rate():
    rate, n = 0.2, 4000
    world = make_drift("abrupt", make("linear-gaussian", n_arms=K, dim=D), rate=rate)
    keys = jax.random.split(ROOT, n)
    params = world.sample_params(ROOT)
    changes = np.asarray(jax.vmap(world.is_change, (None, 0, 0))(params, keys, jnp.arange(n)))
    p = -math.expm1(-rate)
    assert abs(changes.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)


# ----------------------------------------------------------------------------- gradual


def test_gradual_increments_have_the_configured_std():
    rate, n = 0.05, 4000
    world = make_drift("gradual", make("linear-gaussian", n_arms=K, dim=D), rate=rate)
    params = world.sample_params(ROOT)
    state = world.init_state(params, ROOT)
    keys = jax.random.split(jax.random.key(1), n)
    moved = jax.vmap(world.step, in_axes=(None, None, 0, None))(params, state, keys,
                                                               jnp.int32(7))
    steps = np.concatenate([
        (np.asarray(moved.base_params.theta) - np.asarray(params.base.theta)).ravel(),
        (np.asarray(moved.base_params.bias) - np.asarray(params.base.bias)).ravel()])
    se = rate / math.sqrt(steps.size)
    assert abs(steps.mean()) < 4 * se
    assert abs(steps.std() / rate - 1) < 4 / math.sqrt(2 * steps.size)  # 4 s.e. of the std
    np.testing.assert_array_equal(moved.base_params.noise_std, params.base.noise_std)
    again = world.step(params, state, keys[0], jnp.int32(7))  # deterministic given its key
    np.testing.assert_array_equal(again.base_params.theta, moved.base_params.theta[0])


# ---------------------------------------------------------------------------- seasonal


def test_seasonal_modulation_is_the_formula():
    base = make("linear-gaussian", n_arms=K, dim=D)
    world = make_drift("seasonal", base, period=7.0, amplitude=0.8)
    params, states, _ = _states(world, 30)
    x = jax.random.normal(jax.random.key(3), (D,))
    phase = np.asarray(params.extra.phase)
    assert np.all((phase >= 0) & (phase < 2 * np.pi))
    for t, s in enumerate(states):
        angle = np.asarray(s.extra.angle)
        assert np.all((angle >= 0) & (angle < 2 * np.pi))
        want = 2 * np.pi * t / 7.0 + phase  # equal mod 2π, up to the accumulated rounding
        np.testing.assert_allclose(np.cos(angle), np.cos(want), atol=1e-5)
        np.testing.assert_allclose(np.sin(angle), np.sin(want), atol=1e-5)
        shift = 0.8 * np.sin(want)
        np.testing.assert_allclose(world.shift(params, s), shift, atol=1e-5)
        np.testing.assert_allclose(world.mean_rewards(params, s, x),
                                   base.mean_rewards(params.base, (), x) + shift,
                                   rtol=1e-5, atol=1e-5)


def test_seasonal_binary_worlds_shift_the_logit():
    base = make("logistic-bernoulli", n_arms=K, dim=D, scale=2.0, base_logit=-1.0)
    world = make_drift("seasonal", base, period=5.0, amplitude=3.0)
    params, states, _ = _states(world, 6)
    x = jax.random.normal(jax.random.key(3), (D,))
    logit = params.base.theta @ x + params.base.bias
    for s in states:
        mean = world.mean_rewards(params, s, x)
        np.testing.assert_allclose(mean, jax.nn.sigmoid(logit + world.shift(params, s)), rtol=1e-5,
                                   atol=1e-6)
        assert np.all((np.asarray(mean) >= 0) & (np.asarray(mean) <= 1))


# --------------------------------------------------------------------- covariate shift


def test_covariate_shift_moves_contexts_and_keeps_the_reward_function():
    base = make("linear-gaussian", n_arms=K, dim=D)
    world = make_drift("covariate-shift", base, rate=0.1, jump_rounds=[4], jump_size=2.0)
    params, states, _ = _states(world, 8)
    u = np.asarray(params.extra.direction)
    assert u[0] == 0 and np.isclose(np.linalg.norm(u), 1.0)
    key = jax.random.key(11)
    x_base, mask_base = base.sample_context(key, params.base, ())
    for t, s in enumerate(states):
        offset = 0.1 * t + 2.0 * (t >= 4)
        np.testing.assert_allclose(s.extra.offset, offset, rtol=1e-6)
        x, mask = world.sample_context(key, params, s)
        np.testing.assert_allclose(x - x_base, offset * u, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(mask, mask_base)
        np.testing.assert_array_equal(world.mean_rewards(params, s, x),
                                      base.mean_rewards(params.base, (), x))


# ------------------------------------------------------------------------ bad options


@pytest.mark.parametrize("kind, options, message", [
    ("abrupt", {"rate": -1}, r"drift\.rate must be a number in \[0.0, 10.0\], got -1"),
    ("abrupt", {"change_rounds": [5, 3]}, r"drift\.change_rounds must be .*got \[5, 3\]"),
    ("abrupt", {"change_rounds": [0]}, r"drift\.change_rounds must be .*got \[0\]"),
    ("abrupt", {"fraction": 0.0}, r"drift\.fraction must be .*got 0.0"),
    ("gradual", {"rate": -0.1}, r"drift\.rate must be .*got -0.1"),
    ("seasonal", {"period": 0}, r"drift\.period must be .*got 0"),
    ("seasonal", {"amplitude": -1.0}, r"drift\.amplitude must be .*got -1.0"),
    ("covariate-shift", {"jump_rounds": [2.5]}, r"drift\.jump_rounds must be .*got \[2.5\]"),
])
def test_bad_drift_options_are_refused_by_name(kind, options, message):
    with pytest.raises(ValueError, match=message):
        make_drift(kind, make("linear-gaussian"), **options)


def test_unknown_drifts_keys_and_bases_are_errors():
    base = make("linear-gaussian")
    with pytest.raises(ConfigError, match="unknown drift 'sudden'; allowed: abrupt, gradual"):
        make_drift("sudden", base)
    with pytest.raises(ConfigError,
                       match="drift 'gradual' has no key 'period'; allowed: mode, rate"):
        make_drift("gradual", base, period=3)
    with pytest.raises(ConfigError, match="covariate-shift.*got env 'supervised'"):
        make_drift("covariate-shift", make("supervised", dataset="iris"))


def test_a_study_refuses_rounds_beyond_its_horizon():
    cfg = {"env": {"name": "linear-gaussian"}, "bandit": {"lin_ucb": {}},
           "study": {"n_seeds": 2, "n_rounds": 100},
           "drift": {"name": "abrupt", "change_rounds": [50, 100]}}
    with pytest.raises(ValueError, match=r"drift\.change_rounds: round 100 is beyond the "
                                         r"horizon study\.n_rounds=100"):
        validate(cfg)
    cfg["drift"]["change_rounds"] = [50, 99]
    validate(cfg)
    cfg["drift"] = {"name": "covariate-shift", "jump_rounds": [100]}
    with pytest.raises(ValueError, match=r"drift\.jump_rounds: round 100 is beyond"):
        validate(cfg)


# ------------------------------------------------------------------------ configs

CONF = os.path.join(os.path.dirname(os.path.abspath(envs.__file__)), os.pardir, "conf")
DRIFT_CONFIGS = sorted(os.path.splitext(p)[0] for p in os.listdir(os.path.join(CONF, "drift")))


def test_every_drift_config_composes_and_validates():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    assert set(drift_names()) <= {c.replace("_", "-") for c in DRIFT_CONFIGS}
    with initialize_config_dir(os.path.abspath(CONF), version_base=None):
        for name in DRIFT_CONFIGS:  # the families, and presets for a 10,000-round horizon
            cfg = OmegaConf.to_container(compose("simulate", overrides=[
                f"drift={name}", "study.n_seeds=2", "study.n_rounds=10000"]), resolve=True)
            validate(cfg)
        cfg = OmegaConf.to_container(compose("simulate", overrides=[
            "drift=abrupt", "drift.change_rounds=[100,400]", "study.n_rounds=300"]))
    with pytest.raises(ValueError, match=r"drift\.change_rounds: round 400 is beyond"):
        validate(cfg)
