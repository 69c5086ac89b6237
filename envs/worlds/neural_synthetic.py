"""The synthetic problems of NeuralUCB (Zhou, Li and Gu 2020, "Neural Contextual Bandits
with UCB-based Exploration", section 7.1): one feature vector per arm, a nonlinear reward.

Every round each arm a gets its own features x_a, drawn independently and uniformly on
the unit sphere of R^d, and pays r = h(x_a) + ξ, ξ ~ N(0, σ²), with ``function``:

    h1(x) = 10 (xᵀa)²      h2(x) = xᵀAᵀAx = ‖Ax‖²      h3(x) = cos(3 xᵀa)

where a (uniform on the unit sphere) and A (d × d, i.i.d. N(0, 1) entries) are drawn per
world instance. The same h serves every arm: what tells arms apart is their features.
The context is the K feature vectors flattened arm-major (``arm_features = d``, so
``dim = K·d`` and ``context.reshape(K, d)[a]`` is x_a).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from common.validation import Choice
from envs.worlds.base import ARMS, DIM, NOISE_STD, P_ELIGIBLE, Option, World

FUNCTIONS = ("h1", "h2", "h3")


class NeuralSyntheticParams(NamedTuple):
    a: Array  # (d,) unit vector: the direction h1 and h3 read
    A: Array  # (d, d) N(0, 1) entries: the quadratic form of h2
    noise_std: Array  # ()


def unit_rows(x: Array) -> Array:
    """Each row of ``x`` (..., d) divided by its Euclidean norm."""
    return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))


@dataclass(frozen=True)
class NeuralSyntheticWorld(World):
    """NeuralUCB's synthetic world ``function`` (h1, h2 or h3; see the module docstring).

    Defaults are the paper's: K = 4 arms of d = 20 features each (``dim`` = 80) and
    σ = 1.
    """

    function: str = "h1"
    n_arms: int = 4
    arm_features: int = 20
    noise_std: float = 1.0
    p_eligible: float = 1.0
    dim: int = field(init=False)
    name: ClassVar[str] = "neural-synthetic"
    draws_read_state: ClassVar[bool] = False  # contexts and noise from the key alone
    OPTIONS: ClassVar[dict[str, Option]] = {
        "function": Choice(FUNCTIONS), "n_arms": ARMS, "arm_features": DIM,
        "noise_std": NOISE_STD, "p_eligible": P_ELIGIBLE,
    }

    def __post_init__(self):
        self.OPTIONS["function"].check("env.function", self.function)
        object.__setattr__(self, "dim", self.n_arms * self.arm_features)

    def sample_params(self, key: Array) -> NeuralSyntheticParams:
        k_a, k_A = jax.random.split(key)
        a = unit_rows(jax.random.normal(k_a, (self.arm_features,)))
        A = jax.random.normal(k_A, (self.arm_features, self.arm_features))
        return NeuralSyntheticParams(a, A, jnp.float32(self.noise_std))

    def _context(self, key: Array) -> Array:
        """K independent points uniform on the unit sphere of R^d, flattened: (K·d,)."""
        x = jax.random.normal(key, (self.n_arms, self.arm_features))
        return unit_rows(x).reshape(self.dim)

    def mean_rewards(self, params: NeuralSyntheticParams, state, context: Array) -> Array:
        x = context.reshape(self.n_arms, self.arm_features)
        if self.function == "h2":
            ax = jnp.sum(x[:, None, :] * params.A, axis=-1)  # (K, d): A x_a
            return jnp.sum(ax * ax, axis=-1)
        along = jnp.sum(x * params.a, axis=-1)  # (K,): x_aᵀ a
        if self.function == "h1":
            return 10.0 * along * along
        return jnp.cos(3.0 * along)
