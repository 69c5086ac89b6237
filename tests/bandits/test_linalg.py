"""The written-out Cholesky solve against NumPy, and no policy's round calls LAPACK (a
LAPACK call inside the engine's loop over lane groups stalled two host devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
from bandits.linalg import cholesky_rows, spd_inverse, spd_solve

LAPACK = {"lu", "cholesky", "triangular_solve", "custom_linear_solve", "eigh", "qr",
          "svd", "lu_pivots_to_permutation", "schur", "hessenberg", "tridiagonal"}


def _spd(rng, batch, d):
    x = rng.normal(size=batch + (d, d + 3))
    return x @ np.swapaxes(x, -1, -2) + 0.5 * np.eye(d)


def test_spd_solve_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = _spd(rng, (5,), 10), rng.normal(size=(5, 10, 2))
    x = np.asarray(spd_solve(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)))
    ref = np.linalg.solve(a, b)
    np.testing.assert_allclose(x, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_cholesky_rows_is_the_lower_factor():
    rng = np.random.default_rng(1)
    a = _spd(rng, (), 6)
    rows = cholesky_rows(jnp.asarray(a))
    low = np.zeros((6, 6))
    for i, row in enumerate(rows):
        low[i, :i + 1] = np.asarray(row)
    np.testing.assert_allclose(low, np.linalg.cholesky(a), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", bandits.names())
def test_no_policy_round_calls_lapack(name):
    policy = bandits.make(name, 3, 4)
    params = policy.default_params
    state = policy.init(params, jax.random.key(0))

    def one_round(state, key, x, mask):
        decision = policy.act(params, state, key, x, mask)
        return policy.update(params, state, x, decision.action, 1.0)

    jaxpr = jax.make_jaxpr(one_round)(state, jax.random.key(1), jnp.ones(4),
                                      jnp.ones(3, bool))
    used = primitives(jaxpr.jaxpr) & LAPACK
    assert not used, f"{name} calls {sorted(used)}"


def primitives(jaxpr) -> set[str]:
    """The names of the primitives a jaxpr applies, in nested jaxprs too (scan, cond,
    pjit, ...); a variable's name is never taken for a primitive's."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    names |= primitives(inner)
    return names


def test_spd_inverse_matches_numpy_on_a_large_ill_conditioned_matrix():
    """Gauss–Jordan without pivoting on A = I + ΦᵀΦ (m = 60, condition number ~10⁴, as
    NeuralLinear's head builds it), batched: within 1e-5 of LAPACK's inverse relative to
    the largest entry."""
    rng = np.random.default_rng(3)
    phi = rng.standard_normal((2, 500, 60)) * np.abs(rng.standard_normal(60))
    a = np.eye(60) + np.swapaxes(phi, -1, -2) @ phi
    got = np.asarray(jax.vmap(spd_inverse)(jnp.asarray(a, jnp.float32)), np.float64)
    want = np.linalg.inv(a)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
