"""Shared-parameter linear policies: one ridge regression over every arm's own features
(:mod:`bandits.arm_features`), for worlds that describe each arm by a feature vector.

Arm a's score is x_aᵀθ̂ with θ̂ = A⁻¹ Σ x r, A = reg·I + Σ x xᵀ over the played arms'
features (d × d, shared by the arms). LinUCB plays the largest x_aᵀθ̂ + α·sqrt(x_aᵀA⁻¹x_a)
(the "hybrid-free" LinUCB of Li et al., 2010, with shared coefficients); linear Thompson
sampling draws each arm's score from N(x_aᵀθ̂, v²·x_aᵀA⁻¹x_a) and plays the largest
(``probs`` exact, :func:`bandits.base.gaussian_thompson`). With ``arm_features = 0`` the
disjoint encoding makes them the disjoint policies of :mod:`bandits.linear`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from bandits.arm_features import arm_inputs, input_size
from bandits.base import (
    Decision,
    Policy,
    draw_gaussian_scores,
    draw_tiebreak,
    gaussian_thompson,
    greedy,
)
from bandits.linear import LinTSParams, LinUCBParams


class SharedRidge(NamedTuple):
    a_inv: Array  # (d, d) A⁻¹, shared by the arms
    theta: Array  # (d,) θ̂


def _check(n_arms: int, dim: int, arm_features: int) -> int:
    if not isinstance(arm_features, int) or arm_features < 0 or (
            arm_features and arm_features * n_arms != dim):
        raise ValueError(f"arm_features must be 0 (one context for every arm) or d with "
                         f"n_arms·d = dim = {dim}, got {arm_features!r}")
    return input_size(n_arms, dim, arm_features)


def _init(width: int):
    def init(params, key) -> SharedRidge:
        del key
        return SharedRidge(jnp.eye(width, dtype=jnp.float32) / params.reg,
                           jnp.zeros((width,), jnp.float32))

    return init


def project(state: SharedRidge, inputs: Array) -> tuple[Array, Array]:
    """Every arm's predictive mean x_aᵀθ̂ and variance factor x_aᵀA⁻¹x_a, (K,) each."""
    ax = inputs @ state.a_inv
    return inputs @ state.theta, jnp.maximum(jnp.sum(ax * inputs, axis=-1), 0.0)


def _update(n_arms: int, arm_features: int):
    def update(params, state: SharedRidge, context, action, reward) -> SharedRidge:
        del params
        x = jnp.take(arm_inputs(context, n_arms, arm_features), action, axis=0)
        ax = state.a_inv @ x
        gain = 1.0 / (1.0 + x @ ax)
        theta = state.theta + gain * (reward - x @ state.theta) * ax
        return SharedRidge(state.a_inv - gain * ax[:, None] * ax[None, :], theta)

    return update


def lin_ucb_shared(n_arms: int, dim: int, arm_features: int = 0) -> Policy:
    """LinUCB with coefficients shared by the arms (see the module docstring)."""
    width = _check(n_arms, dim, arm_features)

    def decide(params, state, noise, context, mask) -> Decision:
        mean, var = project(state, arm_inputs(context, n_arms, arm_features))
        return greedy(mean + params.alpha * jnp.sqrt(var), mask, noise["tiebreak"])

    return Policy("lin_ucb_shared", n_arms, dim, LinUCBParams(), _init(width),
                  draw_tiebreak(n_arms), decide, _update(n_arms, arm_features))


def lin_ts_shared(n_arms: int, dim: int, arm_features: int = 0,
                  n_prob_nodes: int = 10) -> Policy:
    """Linear Thompson sampling with coefficients shared by the arms, each arm's score
    drawn from its marginal posterior (see the module docstring)."""
    width = _check(n_arms, dim, arm_features)

    def decide(params, state, noise, context, mask) -> Decision:
        mean, var = project(state, arm_inputs(context, n_arms, arm_features))
        return gaussian_thompson(mean, params.v * jnp.sqrt(var), noise, mask, n_prob_nodes)

    return Policy("lin_ts_shared", n_arms, dim, LinTSParams(), _init(width),
                  draw_gaussian_scores(n_arms), decide, _update(n_arms, arm_features))
