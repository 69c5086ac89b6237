"""Reward models: closed forms, out-of-fold honesty, a nonlinear fit, config validation."""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # noqa: F401
from estimators import reward_models as rm


def _data(n=600, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    a = rng.integers(0, k, n).astype(np.int32)
    theta = rng.standard_normal((k, d))
    r = (np.einsum("nd,nd->n", X, theta[a]) + 0.3 + 0.1 * rng.standard_normal(n))
    return X, a, r.astype(np.float32)


def test_ridge_matches_numpy():
    X, a, r = _data()
    w = np.random.default_rng(1).random(len(a)).astype(np.float32)
    model = rm.ridge(3, reg=0.5)
    theta = np.asarray(model.fit(None, X, a, r, w))
    Z = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
    for k in range(3):
        m = (a == k) * w
        want = np.linalg.solve(0.5 * np.eye(4) + (Z * m[:, None]).T @ Z, (Z * m[:, None]).T @ r)
        np.testing.assert_allclose(theta[k], want, rtol=1e-4, atol=1e-5)
    q = np.asarray(model.predict(theta, X))
    np.testing.assert_allclose(q, Z @ theta.T.astype(np.float64), rtol=1e-4, atol=1e-5)


def test_cross_fit_never_scores_a_row_with_a_model_that_saw_it():
    X, a, r = _data()
    model = rm.ridge(3, reg=1.0)
    key = jax.random.key(0)
    q = np.asarray(rm.cross_fit(model, key, X, a, r, n_folds=3))
    folds = np.asarray(rm.fold_ids(jax.random.split(key)[0], len(a), 3))
    assert sorted(np.bincount(folds)) == [200, 200, 200]
    # corrupt one row's reward: only the *other* folds' predictions may change
    r2 = r.copy()
    r2[7] += 100.0
    q2 = np.asarray(rm.cross_fit(model, key, X, a, r2, n_folds=3))
    same_fold = folds == folds[7]
    np.testing.assert_array_equal(q2[same_fold], q[same_fold])
    assert np.abs(q2[~same_fold] - q[~same_fold]).max() > 1e-3
    # in-sample fitting (1 fold) does let the row see itself
    q_in = np.asarray(rm.cross_fit(model, key, X, a, r, n_folds=1))
    q_in2 = np.asarray(rm.cross_fit(model, key, X, a, r2, n_folds=1))
    assert abs(q_in2[7, a[7]] - q_in[7, a[7]]) > 1e-3


def test_mlp_fits_a_nonlinear_reward_better_than_ridge():
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, (1500, 2)).astype(np.float32)
    a = rng.integers(0, 2, 1500).astype(np.int32)
    mu = np.stack([np.sin(2 * X[:, 0]), X[:, 1] ** 2], 1)
    r = (mu[np.arange(1500), a] + 0.1 * rng.standard_normal(1500)).astype(np.float32)
    w = jnp.ones(1500)
    errs = {}
    for model in (rm.ridge(2), rm.mlp(2)):  # the defaults of conf/reward_model/mlp.yaml
        q = model.predict(model.fit(jax.random.key(0), X, a, r, w), X)
        errs[model.name] = float(np.mean((np.asarray(q) - mu) ** 2))
    assert errs["mlp"] < 0.05 < errs["ridge"], errs


def test_ridge_sums_in_chunks_equal_the_direct_sums():
    """Above 8,192 rows the per-action Gram matrices are summed chunk by chunk (with a
    zero-weight padded tail); the fit must equal NumPy's direct per-action ridge."""
    rng = np.random.default_rng(5)
    n, k, d = 20_001, 3, 4
    x = rng.standard_normal((n, d)).astype(np.float32)
    a = rng.integers(0, k, n)
    r = rng.standard_normal(n).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    theta = np.asarray(rm.ridge(k, reg=2.0).fit(None, jnp.asarray(x), jnp.asarray(a),
                                                jnp.asarray(r), jnp.asarray(w)))
    z = np.hstack([x, np.ones((n, 1), np.float32)]).astype(np.float64)
    for arm in range(k):
        s = a == arm
        gram = (z[s] * w[s, None]).T @ z[s] + 2.0 * np.eye(d + 1)
        np.testing.assert_allclose(theta[arm], np.linalg.solve(gram, (z[s] * w[s, None]).T
                                                               @ r[s]), rtol=2e-3, atol=2e-4)


def test_mlp_full_batch_and_minibatch_both_fit():
    """``batch_size=0`` trains on every row each step; a minibatch fit of the same length
    reaches a comparable error (both well under the noise-free signal's variance 0.5)."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (800, 2)).astype(np.float32)
    a = rng.integers(0, 2, 800).astype(np.int32)
    mu = np.stack([np.sin(2 * X[:, 0]), X[:, 1] ** 2], 1)
    r = (mu[np.arange(800), a] + 0.1 * rng.standard_normal(800)).astype(np.float32)
    for bs in (0, 128):
        model = rm.mlp(2, steps=1500, batch_size=bs, learning_rate=0.01)
        q = model.predict(model.fit(jax.random.key(0), X, a, r, jnp.ones(800)), X)
        assert float(np.mean((np.asarray(q) - mu) ** 2)) < 0.05, bs


def test_held_out_rows_do_not_change_a_minibatch_fit():
    """Rows of weight 0 may be drawn into a minibatch but contribute nothing: changing
    their rewards leaves the fitted predictions unchanged."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    a = rng.integers(0, 3, 300).astype(np.int32)
    r = rng.normal(size=300).astype(np.float32)
    w = (np.arange(300) % 2).astype(np.float32)
    r2 = np.where(w == 0, 100.0, r).astype(np.float32)
    model = rm.mlp(3, steps=50, batch_size=64)
    q1, q2 = (model.predict(model.fit(jax.random.key(1), X, a, rr, w), X) for rr in (r, r2))
    np.testing.assert_allclose(np.asarray(q1), np.asarray(q2), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cfg, message", [
    ({"name": "forest"}, "reward_model.name must be one of ridge, ridge_shared, mlp"),
    ({"name": "mlp", "reg": 1.0}, "reward_model (mlp) has no key 'reg'"),
    ({"name": "mlp", "steps": 0}, "reward_model.steps must be an integer in [1"),
    ({"name": "mlp", "learning_rate": -1.0}, "reward_model.learning_rate must be a number"),
    ({"name": "ridge", "reg": -1.0}, "reward_model.reg must be a number in [0.0"),
    ({"name": "ridge", "n_folds": 0}, "reward_model.n_folds must be an integer in [1"),
    ({"name": "ridge", "intercept": "yes"}, "reward_model.intercept must be true or false"),
])
def test_reward_model_config_is_validated(cfg, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        rm.from_config(cfg, 3)


def test_reward_model_config_builds_the_configured_model():
    """Every file of conf/reward_model/ builds its model with its own values."""
    import yaml

    root = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "reward_model")
    for fname in sorted(os.listdir(root)):
        with open(os.path.join(root, fname)) as f:
            cfg = yaml.safe_load(f)
        model, n_folds = rm.from_config(cfg, 4, arm_features=3)
        assert model.name == cfg["name"] and n_folds == cfg["n_folds"]
    model, _ = rm.from_config({"name": "mlp", "hidden": 7, "n_folds": 2}, 4)
    params = model.fit(jax.random.key(0), jnp.ones((20, 3)), jnp.zeros(20, jnp.int32),
                       jnp.ones(20), jnp.ones(20))
    assert params["w1"].shape == (3, 7) and params["w2"].shape == (7, 4)


def test_shared_ridge_takes_the_datas_features_per_arm_and_refuses_a_contradiction():
    """``arm_features: null`` (the config file's default) is the data's; a shared context
    (0) with null, or a value other than the data's, is refused by name."""
    cfg = {"name": "ridge_shared", "arm_features": None}
    X = jnp.asarray(np.random.default_rng(0).standard_normal((30, 12)), jnp.float32)
    a, r = jnp.arange(30) % 4, jnp.ones(30)
    model, _ = rm.from_config(cfg, 4, arm_features=3)
    assert model.predict(model.fit(None, X, a, r, jnp.ones(30)), X).shape == (30, 4)
    with pytest.raises(ValueError, match="arm_features is null and the data has one"):
        rm.from_config(cfg, 4, arm_features=0)
    with pytest.raises(ValueError, match="arm_features=2, but the data has 3 features"):
        rm.from_config({**cfg, "arm_features": 2}, 4, arm_features=3)
    assert rm.from_config({**cfg, "arm_features": 3}, 4)[0].name == "ridge_shared"


def test_shared_ridge_on_per_arm_features_matches_numpy_and_beats_per_arm_ridge():
    """Contexts of K = 4 arms × d = 3 features with one θ shared by the arms: the shared
    model equals the weighted closed form on the played arms' features (and an
    intercept), predicts every arm from its own features, and is closer to the true
    means than one ridge per action on the flattened context with the same rows."""
    rng = np.random.default_rng(5)
    n, k, d = 400, 4, 3
    X = rng.standard_normal((n, k * d)).astype(np.float32)
    a = rng.integers(0, k, n).astype(np.int32)
    theta = np.array([0.5, -1.0, 2.0])
    means = X.reshape(n, k, d) @ theta + 0.2
    r = (means[np.arange(n), a] + 0.1 * rng.standard_normal(n)).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    model = rm.ridge_shared(k, arm_features=d, reg=0.5)
    fitted = np.asarray(model.fit(None, X, a, r, w), np.float64)
    z = np.hstack([X.reshape(n, k, d)[np.arange(n), a], np.ones((n, 1))]).astype(np.float64)
    want = np.linalg.solve(0.5 * np.eye(d + 1) + (z * w[:, None]).T @ z, (z * w[:, None]).T @ r)
    np.testing.assert_allclose(fitted, want, rtol=1e-4, atol=1e-5)
    q = np.asarray(model.predict(jnp.asarray(fitted, jnp.float32), X))
    assert q.shape == (n, k)
    per_arm = rm.ridge(k, reg=0.5)
    q_per_arm = np.asarray(per_arm.predict(per_arm.fit(None, X, a, r, w), X))
    assert np.abs(q - means).mean() < 0.5 * np.abs(q_per_arm - means).mean()
    with pytest.raises(ValueError, match="arm_features=5 needs contexts of n_arms·d = 20"):
        rm.ridge_shared(k, arm_features=5).fit(None, X, a, r, w)
