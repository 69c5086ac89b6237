"""The study's world and policies with a known true lift: fixed ε-greedy policies over a
linear-Gaussian world whose arm means are set so that the candidate's value is the
incumbent's times ``1 + lift`` exactly.

The incumbent plays arm 0, a candidate plays arm ``j`` (a param, so a grid of lifts runs
in one program), each with probability ``1 − ε`` and an arm drawn uniformly among the K
arms otherwise. A policy's value is ``(1 − ε)·μ_arm + ε·μ̄``; with
``μ_j = b + ℓ_j·v/(1 − ε)`` (``ℓ_0 = 0``) and ``b = v·(1 − ε·mean(ℓ)/(1 − ε))``, the
incumbent's value is ``v`` and candidate ``j``'s is ``v·(1 + ℓ_j)``. Every mean is a
per-arm intercept (θ = 0), so the context only routes users.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from bandits.base import Decision, Policy, draw_uniform, epsilon_mix, one_hot, stochastic
from envs.worlds.linear import LinearGaussian, LinearParams


class FixedArmParams(NamedTuple):
    arm: Array  # () the arm played when not exploring (a float, so it sweeps)
    epsilon: Array  # () the exploration rate


def fixed_arm(n_arms: int, dim: int, arm: int = 0, epsilon: float = 0.1) -> Policy:
    """A fixed policy: ``arm`` with probability ``1 − ε``, else uniform over eligible arms
    (its ``probs`` are exact)."""

    def decide(params, state, noise, context, mask) -> Decision:
        best = one_hot(params.arm.astype(jnp.int32), n_arms)
        return stochastic(epsilon_mix(best, mask, params.epsilon), noise["u"])

    return Policy(f"fixed_arm_{arm}", n_arms, dim,
                  FixedArmParams(jnp.float32(arm), jnp.float32(epsilon)),
                  lambda params, key: (), draw_uniform, decide,
                  lambda params, state, context, action, reward: state)


def arm_means(lifts, epsilon: float, value: float = 1.0) -> np.ndarray:
    """(1 + len(lifts),) arm means: arm 0 the incumbent's, arm ``1 + i`` giving a
    candidate of value ``value·(1 + lifts[i])`` (see the module docstring)."""
    lift = np.concatenate([[0.0], np.asarray(lifts, np.float64)])
    base = value * (1.0 - epsilon * lift.mean() / (1.0 - epsilon))
    return base + lift * value / (1.0 - epsilon)


def policy_value(means: np.ndarray, arm: int, epsilon: float) -> float:
    """The value of :func:`fixed_arm` at ``arm`` over arm means ``means``."""
    return float((1.0 - epsilon) * means[arm] + epsilon * np.mean(means))


def lift_world(lifts, epsilon: float, value: float, noise_std: float, dim: int
               ) -> tuple[LinearGaussian, LinearParams]:
    """The world (K = 1 + len(lifts) arms, an intercept and ``dim − 1`` standard normal
    features) and its one instance, whose means are :func:`arm_means`."""
    means = arm_means(lifts, epsilon, value)
    world = LinearGaussian(n_arms=len(means), dim=dim, noise_std=noise_std, intercept=True)
    params = LinearParams(jnp.zeros((len(means), dim), jnp.float32),
                          jnp.asarray(means, jnp.float32), jnp.float32(noise_std))
    return world, params
