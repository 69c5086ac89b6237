"""Linear contextual bandits with one ridge regression per arm (disjoint models).

All three policies share the same sufficient statistics: for arm a, with design
matrix X_a and rewards y_a of the rounds it was played,

    A_a = reg · I + X_aᵀ X_a,      θ̂_a = A_a⁻¹ X_aᵀ y_a.

The state keeps A_a⁻¹ and θ̂_a and updates both by Sherman–Morrison (recursive least
squares), O(d²) per round instead of a d³ solve:

    k = A⁻¹x / (1 + xᵀA⁻¹x),   θ̂ ← θ̂ + k (r − xᵀθ̂),   A⁻¹ ← A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x).

The rank-one term is formed as an outer product of one vector with itself, so A⁻¹ stays
exactly symmetric in floating point. Every arm is updated with a weight one-hot(action),
which leaves the other arms bit-for-bit unchanged and avoids gathers and scatters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from bandits.base import (
    Decision,
    Policy,
    draw_gaussian_scores,
    draw_tiebreak,
    draw_uniform,
    epsilon_mix,
    gaussian_thompson,
    greedy,
    one_hot,
    stochastic,
)


class RidgeState(NamedTuple):
    a_inv: Array  # (n_arms, dim, dim) inverse of each arm's regularised Gram matrix
    theta: Array  # (n_arms, dim) ridge estimate of each arm's coefficients


def ridge_init(n_arms: int, dim: int):
    def init(params, key):
        del key
        eye = jnp.eye(dim, dtype=jnp.float32) / params.reg
        return RidgeState(jnp.broadcast_to(eye, (n_arms, dim, dim)),
                          jnp.zeros((n_arms, dim), jnp.float32))

    return init


def ridge_project(state: RidgeState, x: Array):
    """Per-arm predictive mean xᵀθ̂_a, variance factor xᵀA_a⁻¹x and A_a⁻¹x."""
    ax = jnp.sum(state.a_inv * x, axis=-1)  # (n_arms, dim)
    var = jnp.maximum(jnp.sum(ax * x, axis=-1), 0.0)  # (n_arms,)
    mean = jnp.sum(state.theta * x, axis=-1)  # (n_arms,)
    return mean, var, ax


def ridge_update(n_arms: int):
    def update(params, state: RidgeState, context, action, reward) -> RidgeState:
        del params
        w = one_hot(action, n_arms)
        mean, var, ax = ridge_project(state, context)
        gain = w / (1.0 + var)  # (n_arms,), zero for arms not played
        theta = state.theta + (gain * (reward - mean))[:, None] * ax
        a_inv = state.a_inv - (ax[:, :, None] * ax[:, None, :]) * gain[:, None, None]
        return RidgeState(a_inv, theta)

    return update


def fold_logs(state: RidgeState,
              batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> RidgeState:
    """The ridge statistics after every logged row, batch by batch (float64 on the host).

    Each arm's Gram matrix A_a and X_aᵀy_a are recovered from the state, grown by one
    matrix product per arm and batch, and inverted once at the end.

    Args:
        state: the state to continue from (``a_inv`` (n_arms, dim, dim), ``theta``
            (n_arms, dim)).
        batches: ``(context (b, dim), action (b,) int64, reward (b,))`` in time order.

    Returns:
        ``RidgeState`` in float32: A_a⁻¹ (exactly symmetric) and θ̂_a = A_a⁻¹X_aᵀy_a, as
        ``update`` on every row in turn would hold them without its float32 rounding.
    """
    if not isinstance(state, RidgeState):
        raise ValueError(f"a linear policy trains from a RidgeState state, got "
                         f"{type(state).__name__}")
    a_inv = np.asarray(state.a_inv, np.float64)
    gram = np.linalg.inv(a_inv)  # A_a = reg·I + XᵀX so far
    xty = np.einsum("kij,kj->ki", gram, np.asarray(state.theta, np.float64))
    k = gram.shape[0]
    for context, a, r in batches:
        x = np.asarray(context, np.float64)
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
    return RidgeState(jnp.asarray(a_inv, np.float32), jnp.asarray(theta, np.float32))


class LinUCBParams(NamedTuple):
    alpha: Array = 1.0  # exploration: width multiplier, >= 0
    reg: Array = 1.0  # ridge regularisation, > 0


def lin_ucb(n_arms: int, dim: int) -> Policy:
    """Disjoint LinUCB (Li et al., 2010): argmax_a xᵀθ̂_a + α·sqrt(xᵀA_a⁻¹x)."""

    def decide(params, state, noise, context, mask) -> Decision:
        mean, var, _ = ridge_project(state, context)
        return greedy(mean + params.alpha * jnp.sqrt(var), mask, noise["tiebreak"])

    return Policy("lin_ucb", n_arms, dim, LinUCBParams(), ridge_init(n_arms, dim),
                  draw_tiebreak(n_arms), decide, ridge_update(n_arms))


class LinTSParams(NamedTuple):
    v: Array = 1.0  # posterior scale: θ̃_a ~ N(θ̂_a, v² A_a⁻¹), >= 0
    reg: Array = 1.0  # ridge regularisation, > 0


def lin_ts(n_arms: int, dim: int, n_prob_nodes: int = 10) -> Policy:
    """Linear Thompson sampling (Agrawal & Goyal, 2013), disjoint arms.

    Drawing θ̃_a ~ N(θ̂_a, v²A_a⁻¹) independently per arm and scoring xᵀθ̃_a gives
    scores that are independent normals N(xᵀθ̂_a, v² xᵀA_a⁻¹x); the policy samples those
    scores directly, which yields exactly the same action distribution at O(d²) per arm
    instead of a d×d Cholesky factorisation. ``probs`` is the probability that each arm's
    score is the largest, by quadrature on ``n_prob_nodes`` nodes per arm
    (:func:`bandits.base.gaussian_thompson`).
    """

    def decide(params, state, noise, context, mask) -> Decision:
        mean, var, _ = ridge_project(state, context)
        return gaussian_thompson(mean, params.v * jnp.sqrt(var), noise, mask, n_prob_nodes)

    return Policy("lin_ts", n_arms, dim, LinTSParams(), ridge_init(n_arms, dim),
                  draw_gaussian_scores(n_arms), decide, ridge_update(n_arms))


class LinEpsGreedyParams(NamedTuple):
    epsilon: Array = 0.1  # exploration probability, in [0, 1]
    reg: Array = 1.0  # ridge regularisation, > 0


def lin_eps_greedy(n_arms: int, dim: int) -> Policy:
    """ε-greedy on per-arm ridge predictions xᵀθ̂_a, with exact probabilities."""

    def decide(params, state, noise, context, mask) -> Decision:
        mean, _, _ = ridge_project(state, context)
        g = greedy(mean, mask, jnp.zeros(())).probs
        return stochastic(epsilon_mix(g, mask, params.epsilon), noise["u"])

    return Policy("lin_eps_greedy", n_arms, dim, LinEpsGreedyParams(),
                  ridge_init(n_arms, dim), draw_uniform, decide, ridge_update(n_arms))
