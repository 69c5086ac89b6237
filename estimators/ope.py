"""Off-policy estimators of a target policy's value from logged bandit feedback.

Every estimator is a pure JAX function of arrays (jit- and vmap-compatible) for one
logged dataset of ``n`` rows and ``K`` actions, with Open Bandit Pipeline's argument
names:

* ``reward`` (n,), ``action`` (n,) int, ``pscore`` (n,) — the logging policy's
  probability of the logged action;
* ``action_dist`` (n, K) — the target policy's action probabilities π_e(a | x_i),
  deterministic (one-hot) or stochastic;
* ``estimated_rewards`` (n, K) — a reward model q̂(x_i, a), for model-based estimators.

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


class Estimate(NamedTuple):
    value: Array  # () the estimate
    terms: Array  # (n,) per-row terms; value == mean(terms)
    weights: Array  # (n,) the importance weights the estimator applied (1 for DM)


class Diagnostics(NamedTuple):
    ess: Array  # effective sample size (Σw)² / Σw²
    max_weight: Array
    nonzero_fraction: Array  # share of rows with a non-zero weight


def target_prob(action: Array, action_dist: Array) -> Array:
    """π_e(a_i | x_i), (n,)."""
    return jnp.take_along_axis(action_dist, action[:, None].astype(jnp.int32), 1)[:, 0]


def importance_weights(action: Array, pscore: Array, action_dist: Array) -> Array:
    """w_i = π_e(a_i | x_i) / p_i, (n,)."""
    return target_prob(action, action_dist) / pscore


def model_value(action_dist: Array, estimated_rewards: Array) -> Array:
    """q̂_π(x_i) = Σ_a π_e(a | x_i) q̂(x_i, a), (n,)."""
    return jnp.sum(action_dist * estimated_rewards, axis=1)


def factual(action: Array, estimated_rewards: Array) -> Array:
    """q̂(x_i, a_i), (n,)."""
    return target_prob(action, estimated_rewards)


def diagnostics(weights: Array) -> Diagnostics:
    return Diagnostics(jnp.sum(weights) ** 2 / jnp.sum(weights**2), jnp.max(weights),
                       jnp.mean(weights > 0))


def _est(terms, weights) -> Estimate:
    return Estimate(jnp.mean(terms), terms, weights)


def replay(reward, action, action_dist) -> Estimate:
    """Rejection-sampling replay; the coverage is ``mean(weights)`` (matched rows).

    Only rows where the target policy takes the logged action with probability 1 count;
    the estimate is 0 when no row matches (obp's convention).
    """
    match = (target_prob(action, action_dist) == 1.0).astype(reward.dtype)
    cover = jnp.mean(match)
    terms = jnp.where(cover > 0, match * reward / jnp.where(cover > 0, cover, 1.0), 0.0)
    return _est(terms, match)


def ipw(reward, action, pscore, action_dist, lambda_=jnp.inf) -> Estimate:
    """Inverse propensity weighting with weights capped at ``lambda_``."""
    w = jnp.minimum(importance_weights(action, pscore, action_dist), lambda_)
    return _est(w * reward, w)


def ipw_floor(reward, action, pscore, action_dist, floor=0.01) -> Estimate:
    """IPW with the propensity floored: π_e(a_i|x_i) / max(p_i, floor)."""
    w = target_prob(action, action_dist) / jnp.maximum(pscore, floor)
    return _est(w * reward, w)


def snipw(reward, action, pscore, action_dist) -> Estimate:
    """Self-normalised IPW: Σ w r / Σ w."""
    w = importance_weights(action, pscore, action_dist)
    return _est(w * reward / jnp.mean(w), w)


def dm(action_dist, estimated_rewards) -> Estimate:
    """Direct method: the reward model's value of the target policy."""
    terms = model_value(action_dist, estimated_rewards)
    return _est(terms, jnp.ones_like(terms))


def _dr_terms(reward, action, action_dist, estimated_rewards, w):
    resid = reward - factual(action, estimated_rewards)
    return model_value(action_dist, estimated_rewards) + w * resid


def dr(reward, action, pscore, action_dist, estimated_rewards, lambda_=jnp.inf) -> Estimate:
    """Doubly robust, with the correction's weights capped at ``lambda_``."""
    w = jnp.minimum(importance_weights(action, pscore, action_dist), lambda_)
    return _est(_dr_terms(reward, action, action_dist, estimated_rewards, w), w)


def sndr(reward, action, pscore, action_dist, estimated_rewards) -> Estimate:
    """Self-normalised DR: the correction divided by the mean weight."""
    w = importance_weights(action, pscore, action_dist)
    w = w / jnp.mean(w)
    return _est(_dr_terms(reward, action, action_dist, estimated_rewards, w), w)


def switch_dr(reward, action, pscore, action_dist, estimated_rewards,
              lambda_=jnp.inf) -> Estimate:
    """Switch-DR: rows with weight above ``lambda_`` fall back to the model (w ≤ λ kept)."""
    w = importance_weights(action, pscore, action_dist)
    w = jnp.where(w <= lambda_, w, 0.0)
    return _est(_dr_terms(reward, action, action_dist, estimated_rewards, w), w)


def _shrink(w, lambda_):
    """DRos's optimistic shrinkage λw / (w² + λ); plain w at λ = ∞, 0 at λ = 0."""
    safe = jnp.where(w**2 + lambda_ > 0, w**2 + lambda_, 1.0)
    shrunk = jnp.where(w**2 + lambda_ > 0, lambda_ * w / safe, 0.0)
    return jnp.where(jnp.isinf(lambda_), w, shrunk)


def dros(reward, action, pscore, action_dist, estimated_rewards, lambda_=0.0) -> Estimate:
    """DR with optimistic shrinkage of the weights (λ = 0: DM; λ = ∞: DR)."""
    w = _shrink(importance_weights(action, pscore, action_dist), lambda_)
    return _est(_dr_terms(reward, action, action_dist, estimated_rewards, w), w)


def _sg(w, lambda_):
    """Sub-Gaussian weight correction w / (1 − λ + λw), λ ∈ [0, 1]."""
    den = 1.0 - lambda_ + lambda_ * w
    return jnp.where(den > 0, w / jnp.where(den > 0, den, 1.0), 0.0)


def sg_ipw(reward, action, pscore, action_dist, lambda_=0.0) -> Estimate:
    """Sub-Gaussian IPW (λ = 0: IPW)."""
    w = _sg(importance_weights(action, pscore, action_dist), lambda_)
    return _est(w * reward, w)


def sg_dr(reward, action, pscore, action_dist, estimated_rewards, lambda_=0.0) -> Estimate:
    """Sub-Gaussian DR (λ = 0: DR)."""
    w = _sg(importance_weights(action, pscore, action_dist), lambda_)
    return _est(_dr_terms(reward, action, action_dist, estimated_rewards, w), w)
