"""Shared-parameter linear policies: one ridge regression over every arm's own features
(:mod:`bandits.arm_features`), for worlds that describe each arm by a feature vector.

Arm a's score is x_aᵀθ̂ with θ̂ = A⁻¹ Σ x r, A = reg·I + Σ x xᵀ over the played arms'
features (d × d, shared by the arms). LinUCB plays the largest x_aᵀθ̂ + α·sqrt(x_aᵀA⁻¹x_a)
(the "hybrid-free" LinUCB of Li et al., 2010, with shared coefficients); linear Thompson
sampling draws each arm's score from N(x_aᵀθ̂, v²·x_aᵀA⁻¹x_a) and plays the largest
(``probs`` exact, :func:`bandits.base.gaussian_thompson`). With ``arm_features = 0`` the
disjoint encoding makes them the disjoint policies of :mod:`bandits.linear`.

Training from logs (:func:`fold_logs`) sums A and Σ x r over the logged rows in float64.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
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


def _played_inputs(context: np.ndarray, action: np.ndarray, width: int) -> np.ndarray:
    """(b, width) the logged arms' own inputs: arm a's features (``width`` < the context's
    width: K = dim / width arms of ``width`` features), or the disjoint encoding e_a ⊗ x
    (``width`` = K·dim); with one arm both are the context itself."""
    b, dim = context.shape
    if width <= dim:
        return context.reshape(b, dim // width, width)[np.arange(b), action]
    out = np.zeros((b, width // dim, dim))
    out[np.arange(b), action] = context
    return out.reshape(b, width)


def fold_logs(state: SharedRidge,
              batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> SharedRidge:
    """The shared ridge statistics after every logged row (float64 on the host): A and
    Σ x r grown by one matrix product per batch over the logged arms' inputs, inverted
    once at the end, as ``update`` on every row in turn would hold them without its
    float32 rounding. Which inputs the rows give follows from the widths: the state's
    ``width`` against the context's (see :func:`_played_inputs`)."""
    if not isinstance(state, SharedRidge):
        raise ValueError(f"a shared linear policy trains from a SharedRidge state, got "
                         f"{type(state).__name__}")
    gram = np.linalg.inv(np.asarray(state.a_inv, np.float64))
    xty = gram @ np.asarray(state.theta, np.float64)
    for context, action, reward in batches:
        x = _played_inputs(np.asarray(context, np.float64), action, gram.shape[0])
        gram += x.T @ x
        xty += x.T @ np.asarray(reward, np.float64)
    a_inv = np.linalg.inv(gram)
    a_inv = (a_inv + a_inv.T) / 2
    return SharedRidge(jnp.asarray(a_inv, np.float32), jnp.asarray(a_inv @ xty, np.float32))
