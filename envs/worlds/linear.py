"""Linear worlds: Gaussian rewards linear in the context, and Bernoulli clicks through
a logistic link."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from common.validation import Flag, Range
from envs.worlds.base import ARMS, DIM, NOISE_STD, P_ELIGIBLE, Option, World


class LinearParams(NamedTuple):
    theta: Array  # (n_arms, dim) arm coefficients
    bias: Array  # (n_arms,) arm intercepts
    noise_std: Array  # () reward noise (Gaussian worlds)


@dataclass(frozen=True)
class LinearGaussian(World):
    """reward = θ_a·x + b_a + N(0, σ²), with x ~ N(0, s² I_d), s = ``context_std``.

    Instances draw θ_a ~ N(0, I_d / d) (so θ_a·x has unit variance when s = 1) and
    b_a = 0. With ``intercept`` the first feature is the constant 1, so each arm also has
    its own average reward θ_a0 and context-free policies have something to learn.
    ``context_std`` sets how diverse contexts are: at 1 they vary enough for a greedy
    linear policy to learn every arm, and at 0 (with ``intercept``) every context is
    (1, 0, …, 0), a K-armed bandit on which greedy choices lock onto a suboptimal arm
    in a sizable fraction of runs.
    """

    n_arms: int = 5
    dim: int = 10
    noise_std: float = 1.0
    p_eligible: float = 1.0
    intercept: bool = True
    context_std: float = 1.0
    name: ClassVar[str] = "linear-gaussian"
    draws_read_state: ClassVar[bool] = False  # contexts and noise from the key alone
    OPTIONS: ClassVar[dict[str, Option]] = {
        "n_arms": ARMS, "dim": DIM, "noise_std": NOISE_STD, "p_eligible": P_ELIGIBLE,
        "intercept": Flag(), "context_std": Range(0.0),
    }

    def _context(self, key):
        x = self.context_std * jax.random.normal(key, (self.dim,))
        if self.intercept:
            x = jnp.where(jnp.arange(self.dim) == 0, 1.0, x)
        return x

    def sample_params(self, key: Array) -> LinearParams:
        theta = jax.random.normal(key, (self.n_arms, self.dim)) / jnp.sqrt(self.dim)
        return LinearParams(theta, jnp.zeros(self.n_arms), jnp.float32(self.noise_std))

    def mean_rewards(self, params: LinearParams, state, context: Array) -> Array:
        return jnp.sum(params.theta * context, axis=-1) + params.bias


@dataclass(frozen=True)
class LogisticBernoulli(LinearGaussian):
    """click ~ Bernoulli(σ(θ_a·x + b_a)), x ~ N(0, s² I_d), θ_a ~ N(0, I_d / d)·scale.

    ``base_logit`` sets every b_a (e.g. -2 for click rates around 12%).
    """

    scale: float = 1.0
    base_logit: float = 0.0
    name: ClassVar[str] = "logistic-bernoulli"
    binary_rewards: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        **LinearGaussian.OPTIONS, "scale": Range(0.0), "base_logit": Range(-math.inf),
    }

    def sample_params(self, key: Array) -> LinearParams:
        p = super().sample_params(key)
        return p._replace(theta=p.theta * self.scale,
                          bias=jnp.full(self.n_arms, self.base_logit, jnp.float32))

    def mean_rewards(self, params: LinearParams, state, context: Array) -> Array:
        return jax.nn.sigmoid(super().mean_rewards(params, state, context))
