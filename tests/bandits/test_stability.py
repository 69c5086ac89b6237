"""Sherman–Morrison ridge updates stay accurate over 10^6 rounds in float32."""

import jax
import numpy as np
import pytest

import bandits
import envs  # noqa: F401


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lin_ucb", "lin_ts", "lin_eps_greedy"])
def test_million_round_float32_ridge_matches_float64(name):
    K, d, N = 5, 10, 1_000_000
    rng = np.random.default_rng(0)
    # contexts of very different scales stress the rank-one downdates
    X = (rng.standard_normal((N, d)) * rng.uniform(0.1, 3.0, (N, 1))).astype(np.float32)
    a = rng.integers(0, K, N).astype(np.int32)
    theta = rng.standard_normal((K, d))
    y = (np.einsum("nd,nd->n", X, theta[a]) + rng.standard_normal(N)).astype(np.float32)
    policy = bandits.make(name, K, d, reg=1.0)
    params = policy.default_params
    state = policy.init(params, jax.random.key(0))

    @jax.jit
    def run(state, X, a, y):
        step = lambda s, z: (policy.update(params, s, *z), None)
        return jax.lax.scan(step, state, (X, a, y))[0]

    state = run(state, X, a, y)
    assert state.a_inv.dtype == np.float32
    V = rng.standard_normal((2000, d))
    for k in range(K):
        Xk, yk = X[a == k].astype(np.float64), y[a == k].astype(np.float64)
        A = np.eye(d) + Xk.T @ Xk
        a_inv, theta_hat = np.linalg.inv(A), np.linalg.solve(A, Xk.T @ yk)
        got = np.asarray(state.a_inv[k], np.float64)
        # the quantities the policies use: xᵀA⁻¹x (exploration width) and θ̂
        q_ref = np.einsum("nd,de,ne->n", V, a_inv, V)
        q = np.einsum("nd,de,ne->n", V, got, V)
        assert np.max(np.abs(q - q_ref) / q_ref) < 1e-3
        assert np.abs(got - a_inv).max() / np.abs(a_inv).max() < 1e-3
        np.testing.assert_allclose(np.asarray(state.theta[k]), theta_hat,
                                   rtol=0, atol=1e-4 * np.abs(theta_hat).max())
        np.testing.assert_array_equal(got, got.T)  # exactly symmetric by construction
        assert np.linalg.eigvalsh(got).min() > 0
