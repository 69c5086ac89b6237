"""Training from logs equals updating row by row; checkpoints reproduce decisions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX computes)
from bandits.checkpoints import data_hash, load_checkpoint, save_checkpoint
from bandits.train import train, train_checkpoint

K, D = 4, 6


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(np.float32)
    a = rng.integers(0, K, n)
    r = (rng.random(n) < 0.4).astype(np.float32)
    return x, a, r


def _sequential(policy, params, x, a, r):
    s0 = policy.init(params, jax.random.key(0))

    def body(s, row):
        return policy.update(params, s, *row), None

    return jax.lax.scan(body, s0, (jnp.asarray(x), jnp.asarray(a, jnp.int32),
                                   jnp.asarray(r)))[0]


@pytest.mark.parametrize(
    "name", [n for n in bandits.names() if bandits.spec(n).fold_logs is not None])
def test_batched_training_equals_row_by_row_updates(name):
    policy = bandits.make(name, K, D)
    x, a, r = _rows(3000)
    batched = train(policy, policy.default_params, x, a, r, batch_rows=701)
    seq = _sequential(policy, policy.default_params, x, a, r)
    for got, want in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(seq)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=2e-5)


def test_linear_training_is_the_ridge_solution_and_continues():
    policy = bandits.make("lin_ucb", K, D, reg=2.0)
    x, a, r = _rows(2000, seed=1)
    s = train(policy, policy.default_params, x[:1200], a[:1200], r[:1200])
    s = train(policy, policy.default_params, x[1200:], a[1200:], r[1200:], state=s)
    for arm in range(K):
        xa, ra = x[a == arm].astype(np.float64), r[a == arm]
        gram = 2.0 * np.eye(D) + xa.T @ xa
        np.testing.assert_allclose(s.a_inv[arm], np.linalg.inv(gram), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(s.theta[arm], np.linalg.solve(gram, xa.T @ ra), rtol=1e-4,
                                   atol=1e-6)


def test_checkpoint_round_trip_makes_identical_decisions(tmp_path):
    x, a, r = _rows(2500, seed=2)
    ck = train_checkpoint("lin_ts", {"v": 0.3, "n_prob_nodes": 16}, x, a, r, n_arms=K,
                          version="lin_ts-test-1", extra={"split": "train"})
    path = str(tmp_path / "ck.npz")
    save_checkpoint(path, ck)
    back = load_checkpoint(path, algorithm="lin_ts", n_arms=K, dim=D)
    assert (back.version, back.data_hash, back.n_train_rows) == ("lin_ts-test-1",
                                                                  data_hash(x, a, r), 2500)
    assert back.hyperparameters == {"v": 0.3, "n_prob_nodes": 16}
    assert back.extra == {"split": "train"} and back.created_at == ck.created_at
    p1, p2 = ck.policy(), back.policy()
    mask = jnp.ones(K, bool)
    decide = lambda p, c, key, xi: p.act(c.params, c.state, key, xi, mask)
    for i in range(20):
        key = jax.random.key(i)
        d1, d2 = decide(p1, ck, key, x[i]), decide(p2, back, key, x[i])
        assert int(d1.action) == int(d2.action)
        np.testing.assert_array_equal(np.asarray(d1.probs), np.asarray(d2.probs))
    # the checkpoint changes when the data does
    assert train_checkpoint("lin_ts", {}, x, a, 1 - r, n_arms=K).data_hash != ck.data_hash


def test_checkpoint_for_other_sizes_or_algorithm_fails_clearly(tmp_path):
    x, a, r = _rows(500, seed=3)
    path = str(tmp_path / "ck.npz")
    save_checkpoint(path, train_checkpoint("ucb1", {"c": 0.5}, x, a, r, n_arms=K))
    with pytest.raises(ValueError, match="trained for dim=6, but dim=10 is required"):
        load_checkpoint(path, dim=10)
    with pytest.raises(ValueError, match="trained for algorithm='ucb1', but "
                                         "algorithm='lin_ucb'"):
        load_checkpoint(path, algorithm="lin_ucb")
    with pytest.raises(ValueError, match="trained for n_arms=4"):
        load_checkpoint(path, n_arms=5)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a bandax checkpoint"):
        load_checkpoint(str(tmp_path / "other.npz"))


def test_bad_training_rows_are_named():
    policy = bandits.make("lin_ucb", K, D)
    x, a, r = _rows(50)
    a[7] = K
    with pytest.raises(ValueError, match=r"action must be in \[0, 4\), got 4 at row 7"):
        train(policy, policy.default_params, x, a, r)
    a[7] = 0
    x[9, 2] = np.nan
    with pytest.raises(ValueError, match="context must be finite.*at row 9"):
        train(policy, policy.default_params, x, a, r)
