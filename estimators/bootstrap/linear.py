"""Whether a statistic reads a resample's counts only through count-weighted sums.

When it does (every estimator of :mod:`estimators.ope` does), a batch of resamples is a
matrix product of their counts with the summed vectors, computed once
(:func:`linear_in_count`), instead of one pass over the counts per sum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.extend import core as jcore
from jax.extend.core import primitives as prims


def linear_in_count(statistic: Callable, data: Any) -> tuple[Array, Callable] | None:
    """``(X, finish)`` with ``statistic(data with count c) == finish(c @ X)`` for every c.

    Holds when the statistic's traced program reads the count only through sums and
    dot products with vectors that do not depend on it (as :func:`estimators.ope.wmean`
    does): X (n, k) stacks those vectors, computed once, and a batch of resamples needs
    one matrix product instead of one pass over its counts per sum. Returns None for
    any other use of the count.
    """
    n, dtype = data.reward.shape[0], data.reward.dtype
    closed, out_shape = jax.make_jaxpr(lambda c: statistic(data._replace(count=c)),
                                       return_shape=True)(jnp.zeros(n, dtype))
    jaxpr = closed.jaxpr
    (count,) = jaxpr.invars
    env = dict(zip(jaxpr.constvars, closed.consts))
    columns, column_of, late, derived = [], {}, [], set()
    for eqn in jaxpr.eqns:
        ins = [v for v in eqn.invars if not isinstance(v, jcore.Literal)]
        if any(v is count for v in ins):
            vector = _summed_against(eqn, count, env)
            if vector is None:
                return None
            if not any(c is vector for c in columns):  # one column per distinct vector
                columns.append(vector)
            column_of[eqn.outvars[0]] = next(j for j, c in enumerate(columns) if c is vector)
            derived.add(eqn.outvars[0])
        elif any(v in derived for v in ins):
            late.append(eqn)
            derived.update(eqn.outvars)
        else:
            env.update(zip(eqn.outvars, _bind(eqn, [_read(env, v) for v in eqn.invars])))
    if any(v is count for v in jaxpr.outvars) or not columns:
        return None
    X = jnp.stack([jnp.ones(n, dtype) if c is _ONES else env[c].astype(dtype) for c in columns],
                  1)

    def finish(y):
        local = dict(env)
        for v, j in column_of.items():
            local[v] = y[j].astype(v.aval.dtype)
        for eqn in late:
            local.update(zip(eqn.outvars, _bind(eqn, [_read(local, v) for v in eqn.invars])))
        outs = [_read(local, v) for v in jaxpr.outvars]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), outs)

    return X, finish


_ONES = object()  # the column of ones: Σ count


def _summed_against(eqn, count, env) -> Any:
    """For an equation reading the count: ``_ONES`` for Σ count, the vector var x for
    count · x (x not depending on the count), else None."""
    if eqn.primitive is prims.reduce_sum_p and tuple(eqn.params["axes"]) == (0,):
        return _ONES
    if eqn.primitive is not prims.dot_general_p:
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    a, b = eqn.invars
    other = b if a is count else a
    if (a is count) == (b is count) or lb or rb or tuple(lc) != (0,) or tuple(rc) != (0,):
        return None
    if isinstance(other, jcore.Literal) or other not in env or other.aval.ndim != 1:
        return None
    return other


def _read(env: dict, v) -> Any:
    return v.val if isinstance(v, jcore.Literal) else env[v]


def _bind(eqn, args: list) -> list:
    """Evaluates one jaxpr equation on ``args``; its outputs as a list."""
    params = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = params if isinstance(params, tuple) else ((), params)
    out = eqn.primitive.bind(*subfuns, *args, **params)
    return list(out) if eqn.primitive.multiple_results else [out]
