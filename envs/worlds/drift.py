"""Reward functions that change over time: abrupt changes, a random walk or a rotation,
and a season.

Each is a :class:`~envs.worlds.wrapper.DriftWorld` around a base world; options are
checked by :func:`envs.worlds.registry.make_drift` against each class's ``OPTIONS``.
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
from common.validation import Choice, Range
from envs.worlds.base import Option, Params
from envs.worlds.wrapper import (
    DriftParams,
    DriftWorld,
    RoundList,
    check_rounds_within,
    is_arm_leaf,
    replace_arm_rows,
)


@dataclass(frozen=True)
class AbruptWorld(DriftWorld):
    """Piecewise-stationary: at a change the base's reward parameters are redrawn.

    Round ``t`` is a change when ``t`` is in ``change_rounds`` or, with ``rate`` > 0, when
    a Poisson(``rate``) count of events in the round is positive (probability
    ``1 − exp(−rate)``, independently each round). Rounds before the first change play
    the instance drawn at round 0; a change takes effect in its own round.

    At a change, a fresh instance ``base.sample_params`` is drawn and each arm is
    replaced with probability ``fraction`` (every arm at 1): every params leaf whose
    leading axis has length ``n_arms`` (a float array, e.g. θ (K, d) and the bias (K,))
    takes the fresh values on the replaced arms' rows. Other leaves (e.g. ``noise_std``)
    never change.

    Keys, from the round's step key ``k``: the event draw ``fold_in(k, 2)``, the fresh
    instance ``fold_in(k, 3)``, the arms replaced ``fold_in(k, 4)``. ``rate`` and
    ``fraction`` may be lists (a grid).
    """

    change_rounds: tuple[int, ...] = ()
    rate: float = 0.0
    fraction: float = 1.0
    kind: ClassVar[str] = "abrupt"
    moves_params: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "change_rounds": RoundList(), "rate": Range(0.0, 10.0),
        "fraction": Range(0.0, 1.0, low_open=True),
    }
    KNOBS: ClassVar[tuple[str, ...]] = ("rate", "fraction")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "change_rounds", tuple(int(r) for r in self.change_rounds))

    def check_horizon(self, n_rounds: int) -> None:
        check_rounds_within("drift.change_rounds", self.change_rounds, n_rounds)

    def knobs(self, values: dict[str, np.ndarray]) -> AbruptKnobs:
        return AbruptKnobs(np.float32(-np.expm1(-values["rate"])),
                           np.float32(values["fraction"]))

    def is_change(self, params: DriftParams, key: Array, t: Array) -> Array:
        """Whether round ``t`` is a change: bool, ()."""
        change = jnp.any(jnp.asarray(t) == jnp.asarray(self.change_rounds or (-1,), jnp.int32))
        if np.any(self.knob_values()["rate"] > 0):
            u = jax.random.uniform(jax.random.fold_in(key, 2))
            change = change | (u < self.knob(params, "p_change"))
        return change

    def _step_params(self, params: DriftParams, current: Params, key: Array,
                     t: Array) -> Params:
        change = self.is_change(params, key, t)
        fresh = self.base.sample_params(jax.random.fold_in(key, 3))
        replaced = jnp.full((self.n_arms,), True)
        if np.any(self.knob_values()["fraction"] < 1.0):
            u = jax.random.uniform(jax.random.fold_in(key, 4), (self.n_arms,))
            replaced = u < self.knob(params, "fraction")
        return replace_arm_rows(fresh, current, replaced & change, self.n_arms)


class AbruptKnobs(NamedTuple):
    p_change: Array  # float32: 1 − exp(−rate), the probability that a round is a change
    fraction: Array  # float32: the probability that a change replaces an arm


class GradualKnobs(NamedTuple):
    rate: Array  # float32: the walk's step standard deviation, or radians a round
    turn_whole: Array  # uint32: rate / 2π mod 1 in multiples of 2⁻³² (rotation)
    turn_rest: Array  # float32: the remainder, below 2⁻³³ (rotation)


class SeasonKnobs(NamedTuple):
    speed: Array  # float32: 2π / period mod 2π, radians a round
    amplitude: Array  # float32


class RotationPlane(NamedTuple):
    u: Array  # (n_arms, d) unit rows: θ_a(0)'s direction (a random one when θ_a(0) = 0)
    v: Array  # (n_arms, d) unit rows orthogonal to ``u``, drawn at random


def turn_step(rate) -> tuple[np.ndarray, np.ndarray]:
    """``rate / 2π`` mod 1 (``rate`` in radians, float or array) split into a multiple of
    2⁻³² (uint32 numerator) and a remainder below 2⁻³³ (float32), on the host."""
    turns = np.fmod(np.asarray(rate, np.float64) / (2 * math.pi), 1.0)
    whole = np.round(turns * 2.0**32)
    rest = turns - whole * 2.0**-32
    return np.mod(whole, 2.0**32).astype(np.uint32), rest.astype(np.float32)


def turns_after(whole: Array, rest: Array, t: Array) -> Array:
    """``(t + 1)`` steps of :func:`turn_step` mod 1: float32, (), in turns. The whole
    part is multiplied exactly in wrapping uint32 arithmetic, so the rounding (about
    1e-7 turns) does not grow with ``t`` (for ``t + 1 < 2³²``)."""
    n = (jnp.asarray(t, jnp.int32) + 1).astype(jnp.uint32)
    wrapped = (n * jnp.asarray(whole, jnp.uint32)).astype(jnp.float32) * jnp.float32(2.0**-32)
    return wrapped + n.astype(jnp.float32) * jnp.asarray(rest, jnp.float32)


def rotation_turns(rate: float, t: Array) -> Array:
    """``(t + 1)·rate / 2π`` mod 1 for ``rate`` in radians: float32, (), in turns."""
    return turns_after(*turn_step(rate), t)


def _unit_rows(x: Array) -> Array:
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def rotation_plane(theta: Array, key: Array) -> RotationPlane:
    """Each row's plane of rotation: ``u`` its direction, ``v`` a random unit vector
    orthogonal to it (``fold_in(key, 0)`` draws ``u`` for zero rows, ``fold_in(key, 1)``
    the vector projected to give ``v``)."""
    if theta.shape[1] < 2:
        raise ConfigError(f"drift 'gradual' mode 'rotate' needs arm coefficient rows of "
                          f"at least 2 entries, got shape {theta.shape}")
    norm = jnp.linalg.norm(theta, axis=-1, keepdims=True)
    spare = _unit_rows(jax.random.normal(jax.random.fold_in(key, 0), theta.shape, theta.dtype))
    u = jnp.where(norm > 0, theta / jnp.where(norm > 0, norm, 1), spare)
    g = jax.random.normal(jax.random.fold_in(key, 1), theta.shape, theta.dtype)
    for _ in range(2):  # twice, so that u·v is zero to rounding
        g = g - jnp.sum(g * u, axis=-1, keepdims=True) * u
    return RotationPlane(u, _unit_rows(g))


def rotate_rows(theta: Array, plane: RotationPlane, angle: Array) -> Array:
    """``theta``'s rows turned by ``angle`` (radians) in their planes, from ``u`` towards
    ``v``; the part of each row outside its plane is kept."""
    cu = jnp.sum(theta * plane.u, axis=-1, keepdims=True)
    cv = jnp.sum(theta * plane.v, axis=-1, keepdims=True)
    c, s = -2 * jnp.sin(angle / 2) ** 2, jnp.sin(angle)  # c = cos(angle) − 1
    return theta + (cu * c - cv * s) * plane.u + (cu * s + cv * c) * plane.v


@dataclass(frozen=True)
class GradualWorld(DriftWorld):
    """Reward parameters that move a little every round: a Gaussian random walk, or a
    slow rotation.

    ``mode="walk"``: every round ``t`` (the first included), each entry of every params
    leaf whose leading axis has length ``n_arms`` (a float array: θ (K, d) and the bias
    (K,) of the linear worlds, in the logit scale for the logistic one) moves by an
    independent N(0, ``rate``²) increment: after round ``t``'s step an entry has moved by
    N(0, (t + 1)·``rate``²) from its round-0 value. Leaf ``i`` (in ``jax.tree_util``
    order) draws its increments from ``fold_in(k, 2 + i)`` of the round's step key ``k``.

    ``mode="rotate"``: each row θ_a of every 2-D arm leaf (θ (K, d), d ≥ 2) turns at
    ``rate`` radians a round in a plane drawn once per instance, spanned by orthonormal
    u_a = θ_a(0)/|θ_a(0)| (a random direction when θ_a(0) = 0) and a random v_a ⟂ u_a
    (:func:`rotation_plane`, from ``fold_in(fold_in(key, 1), i)`` of the instance key for
    leaf ``i``). After round ``t``'s step θ_a(t) = cos φ θ_a(0) + sin φ |θ_a(0)| v_a with
    φ = (t + 1)·``rate`` mod 2π, computed from round 0 in closed form
    (:func:`rotation_turns`), so |θ_a| is kept to rounding. 1-D arm leaves (the bias)
    stay put; the step key is not used.

    Other leaves (e.g. ``noise_std``) never change.
    """

    rate: float = 0.0
    mode: str = "walk"
    kind: ClassVar[str] = "gradual"
    moves_params: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "rate": Range(0.0, 100.0), "mode": Choice(("walk", "rotate")),
    }
    KNOBS: ClassVar[tuple[str, ...]] = ("rate",)

    def __post_init__(self):
        super().__post_init__()
        self.OPTIONS["mode"].check("drift.mode", self.mode)

    def knobs(self, values: dict[str, np.ndarray]) -> GradualKnobs:
        return GradualKnobs(np.float32(values["rate"]), *turn_step(values["rate"]))

    def _rotates(self, leaf: Array) -> bool:
        return is_arm_leaf(leaf, self.n_arms) and jnp.ndim(leaf) == 2

    def sample_params_at(self, key: Array, index) -> DriftParams:
        params = super().sample_params_at(key, index)
        if self.mode == "walk":
            return params
        planes = tuple(rotation_plane(leaf, jax.random.fold_in(jax.random.fold_in(key, 1), i))
                       if self._rotates(leaf) else ()
                       for i, leaf in enumerate(jax.tree_util.tree_leaves(params.base)))
        return params._replace(extra=planes)

    def _step_params(self, params: DriftParams, current: Params, key: Array,
                     t: Array) -> Params:
        leaves, tree = jax.tree_util.tree_flatten(current)
        if self.mode == "rotate":
            angle = jnp.float32(2 * math.pi) * turns_after(
                self.knob(params, "turn_whole"), self.knob(params, "turn_rest"), t)
            moved = [rotate_rows(start, plane, angle) if self._rotates(start) else start
                     for start, plane in zip(jax.tree_util.tree_leaves(params.base),
                                             params.extra)]
            return jax.tree_util.tree_unflatten(tree, moved)
        rate = self.knob(params, "rate")
        moved = [leaf + rate * jax.random.normal(jax.random.fold_in(key, 2 + i),
                                                 jnp.shape(leaf), jnp.result_type(leaf))
                 if is_arm_leaf(leaf, self.n_arms) else leaf
                 for i, leaf in enumerate(leaves)]
        return jax.tree_util.tree_unflatten(tree, moved)


class SeasonParams(NamedTuple):
    phase: Array  # (n_arms,) float32 in [0, 2π)


class SeasonState(NamedTuple):
    angle: Array  # (n_arms,) float32 in [0, 2π): this round's 2π t / period + φ_a


@dataclass(frozen=True)
class SeasonalWorld(DriftWorld):
    """Mean rewards that rise and fall with a period.

    In round ``t`` arm ``a``'s modulation is ``s_a(t) = amplitude · sin(α_a(t))`` with
    ``α_a(t) = 2π t / period + φ_a`` (mod 2π), phases φ_a ~ U[0, 2π) drawn per instance.
    The state carries α: it is φ_a in round 0 and grows by ``2π / period`` a round,
    wrapped into [0, 2π) by subtracting 2π (additions only, so every batch and block
    layout gets the same float32 numbers; the rounding accumulates to about
    ``t · 1e-7`` rad). Real-valued rewards: ``μ_a(t, x) = μ_a(x) + s_a(t)``. Binary
    rewards stay in [0, 1] by shifting the logit: ``μ_a(t, x) = σ(logit μ_a(x) + s_a(t))
    = μ e^s / (μ e^s + 1 − μ)`` (the odds scaled by ``e^s``; 0 and 1 stay put), which for
    the logistic world adds ``s_a(t)`` to ``θ_a·x + b_a``.
    """

    period: float = 1000.0
    amplitude: float = 0.0
    kind: ClassVar[str] = "seasonal"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "period": Range(0.0, low_open=True), "amplitude": Range(0.0, 30.0),
    }
    KNOBS: ClassVar[tuple[str, ...]] = ("period", "amplitude")

    def knobs(self, values: dict[str, np.ndarray]) -> SeasonKnobs:
        speed = np.fmod(2 * math.pi / values["period"], 2 * math.pi)  # radians per round
        return SeasonKnobs(np.float32(speed), np.float32(values["amplitude"]))

    def _sample_extra(self, key: Array) -> SeasonParams:
        return SeasonParams(jax.random.uniform(key, (self.n_arms,), maxval=2 * math.pi))

    def _extra_at(self, params: DriftParams, t: Array) -> SeasonState:
        del t
        return SeasonState(params.extra.phase)

    def _next_extra(self, params: DriftParams, extra: SeasonState, t: Array) -> SeasonState:
        angle = extra.angle + self.knob(params, "speed")
        angle = jnp.where(angle >= 2 * math.pi, angle - jnp.float32(2 * math.pi), angle)
        return SeasonState(jnp.where(jnp.asarray(t) == 0, params.extra.phase, angle))

    def shift(self, params: DriftParams, state) -> Array:
        """This round's modulation ``s_a(t)``: (n_arms,) float32."""
        return self.knob(params, "amplitude") * jnp.sin(state.extra.angle)

    def mean_rewards(self, params: DriftParams, state, context: Array) -> Array:
        mean = super().mean_rewards(params, state, context)
        shift = self.shift(params, state)
        if not self.binary_rewards:
            return mean + shift
        odds = mean * jnp.exp(shift)
        return odds / (odds + 1.0 - mean)
