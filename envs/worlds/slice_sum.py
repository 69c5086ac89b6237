"""A nonlinear world no linear policy can learn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax.numpy as jnp
from jax import Array

from envs.worlds.base import ARMS, DIM, NOISE_STD, P_ELIGIBLE, Option, World


class SliceParams(NamedTuple):
    noise_std: Array  # ()


@dataclass(frozen=True)
class SliceSum(World):
    """A nonlinear world: arm a's mean is the squared sum of its own slice of x.

    The context x ~ N(0, I_d) is cut into ``n_arms`` consecutive slices of
    ``dim // n_arms`` features; μ(x, a) = (Σ_{j ∈ slice a} x_j)² / |slice|, so every
    arm's mean is χ²₁-distributed and *no* linear function of x predicts it better than
    a constant: linear policies do no better than context-free ones here, which is what
    makes it a test for nonlinear (neural) bandits.
    """

    n_arms: int = 5
    dim: int = 10
    noise_std: float = 0.5
    p_eligible: float = 1.0
    name: ClassVar[str] = "slice-sum"
    draws_read_state: ClassVar[bool] = False  # contexts and noise from the key alone
    OPTIONS: ClassVar[dict[str, Option]] = {
        "n_arms": ARMS, "dim": DIM, "noise_std": NOISE_STD, "p_eligible": P_ELIGIBLE,
    }

    def __post_init__(self):
        if self.dim < self.n_arms:
            raise ValueError(f"env.dim must be >= env.n_arms for slice-sum, got dim="
                             f"{self.dim}, n_arms={self.n_arms}")

    def sample_params(self, key: Array) -> SliceParams:
        del key
        return SliceParams(jnp.float32(self.noise_std))

    def mean_rewards(self, params: SliceParams, state, context: Array) -> Array:
        width = self.dim // self.n_arms
        sums = jnp.sum(context[: width * self.n_arms].reshape(self.n_arms, width), -1)
        return sums**2 / width
