"""The reward model of a streamed log, fitted by streaming sufficient statistics: ridge
regression is a solve of Σ z zᵀ and Σ z r, sums that partitions add.

Rows are cross-fitted as in :func:`estimators.reward_models.cross_fit`, but a row's fold
is drawn from (seed, its event id) (:func:`estimators.bootstrap.keyed.keyed_folds`), so
any partitioning gives every row the same fold. Each batch adds its rows' Gram matrices
per fold (and per logged arm, for ``ridge``) in float64; fold f's model solves the
totals less fold f's, and scores fold f's rows. ``ridge`` fits one regression per arm
on the shared context (and an intercept); ``ridge_shared`` one regression on each arm's
own features (the context is the K arms' d features, arm-major).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from common.errors import ConfigError
from estimators import reward_models
from estimators.bootstrap.keyed import keyed_folds

STREAMED = ("ridge", "ridge_shared")


class RidgeSpec(NamedTuple):
    """A checked streamed ridge: which model, its options and sizes."""

    name: str
    reg: float
    intercept: bool
    n_folds: int
    n_arms: int
    arm_features: int  # d per arm for ridge_shared, else 0

    @property
    def groups(self) -> int:
        """Gram matrices per fold: one per arm (ridge) or one (ridge_shared)."""
        return self.n_arms if self.name == "ridge" else 1


def ridge_spec(cfg: Mapping[str, Any] | None, n_arms: int, arm_features: int) -> RidgeSpec:
    """The checked ``reward_model`` config of a streamed log.

    Raises:
        ConfigError: a model that needs every row in memory (the MLP), or a bad option.
    """
    name, opts, n_folds = reward_models.check_config(cfg)
    if name not in STREAMED:
        raise ConfigError(f"reward_model={name} needs every row in memory; a streamed log "
                          f"fits {' or '.join(STREAMED)} by streaming sufficient statistics")
    if name == "ridge_shared":
        reward_models.resolve_arm_features(opts, arm_features)
    return RidgeSpec(name, float(opts.get("reg", 1.0)), bool(opts.get("intercept", True)),
                     n_folds, n_arms, int(opts.get("arm_features") or 0))


def _inputs(spec: RidgeSpec, context: np.ndarray) -> np.ndarray:
    """(n, d') shared inputs (ridge) or (n, K, d') every arm's inputs (ridge_shared),
    float64, with a column of ones for the intercept."""
    x = np.asarray(context, np.float64)
    if spec.name == "ridge_shared":
        x = x.reshape(x.shape[0], spec.n_arms, spec.arm_features)
    if spec.intercept:
        x = np.concatenate([x, np.ones(x.shape[:-1] + (1,))], -1)
    return x


def batch_sums(spec: RidgeSpec, context, action, reward, keys, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """One batch's ``(gram, rhs)``: (F, G, d', d') and (F, G, d') float64, the sums of
    z zᵀ and z r over its rows by fold and group (the logged arm for ridge)."""
    z = _inputs(spec, context)
    action = np.asarray(action)
    if spec.name == "ridge_shared":
        z = z[np.arange(len(action)), action]  # the logged arm's features
    folds = keyed_folds(keys, seed, spec.n_folds) if spec.n_folds > 1 else \
        np.zeros(len(action), np.int32)
    group = folds * spec.groups + (action if spec.name == "ridge" else 0)
    d = z.shape[1]
    gram = np.zeros((spec.n_folds * spec.groups, d, d))
    rhs = np.zeros((spec.n_folds * spec.groups, d))
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(spec.n_folds * spec.groups + 1))
    r = np.asarray(reward, np.float64)
    for g in np.flatnonzero(np.diff(bounds)):  # over folds × arms, not rows
        rows = order[bounds[g]:bounds[g + 1]]
        gram[g] = z[rows].T @ z[rows]
        rhs[g] = z[rows].T @ r[rows]
    shape = (spec.n_folds, spec.groups)
    return gram.reshape(shape + (d, d)), rhs.reshape(shape + (d,))


def solve(spec: RidgeSpec, gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """(F, G, d') each fold's coefficients: fitted on every other fold's sums (or, with
    one fold, on all rows), with ``reg``·I added."""
    total_g, total_r = gram.sum(0), rhs.sum(0)
    eye = spec.reg * np.eye(gram.shape[-1])
    if spec.n_folds == 1:
        return np.linalg.solve(total_g + eye, total_r[..., None])[None, ..., 0]
    g = total_g[None] - gram + eye
    return np.linalg.solve(g, (total_r[None] - rhs)[..., None])[..., 0]


def predict(spec: RidgeSpec, theta: np.ndarray, context, keys, seed: int) -> np.ndarray:
    """(n, K) float32 q̂(x, a) of a batch, each row scored by its fold's coefficients."""
    z = _inputs(spec, context)
    n = z.shape[0]
    folds = keyed_folds(keys, seed, spec.n_folds) if spec.n_folds > 1 else \
        np.zeros(n, np.int32)
    q = np.empty((n, spec.n_arms), np.float64)
    for f in range(spec.n_folds):  # over folds, not rows
        rows = np.flatnonzero(folds == f)
        if spec.name == "ridge":
            q[rows] = z[rows] @ theta[f].T
        else:
            q[rows] = z[rows] @ theta[f, 0]
    return q.astype(np.float32)
