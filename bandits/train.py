"""Training a policy on logged decisions.

Every policy here keeps additive sufficient statistics — pull counts and reward sums for
the context-free algorithms, each arm's Gram matrix XᵀX and XᵀY for the linear ones — so
training on a log is a sum over its rows. :func:`train` takes the rows in time order, in
batches, and folds each batch into the statistics with a few matrix products (float64, on
the host). The state it returns is the one the policy would hold after calling
``update`` on every row in turn, without the rounding of 10⁶ sequential float32
Sherman–Morrison steps.

:func:`train_checkpoint` trains and records provenance in a
:class:`bandits.checkpoints.Checkpoint`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import jax
import numpy as np

from bandits.base import Policy
from bandits.checkpoints import Checkpoint, data_hash
from bandits.context_free import ArmStats
from bandits.linear import RidgeState
from bandits.registry import make


def _check_rows(context, action, reward, n_arms: int, dim: int):
    context = np.asarray(context)
    action = np.asarray(action)
    reward = np.asarray(reward)
    n = action.shape[0] if action.ndim == 1 else -1
    if context.ndim != 2 or context.shape != (n, dim) or reward.shape != (n,):
        raise ValueError(f"training rows must be context (n, {dim}), action (n,), reward (n,);"
                         f" got {context.shape}, {action.shape}, {reward.shape}")
    bad = np.flatnonzero((action < 0) | (action >= n_arms))
    if bad.size:
        raise ValueError(f"action must be in [0, {n_arms}), got {action[bad[0]]} at row "
                         f"{bad[0]} ({bad.size} rows)")
    for name, x in (("context", context), ("reward", reward)):
        rows = np.flatnonzero(~np.isfinite(x).reshape(n, -1).all(1))
        if rows.size:
            raise ValueError(f"{name} must be finite, got {x[rows[0]]} at row {rows[0]} "
                             f"({rows.size} rows)")
    return context, action.astype(np.int64), reward


def train(policy: Policy, params, context, action, reward, *, state=None,
          batch_rows: int = 65_536):
    """The policy's state after learning from logged rows (in time order).

    Args:
        policy: a policy of :mod:`bandits` (context-free or linear).
        params: its params (``reg`` sets the linear policies' prior).
        context, action, reward: (n, d), (n,), (n,) logged rows.
        state: the state to continue from (default: ``policy.init``).
        batch_rows: rows folded in per batch (memory is O(batch · d)).
    """
    context, action, reward = _check_rows(context, action, reward, policy.n_arms,
                                          policy.dim)
    state = policy.init(params, jax.random.key(0)) if state is None else state
    k, n = policy.n_arms, action.shape[0]
    starts = range(0, n, batch_rows)
    if isinstance(state, ArmStats):
        counts = np.asarray(state.counts, np.float64).copy()
        sums = np.asarray(state.sums, np.float64).copy()
        for s in starts:
            a, r = action[s:s + batch_rows], reward[s:s + batch_rows]
            counts += np.bincount(a, minlength=k)
            sums += np.bincount(a, weights=r, minlength=k)
        return ArmStats(jax.numpy.asarray(counts, np.float32),
                        jax.numpy.asarray(sums, np.float32))
    if isinstance(state, RidgeState):
        a_inv = np.asarray(state.a_inv, np.float64)
        gram = np.linalg.inv(a_inv)  # A_a = reg·I + XᵀX so far
        xty = np.einsum("kij,kj->ki", gram, np.asarray(state.theta, np.float64))
        for s in starts:
            x = np.asarray(context[s:s + batch_rows], np.float64)
            a, r = action[s:s + batch_rows], reward[s:s + batch_rows]
            order = np.argsort(a, kind="stable")
            bounds = np.searchsorted(a[order], np.arange(k + 1))
            for arm in range(k):  # a loop over arms; each is one matrix product
                rows = order[bounds[arm]:bounds[arm + 1]]
                xa = x[rows]
                gram[arm] += xa.T @ xa
                xty[arm] += xa.T @ r[rows]
        a_inv = np.linalg.inv(gram)
        a_inv = (a_inv + np.swapaxes(a_inv, 1, 2)) / 2  # exactly symmetric, as updates keep it
        theta = np.einsum("kij,kj->ki", a_inv, xty)
        return RidgeState(jax.numpy.asarray(a_inv, np.float32),
                          jax.numpy.asarray(theta, np.float32))
    raise ValueError(f"{policy.name}: training from logs supports the context-free and linear "
                     f"policies (state ArmStats or RidgeState), got {type(state).__name__}")


def train_checkpoint(algorithm: str, hyperparameters: dict[str, Any] | None, context, action,
                     reward, *, n_arms: int, version: str | None = None,
                     batch_rows: int = 65_536, extra: dict[str, Any] | None = None
                     ) -> Checkpoint:
    """Builds ``algorithm`` with ``hyperparameters``, trains it on the rows, and records its
    provenance (``version`` defaults to ``<algorithm>-<first 12 hex digits of the hash>``)."""
    hyper = dict(hyperparameters or {})
    context = np.asarray(context)
    policy = make(algorithm, n_arms, context.shape[1] if context.ndim == 2 else 0, **hyper)
    state = train(policy, policy.default_params, context, action, reward,
                  batch_rows=batch_rows)
    digest = data_hash(context, action, reward)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return Checkpoint(algorithm, hyper, n_arms, policy.dim, policy.default_params, state,
                      digest, version or f"{algorithm}-{digest[:12]}", now,
                      int(np.asarray(action).shape[0]), dict(extra or {}))
