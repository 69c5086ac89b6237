"""Fixed policies over known mean rewards: the oracle logging and target policies of
simulated studies and deployments (uniform, ε-greedy and softmax over the true means).

A fixed policy is a function ``probs(context, mask) -> (n_arms,)``; the helpers here turn
mean rewards into those probabilities with the choice rules the policies of
:mod:`bandits` use.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import greedy, uniform_probs

KINDS = ("uniform", "eps_greedy", "softmax")

FixedPolicy = Callable[[Array, Array], Array]


def oracle_probs(kind: str, means: Array, mask: Array, *, epsilon: float = 0.0,
                 temperature: float = 1.0) -> Array:
    """(n_arms,) probabilities of a fixed policy over the mean rewards ``means``.

    Args:
        kind: ``"uniform"`` over eligible arms; ``"eps_greedy"``: the best eligible arm
            (exact ties share) mixed with uniform at ``epsilon``; ``"softmax"`` over
            eligible arms at ``temperature``.
        means: (n_arms,) mean rewards; mask: (n_arms,) bool, eligible arms.
    """
    if kind == "uniform":
        return uniform_probs(mask)
    if kind == "softmax":
        return jax.nn.softmax(jnp.where(mask, means / temperature, -jnp.inf))
    if kind == "eps_greedy":
        best = greedy(means, mask, jnp.float32(0.0)).probs
        return (1 - epsilon) * best + epsilon * mask / jnp.sum(mask)
    raise ValueError(f"unknown fixed policy {kind!r}; allowed: {', '.join(KINDS)}")


def oracle_policy(kind: str, mean_rewards: Callable[[Array], Array], *,
                  epsilon: float = 0.0, temperature: float = 1.0) -> FixedPolicy:
    """The fixed policy ``probs(context, mask)`` of :func:`oracle_probs`, with
    ``mean_rewards(context) -> (n_arms,)`` the world's true means."""
    if kind not in KINDS:
        raise ValueError(f"unknown fixed policy {kind!r}; allowed: {', '.join(KINDS)}")
    return lambda x, m: oracle_probs(kind, mean_rewards(x), m, epsilon=epsilon,
                                     temperature=temperature)
