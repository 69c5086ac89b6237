"""Training a policy on logged decisions.

Every policy family that trains from logs keeps additive sufficient statistics — pull
counts and reward sums for the context-free algorithms, each arm's Gram matrix XᵀX and XᵀY
for the linear ones — so training on a log is a sum over its rows. :func:`train` checks
the rows, takes them in time order, in batches, and hands the batches to the algorithm's
``fold_logs`` (declared in its :class:`bandits.registry.PolicySpec`), which folds each
batch into the statistics with a few matrix products (float64, on the host). The state it
returns is the one the policy would hold after calling ``update`` on every row in turn,
without the rounding of 10⁶ sequential float32 Sherman–Morrison steps. The neural
policies, whose network is trained on a replay buffer, have no such statistics: they
declare ``replays_logs`` and learn by replaying the rows in order
(:mod:`bandits.log_replay`), as they would have online.

:func:`train_checkpoint` trains and records provenance in a
:class:`bandits.checkpoints.Checkpoint`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from bandits.base import Policy
from bandits.checkpoints import Checkpoint, data_hash
from bandits.log_replay import replay_logs
from bandits.registry import make, spec
from common.errors import ConfigError, DataError
from common.validation import check_int


def _first_bad_row(where: str, bad: np.ndarray, values: np.ndarray, rule: str) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        raise DataError(f"{where} must be {rule}, got {values[rows[0]]} at row {rows[0]} "
                        f"({rows.size} rows)")


def _check_rows(context, action, reward, n_arms: int, dim: int):
    """The rows as arrays (action as int64), after checking shapes and values.

    Raises:
        DataError: naming the array, the first bad row and its value.
    """
    context = np.asarray(context)
    action = np.asarray(action)
    reward = np.asarray(reward)
    n = action.shape[0] if action.ndim == 1 else -1
    if context.ndim != 2 or context.shape != (n, dim) or reward.shape != (n,):
        raise DataError(f"training rows must be context (n, {dim}), action (n,), reward (n,);"
                        f" got {context.shape}, {action.shape}, {reward.shape}")
    if not (np.issubdtype(action.dtype, np.integer) or np.issubdtype(action.dtype, np.floating)):
        raise DataError(f"action must hold arm indices, got dtype {action.dtype}")
    _first_bad_row("action", action != np.floor(action), action, "whole arm indices")
    _first_bad_row("action", (action < 0) | (action >= n_arms), action, f"in [0, {n_arms})")
    for name, x in (("context", context), ("reward", reward)):
        _first_bad_row(name, ~np.isfinite(x).reshape(n, -1).all(1), x, "finite")
    return context, action.astype(np.int64), reward


def _batches(context: np.ndarray, action: np.ndarray, reward: np.ndarray, batch_rows: int
             ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Consecutive slices of at most ``batch_rows`` rows, in time order."""
    for s in range(0, action.shape[0], batch_rows):
        yield context[s:s + batch_rows], action[s:s + batch_rows], reward[s:s + batch_rows]


def train(policy: Policy, params, context, action, reward, *, state=None,
          batch_rows: int = 65_536):
    """The policy's state after learning from logged rows (in time order).

    Args:
        policy: a registered policy whose spec declares ``fold_logs`` or
            ``replays_logs``.
        params: its params (``reg`` sets the linear policies' prior).
        context, action, reward: (n, d), (n,), (n,) logged rows.
        state: the state to continue from (default: ``policy.init``).
        batch_rows: rows folded in per batch (memory is O(batch · d)), a positive integer.

    Raises:
        ConfigError: an algorithm that cannot train from logs.
        DataError: bad rows (the first one named, with its value).
    """
    family = spec(policy.name)
    if not family.trains_from_logs:
        raise ConfigError(f"bandit {policy.name!r} cannot be trained from logs: its "
                          f"PolicySpec declares no fold_logs")
    check_int("batch_rows", batch_rows)
    context, action, reward = _check_rows(context, action, reward, policy.n_arms,
                                          policy.dim)
    state = policy.init(params, jax.random.key(0)) if state is None else state
    batches = _batches(context, action, reward, batch_rows)
    if family.fold_logs is None:
        return replay_logs(policy, params, state, batches)
    return family.fold_logs(state, batches)


def train_checkpoint(algorithm: str, hyperparameters: dict[str, Any] | None, context, action,
                     reward, *, n_arms: int, version: str | None = None,
                     batch_rows: int = 65_536, extra: dict[str, Any] | None = None,
                     arm_features: int = 0) -> Checkpoint:
    """Builds ``algorithm`` with ``hyperparameters``, trains it on the rows, and records its
    provenance (``version`` defaults to ``<algorithm>-<first 12 hex digits of the hash>``).
    An algorithm with an ``arm_features`` option left unset gets the data's
    ``arm_features`` (features per arm; 0: a shared context)."""
    hyper = dict(hyperparameters or {})
    if "arm_features" in spec(algorithm).static and hyper.get("arm_features") is None:
        hyper["arm_features"] = int(arm_features)
    context = np.asarray(context)
    policy = make(algorithm, n_arms, context.shape[1] if context.ndim == 2 else 0, **hyper)
    state = train(policy, policy.default_params, context, action, reward,
                  batch_rows=batch_rows)
    digest = data_hash(context, action, reward)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return Checkpoint(algorithm, hyper, n_arms, policy.dim, policy.default_params, state,
                      digest, version or f"{algorithm}-{digest[:12]}", now,
                      int(np.asarray(action).shape[0]), dict(extra or {}))
