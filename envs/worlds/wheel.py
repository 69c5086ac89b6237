"""The wheel bandit (Riquelme, Tucker and Snoek 2018, "Deep Bayesian Bandits Showdown").

Contexts are uniform in the unit disc. Arm 0 is safe: mean μ₁ everywhere. Arms 1–4 have
mean μ₂ when ‖x‖ < δ; on the rim (‖x‖ ≥ δ) the arm of x's quadrant has mean μ₃ and the
other three keep μ₂, with the quadrants by the signs of (x₁, x₂):

    arm 1: x₁ > 0, x₂ > 0    arm 2: x₁ > 0, x₂ ≤ 0
    arm 3: x₁ ≤ 0, x₂ > 0    arm 4: x₁ ≤ 0, x₂ ≤ 0

With μ₃ > μ₁ > μ₂ the best arm is 0 inside the disc of radius δ and the quadrant's arm on
the rim, which a share 1 − δ² of rounds reach: the larger δ, the more exploration it takes
to find the rim's rewards. Rewards are Gaussian with one ``noise_std`` for every arm.

``delta`` may be a list: a grid run in one compiled program, grid point g playing
``delta[g]`` (:meth:`WheelWorld.swept` names it ``env_delta``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from common.errors import ConfigError
from common.validation import Range
from envs.worlds.base import NOISE_STD, P_ELIGIBLE, GridRange, Option, World

MEAN = Range(-math.inf)


class WheelParams(NamedTuple):
    delta: Array  # () float32: the radius beyond which the quadrant's arm pays μ₃
    noise_std: Array  # () float32


@dataclass(frozen=True)
class WheelWorld(World):
    """The wheel bandit: K = 5 arms, 2-dimensional contexts uniform in the unit disc.

    Defaults are the paper's (μ₁ = 1.2, μ₂ = 1.0, μ₃ = 50, σ = 0.01) with δ = 0.95, the
    value of the reference ``example_main.py``. The world has no random parameters: every
    instance is the same wheel.
    """

    delta: float | tuple[float, ...] = 0.95
    mu_1: float = 1.2
    mu_2: float = 1.0
    mu_3: float = 50.0
    noise_std: float = 0.01
    p_eligible: float = 1.0
    n_arms: ClassVar[int] = 5
    dim: ClassVar[int] = 2
    name: ClassVar[str] = "wheel"
    draws_read_state: ClassVar[bool] = False  # contexts and noise from the key alone
    OPTIONS: ClassVar[dict[str, Option]] = {
        "delta": GridRange(0.0, 1.0, low_open=True, high_open=True),
        "mu_1": MEAN, "mu_2": MEAN, "mu_3": MEAN,
        "noise_std": NOISE_STD, "p_eligible": P_ELIGIBLE,
    }

    def __post_init__(self):
        self.OPTIONS["delta"].check("env.delta", self.delta)
        if isinstance(self.delta, (list, tuple)):
            object.__setattr__(self, "delta", tuple(float(d) for d in self.delta))

    def swept(self) -> dict[str, list[float]]:
        """``{"env_delta": [...]}`` when ``delta`` is a list, else ``{}``."""
        return {"env_delta": list(self.delta)} if isinstance(self.delta, tuple) else {}

    def sample_params(self, key: Array) -> WheelParams:
        if self.swept():
            raise ConfigError(f"env 'wheel' has delta given as a list {list(self.delta)}: a "
                              f"grid runs only through simulate, one grid point per lane")
        return self.sample_params_at(key, 0)

    def sample_params_at(self, key: Array, index) -> WheelParams:
        """The wheel of grid point ``index`` (int or traced int32, ()): its ``delta``."""
        del key
        deltas = np.atleast_1d(np.asarray(self.delta, np.float32))
        return WheelParams(jnp.asarray(deltas)[index], jnp.float32(self.noise_std))

    def _context(self, key: Array) -> Array:
        """Uniform in the unit disc: radius √u₁, angle 2πu₂."""
        u = jax.random.uniform(key, (2,))
        radius, angle = jnp.sqrt(u[0]), jnp.float32(2 * math.pi) * u[1]
        return radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def mean_rewards(self, params: WheelParams, state, context: Array) -> Array:
        x1, x2 = context[0], context[1]
        rim = jnp.sqrt(x1 * x1 + x2 * x2) >= params.delta
        quadrant = 1 + 2 * (x1 <= 0).astype(jnp.int32) + (x2 <= 0).astype(jnp.int32)
        arms = jnp.arange(self.n_arms)
        risky = jnp.where(rim & (arms == quadrant), jnp.float32(self.mu_3),
                          jnp.float32(self.mu_2))
        return jnp.where(arms == 0, jnp.float32(self.mu_1), risky)
