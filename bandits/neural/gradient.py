"""NeuralUCB (Zhou, Li and Gu, 2020) and NeuralTS (Zhang, Zhou, Li and Gu, 2021):
exploration from the network's gradient features, with the diagonal approximation of
the design matrix that both papers' experiments use.

With g_a = ∇_θ f(x_a; θ) (p numbers) and m the hidden width, the design matrix starts at
``reg``·I and grows by g gᵀ/m for the played arm at every decision (kept as its
diagonal Z, in ``observe``). NeuralUCB plays the largest f(x_a) + γ·sqrt(Σ_j g_j²/Z_j/m)
(``probs`` one-hot, exact ties split); NeuralTS draws each arm's score from
N(f(x_a), ν²·reg·Σ_j g_j²/Z_j/m) and plays the largest (``probs`` exact by
quadrature, :func:`bandits.base.gaussian_thompson`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from bandits.base import (
    Decision,
    Policy,
    draw_gaussian_scores,
    draw_tiebreak,
    gaussian_thompson,
    greedy,
)
from bandits.neural.core import NeuralParts, NeuralSettings, neural_policy
from bandits.neural.network import apply, flat_gradients, n_parameters


class NeuralUCBParams(NamedTuple):
    gamma: Array = 1.0  # γ, the width of the confidence bonus, >= 0
    reg: Array = 1.0  # λ: the design matrix starts at λ·I, > 0
    lr: Array = 1e-2  # learning rate
    weight_decay: Array = 0.0  # λ of λ/2·‖θ − θ₀‖² in the loss


class NeuralTSParams(NamedTuple):
    nu: Array = 1.0  # ν, the posterior's scale, >= 0
    reg: Array = 1.0  # λ: the design matrix starts at λ·I, > 0
    lr: Array = 1e-2  # learning rate
    weight_decay: Array = 0.0  # λ of λ/2·‖θ − θ₀‖² in the loss


def widths(state, inputs: Array, hidden: int) -> tuple[Array, Array]:
    """(f(x_a), sqrt(Σ_j g_j²/Z_j/m)) for every arm's input (K, w)."""
    grads = flat_gradients(state.net, inputs)
    return apply(state.net, inputs), jnp.sqrt(jnp.sum(grads * grads / state.stats, -1)
                                              / hidden)


def _observe(hidden: int):
    def observe(params, state, inputs, decision: Decision) -> Array:
        g = flat_gradients(state.net, jnp.take(inputs, decision.action, axis=0)[None])[0]
        return state.stats + g * g / hidden

    return observe


def _design(params, net) -> Array:
    return jnp.full((n_parameters(net),), params.reg, jnp.float32)


def neural_ucb(n_arms: int, dim: int, **settings) -> Policy:
    """NeuralUCB (static ``settings``: :class:`NeuralSettings`)."""
    s = NeuralSettings(**settings)

    def decide(params, state, noise, inputs, mask) -> Decision:
        f, width = widths(state, inputs, s.hidden)
        return greedy(f + params.gamma * width, mask, noise["tiebreak"])

    parts = NeuralParts(NeuralUCBParams(), draw_tiebreak(n_arms), decide, _design,
                        observe=_observe(s.hidden))
    return neural_policy("neural_ucb", n_arms, dim, s, parts)


def neural_ts(n_arms: int, dim: int, n_prob_nodes: int = 10, **settings) -> Policy:
    """NeuralTS (static ``settings``: :class:`NeuralSettings`; ``n_prob_nodes``:
    quadrature nodes per arm for ``probs``)."""
    s = NeuralSettings(**settings)

    def decide(params, state, noise, inputs, mask) -> Decision:
        f, width = widths(state, inputs, s.hidden)
        scale = params.nu * jnp.sqrt(params.reg) * width
        return gaussian_thompson(f, scale, noise, mask, n_prob_nodes)

    parts = NeuralParts(NeuralTSParams(), draw_gaussian_scores(n_arms), decide, _design,
                        observe=_observe(s.hidden))
    return neural_policy("neural_ts", n_arms, dim, s, parts)
