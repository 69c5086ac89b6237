"""Small dense linear algebra written out element by element, for the per-simulation
d×d systems of linear policies.

XLA runs ``jnp.linalg`` through LAPACK custom calls, which the rollout engine's lane
layout can only batch with ``jax.vmap`` (lanes moved to the front, one call per batch),
and which stalled the host's XLA thread pool when two host devices ran them inside the
engine's loop over lane groups. Written out for a static, small ``d``, a Cholesky
factorisation and its two triangular solves are a few hundred elementwise operations on
whatever batch axes the arrays carry, which every layout vectorises.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

TINY = 1e-30  # the smallest pivot² a factorisation takes (keeps sqrt and division finite)


def _dot(row_a: list, row_b: list, upto: int):
    """Σ_{k < upto} row_a[k]·row_b[k] (0 for upto = 0)."""
    total = 0.0
    for k in range(upto):
        total = total + row_a[k] * row_b[k]
    return total


def cholesky_rows(a: Array) -> list[list[Array]]:
    """The lower Cholesky factor L of symmetric positive-definite ``a`` (..., d, d), as
    rows of entries: ``L[i][j]`` (...,) for j <= i."""
    d = a.shape[-1]
    rows: list[list[Array]] = [[] for _ in range(d)]
    for j in range(d):
        pivot = jnp.sqrt(jnp.maximum(a[..., j, j] - _dot(rows[j], rows[j], j), TINY))
        for i in range(j + 1, d):
            rows[i].append((a[..., i, j] - _dot(rows[i], rows[j], j)) / pivot)
        rows[j].append(pivot)
    return rows


def spd_solve(a: Array, b: Array) -> Array:
    """x with a x = b for symmetric positive-definite ``a`` (..., d, d) and ``b``
    (..., d, m): Cholesky, then forward and back substitution."""
    d = a.shape[-1]
    low = cholesky_rows(a)
    y: list[Array] = []
    for i in range(d):  # L y = b
        y.append((b[..., i, :] - _dot([low[i][k][..., None] for k in range(i)], y, i))
                 / low[i][i][..., None])
    x: list[Array | None] = [None] * d
    for i in reversed(range(d)):  # Lᵀ x = y
        acc = y[i]
        for k in range(i + 1, d):
            acc = acc - low[k][i][..., None] * x[k]
        x[i] = acc / low[i][i][..., None]
    return jnp.stack(x, axis=-2)


def spd_inverse(a: Array) -> Array:
    """The inverse of symmetric positive-definite ``a`` (m, m) by Gauss–Jordan
    elimination without pivoting (safe for SPD matrices), one ``fori_loop`` step per
    pivot: O(m³) elementwise work that vectorises over a leading batch, for an m too
    large to write out (:func:`spd_solve`)."""
    m = a.shape[-1]
    index = jnp.arange(m)

    def pivot(k, x):
        row = jax.lax.dynamic_index_in_dim(x, k, axis=0, keepdims=False)
        p = jax.lax.dynamic_index_in_dim(row, k, keepdims=False)
        row = jnp.where(index == k, 1.0, row) / p
        col = jnp.where(index == k, 0.0, jax.lax.dynamic_index_in_dim(x, k, axis=1,
                                                                      keepdims=False))
        x = jnp.where(index[None, :] == k, 0.0, x) - col[:, None] * row[None, :]
        return jnp.where(index[:, None] == k, row[None, :], x)

    return jax.lax.fori_loop(0, m, pivot, a)
