"""Neural ε-greedy: the network's best arm with probability 1 − ε, an eligible arm
uniformly at random otherwise; the simple baseline of the neural policies."""

from __future__ import annotations

from typing import NamedTuple

import jax
from jax import Array

from bandits.base import Decision, Policy, epsilon_mix, greedy, sample_categorical
from bandits.neural.core import NeuralParts, NeuralSettings, neural_policy
from bandits.neural.network import apply


class NeuralEpsGreedyParams(NamedTuple):
    epsilon: Array = 0.05  # exploration rate, in [0, 1]
    lr: Array = 1e-2  # learning rate
    weight_decay: Array = 0.0  # λ of λ/2·‖θ − θ₀‖² in the loss


def _draw(params, key) -> dict:
    k_u, k_tie = jax.random.split(key)
    return {"u": jax.random.uniform(k_u), "tiebreak": jax.random.uniform(k_tie)}


def _decide(params, state, noise, inputs, mask) -> Decision:
    best = greedy(apply(state.net, inputs), mask, noise["tiebreak"]).probs
    probs = epsilon_mix(best, mask, params.epsilon)
    return Decision(sample_categorical(probs, noise["u"]), probs)


def neural_eps_greedy(n_arms: int, dim: int, **settings) -> Policy:
    """Neural ε-greedy (static ``settings``: :class:`NeuralSettings`); exact ``probs``."""
    parts = NeuralParts(NeuralEpsGreedyParams(), _draw, _decide, lambda params, net: ())
    return neural_policy("neural_eps_greedy", n_arms, dim, NeuralSettings(**settings), parts)
