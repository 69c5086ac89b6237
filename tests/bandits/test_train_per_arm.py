"""Training from logs for per-arm features and neural policies: the shared ridge equals
its closed form, a neural policy replays the rows (its buffer holds exactly the last N,
it trains on its cadence, and it learns), and checkpoints keep nested states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX computes)
from bandits.checkpoints import load_checkpoint, save_checkpoint
from bandits.train import train, train_checkpoint

K, D = 3, 4  # arms, features per arm


def _per_arm_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, K * D)).astype(np.float32)
    a = rng.integers(0, K, n)
    theta = np.array([1.0, -0.5, 0.25, 2.0])
    r = (x.reshape(n, K, D)[np.arange(n), a] @ theta).astype(np.float32)
    return x, a, r


@pytest.mark.parametrize("name", ["lin_ucb_shared", "lin_ts_shared"])
def test_shared_ridge_from_logs_is_the_closed_form_on_the_logged_arms_features(name):
    """A = reg·I + Σ z zᵀ and θ = A⁻¹ Σ z r over z = the logged arm's own features, also
    when training continues from a state."""
    policy = bandits.make(name, K, K * D, arm_features=D, reg=2.0)
    x, a, r = _per_arm_rows(900)
    s = train(policy, policy.default_params, x[:500], a[:500], r[:500], batch_rows=77)
    s = train(policy, policy.default_params, x[500:], a[500:], r[500:], state=s)
    z = x.reshape(-1, K, D)[np.arange(900), a].astype(np.float64)
    gram = 2.0 * np.eye(D) + z.T @ z
    np.testing.assert_allclose(s.a_inv, np.linalg.inv(gram), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(s.theta, np.linalg.solve(gram, z.T @ r), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(s.theta, [1.0, -0.5, 0.25, 2.0], atol=0.01)


def test_train_checkpoint_gives_a_per_arm_policy_the_datas_features_per_arm():
    x, a, r = _per_arm_rows(300)
    ck = train_checkpoint("lin_ucb_shared", {}, x, a, r, n_arms=K, arm_features=D)
    assert ck.hyperparameters == {"arm_features": D}
    assert ck.state.a_inv.shape == (D, D)
    with pytest.raises(ValueError, match="arm_features must be 0"):
        train_checkpoint("lin_ucb_shared", {"arm_features": 5}, x, a, r, n_arms=K)


NEURAL = dict(hidden=16, buffer=50, train_every=10, n_steps=3, batch=8)


def test_neural_replay_keeps_the_last_rows_and_trains_on_its_cadence():
    """After 237 rows: the ring holds rows 187..236 (row i in slot i mod 50), 23
    trainings of 3 Adam steps happened (the optimiser's count is 69), and training in two
    calls split at a multiple of train_every gives the same state bit for bit."""
    policy = bandits.make("neural_ucb", K, K * D, arm_features=D, **NEURAL)
    x, a, r = _per_arm_rows(237, seed=1)
    s = train(policy, policy.default_params, x, a, r, batch_rows=64)
    rows = np.arange(187, 237)
    slot = rows % 50
    np.testing.assert_array_equal(np.asarray(s.buffer.inputs)[slot],
                                  x.reshape(-1, K, D)[rows, a[rows]])
    np.testing.assert_array_equal(np.asarray(s.buffer.action)[slot], a[rows])
    np.testing.assert_array_equal(np.asarray(s.buffer.reward)[slot], r[rows])
    assert int(s.buffer.count) == 237 and int(s.opt.count) == 23 * 3
    assert float(jnp.min(s.stats)) >= float(policy.default_params.reg)
    assert float(jnp.max(s.stats)) > float(policy.default_params.reg)  # observed arms
    half = train(policy, policy.default_params, x[:120], a[:120], r[:120])
    both = train(policy, policy.default_params, x[120:], a[120:], r[120:], state=half)
    for got, want in zip(jax.tree_util.tree_leaves(both), jax.tree_util.tree_leaves(s)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_a_neural_policy_trained_on_logs_predicts_their_rewards():
    """On 3,000 logged rows with r = z_aᵀθ, the trained network's mean squared error on
    fresh rows is under 5% of the rewards' variance (a network that did not train is
    near 100%)."""
    policy = bandits.make("neural_eps_greedy", K, K * D, arm_features=D, hidden=32,
                          buffer=3000, train_every=10, n_steps=20, batch=64)
    x, a, r = _per_arm_rows(3000, seed=2)
    s = train(policy, policy.default_params, x, a, r)
    xt, at, rt = _per_arm_rows(1000, seed=3)
    from bandits.neural.network import apply
    pred = np.asarray(apply(s.net, jnp.asarray(xt.reshape(-1, K, D)[np.arange(1000), at])))
    untrained = policy.init(policy.default_params, jax.random.key(0)).net
    pred0 = np.asarray(apply(untrained, jnp.asarray(xt.reshape(-1, K, D)[np.arange(1000),
                                                                              at])))
    assert np.mean((pred - rt) ** 2) < 0.05 * np.var(rt)
    assert np.mean((pred0 - rt) ** 2) > 0.5 * np.var(rt)


def test_a_neural_checkpoint_keeps_its_nested_state_and_decides_the_same(tmp_path):
    x, a, r = _per_arm_rows(400, seed=4)
    ck = train_checkpoint("neural_linear", NEURAL, x, a, r, n_arms=K, arm_features=D)
    path = str(tmp_path / "neural.npz")
    save_checkpoint(path, ck)
    back = load_checkpoint(path, algorithm="neural_linear", n_arms=K, dim=K * D)
    for got, want in zip(jax.tree_util.tree_leaves(back.state),
                         jax.tree_util.tree_leaves(ck.state)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    p1, p2 = ck.policy(), back.policy()
    mask = jnp.ones(K, bool)
    for i in range(10):
        key = jax.random.key(i)
        d1 = p1.act(ck.params, ck.state, key, x[i], mask)
        d2 = p2.act(back.params, back.state, key, x[i], mask)
        assert int(d1.action) == int(d2.action)
        np.testing.assert_array_equal(np.asarray(d1.probs), np.asarray(d2.probs))
