"""Covariate shift: the context distribution moves while the reward function stays."""

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
from envs.worlds.base import Option
from envs.worlds.supervised import SupervisedWorld
from envs.worlds.wrapper import (
    DriftParams,
    DriftState,
    DriftWorld,
    RoundList,
    check_rounds_within,
    innermost,
)


class ShiftParams(NamedTuple):
    direction: Array  # (dim,) float32 unit vector; 0 on the intercept feature


class ShiftKnobs(NamedTuple):
    rate: Array  # float32: how far contexts move a round
    jump_size: Array  # float32: how far they move at each jump round


class ShiftState(NamedTuple):
    offset: Array  # () float32 how far contexts have moved along ``direction``


@dataclass(frozen=True)
class CovariateShiftWorld(DriftWorld):
    """Contexts move along a fixed direction; ``mean_rewards`` as a function of x stays.

    Round ``t``'s context is the base's context plus ``m(t) · u``, with
    ``m(t) = rate · t + jump_size · #{c in jump_rounds : c ≤ t}`` and ``u`` a unit vector
    drawn per instance (normal, normalised) that is 0 on the intercept feature (feature 0
    when the base, or the world under a stack of drifts, has ``intercept``), so the
    context mean moves by ``m(t) · u``. The base must define its rewards at every context
    (not the supervised world). Keys: ``u`` from the wrapper's ``fold_in(key, 1)``; the
    step draws nothing. ``rate`` and ``jump_size`` may be lists (a grid).
    """

    rate: float = 0.0
    jump_rounds: tuple[int, ...] = ()
    jump_size: float = 0.0
    kind: ClassVar[str] = "covariate-shift"
    moves_contexts: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "rate": Range(0.0, 1.0), "jump_rounds": RoundList(),
        "jump_size": Range(-1e3, 1e3),
    }
    KNOBS: ClassVar[tuple[str, ...]] = ("rate", "jump_size")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "jump_rounds", tuple(int(r) for r in self.jump_rounds))
        if isinstance(innermost(self.base), SupervisedWorld):
            raise ConfigError("drift 'covariate-shift' needs a base world with rewards at "
                              "every context, got env 'supervised'")
        if self._intercept() and self.dim < 2:
            raise ConfigError("drift 'covariate-shift' needs a feature besides the "
                              f"intercept, got env.dim={self.dim}")

    def _intercept(self) -> bool:
        return bool(getattr(innermost(self.base), "intercept", False))

    def check_horizon(self, n_rounds: int) -> None:
        check_rounds_within("drift.jump_rounds", self.jump_rounds, n_rounds)

    def knobs(self, values: dict[str, np.ndarray]) -> ShiftKnobs:
        return ShiftKnobs(np.float32(values["rate"]), np.float32(values["jump_size"]))

    def offset_at(self, params: DriftParams, t: Array) -> Array:
        """``m(t)``: float32, ()."""
        t = jnp.asarray(t, jnp.int32)
        jumps = jnp.asarray(self.jump_rounds or (math.inf,), jnp.float32)
        n_jumps = jnp.sum(jumps <= t.astype(jnp.float32)).astype(jnp.float32)
        rate, jump = self.knob(params, "rate"), self.knob(params, "jump_size")
        return rate * t.astype(jnp.float32) + jump * n_jumps

    def _sample_extra(self, key: Array) -> ShiftParams:
        u = jax.random.normal(key, (self.dim,))
        if self._intercept():
            u = jnp.where(jnp.arange(self.dim) == 0, 0.0, u)
        return ShiftParams(u / jnp.linalg.norm(u))

    def _extra_at(self, params: DriftParams, t: Array) -> ShiftState:
        return ShiftState(self.offset_at(params, t))

    def sample_context(self, key: Array, params: DriftParams,
                       state: DriftState) -> tuple[Array, Array]:
        context, mask = super().sample_context(key, params, state)
        return context + state.extra.offset * params.extra.direction, mask
