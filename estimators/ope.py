"""Off-policy estimators of a target policy's value from logged bandit feedback.

Every estimator is a pure JAX function of arrays (jit- and vmap-compatible) for one
logged dataset of ``n`` rows and ``K`` actions, with Open Bandit Pipeline's argument
names:

* ``reward`` (n,), ``action`` (n,) int, ``pscore`` (n,) — the logging policy's
  probability of the logged action;
* ``action_dist`` (n, K) — the target policy's action probabilities π_e(a | x_i),
  deterministic (one-hot) or stochastic;
* ``estimated_rewards`` (n, K) — a reward model q̂(x_i, a), for model-based estimators.

:func:`rows` reduces these to five (n,) vectors — reward, pscore, π_e(a_i|x_i),
q̂(x_i, a_i) and q̂_π(x_i) — which is all any estimator here reads; every estimator takes
those :class:`Rows`, so a bootstrap resamples five vectors instead of (n, K) matrices.

Each returns an :class:`Estimate`: the value and the per-row terms whose mean it is
(self-normalised estimators fold their normaliser into the terms, as obp does), so
standard errors and diagnostics come from the same arrays. With w_i = π_e(a_i|x_i) / p_i
and the model term q̂_π(x_i) = Σ_a π_e(a|x_i) q̂(x_i, a):

===============  =============================================================
``replay``       Σ 1{π_e(a_i|x_i) = 1} r_i / Σ 1{...}  (Li et al., 2011)
``ipw``          mean(min(w_i, λ) r_i)   — weight clipping at λ (λ = ∞: plain IPS)
``ipw_floor``    mean(π_e(a_i|x_i) / max(p_i, floor) · r_i) — propensity floor
``snipw``        Σ w_i r_i / Σ w_i   (Swaminathan & Joachims, 2015)
``dm``           mean(q̂_π(x_i))
``dr``           mean(q̂_π(x_i) + min(w_i, λ)(r_i − q̂(x_i, a_i)))  (Dudík et al., 2011)
``sndr``         mean(q̂_π(x_i) + w_i (r_i − q̂(x_i, a_i)) / mean(w))
``switch_dr``    mean(q̂_π(x_i) + 1{w_i ≤ λ} w_i (r_i − q̂(x_i, a_i)))  (Wang et al., 2017)
``dros``         mean(q̂_π(x_i) + λw_i/(w_i² + λ) (r_i − q̂(x_i, a_i)))  (Su et al., 2020)
``sg_ipw``       mean(w_i / (1 − λ + λw_i) r_i)   (Metelli et al., 2021)
``sg_dr``        mean(q̂_π(x_i) + w_i / (1 − λ + λw_i)(r_i − q̂(x_i, a_i)))
===============  =============================================================
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array


class Rows(NamedTuple):
    """Per-row quantities every estimator is a function of (all (n,))."""

    reward: Array
    pscore: Array
    target_prob: Array  # π_e(a_i | x_i)
    q_factual: Array  # q̂(x_i, a_i); zeros without a reward model
    q_target: Array  # q̂_π(x_i) = Σ_a π_e(a|x_i) q̂(x_i, a); zeros without a reward model
    count: Array | None = None  # frequency weight of each row (a bootstrap resample's
    #                             multiplicities); None means every row once


class Estimate(NamedTuple):
    value: Array  # () the estimate
    terms: Array  # (n,) per-row terms; value == mean(terms)
    weights: Array  # (n,) the importance weights the estimator applied (1 for DM)


class Diagnostics(NamedTuple):
    ess: Array  # effective sample size (Σw)² / Σw²
    max_weight: Array
    nonzero_fraction: Array  # share of rows with a non-zero weight


def _pick(matrix: Array, action: Array) -> Array:
    return jnp.take_along_axis(matrix, action[:, None].astype(jnp.int32), 1)[:, 0]


def rows(reward, action, pscore, action_dist, estimated_rewards=None) -> Rows:
    """The per-row quantities of logged data under a target policy.

    Args:
        reward: (n,) observed rewards.
        action: (n,) logged actions.
        pscore: (n,) logging propensities of the logged actions.
        action_dist: (n, K) target policy probabilities.
        estimated_rewards: (n, K) reward model q̂(x, a), or None.
    """
    reward = jnp.asarray(reward)
    pi_a = _pick(jnp.asarray(action_dist), jnp.asarray(action))
    if estimated_rewards is None:
        q_a = q_pi = jnp.zeros_like(reward)
    else:
        q = jnp.asarray(estimated_rewards)
        q_a = _pick(q, jnp.asarray(action))
        q_pi = jnp.sum(jnp.asarray(action_dist) * q, axis=1)
    return Rows(reward, jnp.asarray(pscore), pi_a, q_a, q_pi)


def checked_rows(reward, action, pscore, action_dist, estimated_rewards=None) -> Rows:
    """:func:`rows` after validating every input in plain NumPy.

    Raises ``ValueError`` naming the field, the bad value and the first bad row for:
    empty data, shape mismatches, actions out of range, propensities outside (0, 1] or not
    finite, non-finite rewards, target probability rows that are negative or do not sum
    to 1, and non-finite reward-model predictions. (Inside ``jit`` nothing can raise, so
    call this where data enters.)
    """
    import numpy as np

    from envs.data.logged import check_finite, check_target, validate

    reward, action, pscore = (np.asarray(x) for x in (reward, action, pscore))
    action_dist = np.asarray(action_dist)
    if action_dist.ndim != 2:
        raise ValueError(f"action_dist must have shape (n, K), got {action_dist.shape}")
    n_arms = action_dist.shape[1]
    validate(context=np.zeros((action.shape[0] if action.ndim else 0, 0)), action=action,
             reward=reward, pscore=pscore, n_arms=n_arms)
    check_target(action_dist, action.shape[0], n_arms)
    if estimated_rewards is not None:
        q = np.asarray(estimated_rewards)
        if q.shape != action_dist.shape:
            raise ValueError(f"estimated_rewards must have shape {action_dist.shape}, got "
                             f"{q.shape}")
        check_finite("estimated_rewards", q)
    return rows(reward, action, pscore, action_dist, estimated_rewards)


def importance_weights(r: Rows) -> Array:
    """w_i = π_e(a_i | x_i) / p_i, (n,)."""
    return r.target_prob / r.pscore


def diagnostics(weights: Array, xp=jnp) -> Diagnostics:
    """The importance weights' effective sample size (Σw)² / Σw², maximum and non-zero share.

    Args:
        weights: (n,) importance weights.
        xp: the array namespace computing them: ``jax.numpy`` (traceable; float32 unless
            x64 is on) or ``numpy`` (host arrays, float64 weights stay float64).
    """
    return Diagnostics(xp.sum(weights) ** 2 / xp.sum(weights**2), xp.max(weights),
                       xp.mean(weights > 0))


def wmean(x: Array, r: Rows) -> Array:
    """Mean over rows, each counted ``r.count`` times."""
    if r.count is None:
        return jnp.mean(x)
    return jnp.dot(r.count, x) / jnp.sum(r.count)


def _est(terms, weights, r: Rows, value=None) -> Estimate:
    """``value`` defaults to the weighted mean of ``terms``; self-normalised estimators
    pass it as a ratio of weighted means of fixed per-row vectors (the same number, and
    in a bootstrap only matrix–vector products across resamples)."""
    return Estimate(wmean(terms, r) if value is None else value, terms, weights)


def replay(r: Rows) -> Estimate:
    """Rejection-sampling replay; the coverage is ``mean(weights)`` (matched rows).

    Only rows where the target policy takes the logged action with probability 1 count;
    the estimate is 0 when no row matches (obp's convention).
    """
    match = (r.target_prob == 1.0).astype(r.reward.dtype)
    cover = wmean(match, r)
    safe = jnp.where(cover > 0, cover, 1.0)
    terms = jnp.where(cover > 0, match * r.reward / safe, 0.0)
    return _est(terms, match, r, jnp.where(cover > 0, wmean(match * r.reward, r) / safe, 0.0))


def ipw(r: Rows, lambda_=jnp.inf) -> Estimate:
    """Inverse propensity weighting with weights capped at ``lambda_``."""
    w = jnp.minimum(importance_weights(r), lambda_)
    return _est(w * r.reward, w, r)


def ipw_floor(r: Rows, floor=0.01) -> Estimate:
    """IPW with the propensity floored: π_e(a_i|x_i) / max(p_i, floor)."""
    w = r.target_prob / jnp.maximum(r.pscore, floor)
    return _est(w * r.reward, w, r)


def snipw(r: Rows) -> Estimate:
    """Self-normalised IPW: Σ w r / Σ w."""
    w = importance_weights(r)
    mean_w = wmean(w, r)
    return _est(w * r.reward / mean_w, w, r, wmean(w * r.reward, r) / mean_w)


def dm(r: Rows) -> Estimate:
    """Direct method: the reward model's value of the target policy."""
    return _est(r.q_target, jnp.ones_like(r.q_target), r)


def _dr(r: Rows, w) -> Estimate:
    return _est(r.q_target + w * (r.reward - r.q_factual), w, r)


def dr(r: Rows, lambda_=jnp.inf) -> Estimate:
    """Doubly robust, with the correction's weights capped at ``lambda_``."""
    return _dr(r, jnp.minimum(importance_weights(r), lambda_))


def sndr(r: Rows) -> Estimate:
    """Self-normalised DR: the correction divided by the mean weight."""
    w = importance_weights(r)
    mean_w = wmean(w, r)
    value = wmean(r.q_target, r) + wmean(w * (r.reward - r.q_factual), r) / mean_w
    return _est(r.q_target + w / mean_w * (r.reward - r.q_factual), w / mean_w, r, value)


def switch_dr(r: Rows, lambda_=jnp.inf) -> Estimate:
    """Switch-DR: rows with weight above ``lambda_`` fall back to the model (w ≤ λ kept)."""
    w = importance_weights(r)
    return _dr(r, jnp.where(w <= lambda_, w, 0.0))


def _shrink(w, lambda_):
    """DRos's optimistic shrinkage λw / (w² + λ); plain w at λ = ∞, 0 at λ = 0."""
    den = w**2 + lambda_
    shrunk = jnp.where(den > 0, lambda_ * w / jnp.where(den > 0, den, 1.0), 0.0)
    return jnp.where(jnp.isinf(lambda_), w, shrunk)


def dros(r: Rows, lambda_=0.0) -> Estimate:
    """DR with optimistic shrinkage of the weights (λ = 0: DM; λ = ∞: DR)."""
    return _dr(r, _shrink(importance_weights(r), lambda_))


def _sg(w, lambda_):
    """Sub-Gaussian weight correction w / (1 − λ + λw), λ ∈ [0, 1]."""
    den = 1.0 - lambda_ + lambda_ * w
    return jnp.where(den > 0, w / jnp.where(den > 0, den, 1.0), 0.0)


def sg_ipw(r: Rows, lambda_=0.0) -> Estimate:
    """Sub-Gaussian IPW (λ = 0: IPW)."""
    w = _sg(importance_weights(r), lambda_)
    return _est(w * r.reward, w, r)


def sg_dr(r: Rows, lambda_=0.0) -> Estimate:
    """Sub-Gaussian DR (λ = 0: DR)."""
    return _dr(r, _sg(importance_weights(r), lambda_))
