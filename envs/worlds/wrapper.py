"""Worlds that change over time, built around another world (the *base*).

A :class:`DriftWorld` holds a base world and changes one thing about it as rounds pass;
everything else is the base's own code, so a drift composes with every world family.

- ``params`` is :class:`DriftParams`: the base's params, drawn from the very key the
  wrapper receives (so the base instance is the one the base world alone would draw),
  the drift's own numbers (``extra``), drawn from ``fold_in(key, 1)``, and its numeric
  options (``knobs``, e.g. the rate) as float32 numbers. A drift's ``KNOBS`` options may
  be lists: a grid, one value per grid point, run in one compiled program like a policy's
  hyperparameter grid (:meth:`DriftWorld.sample_params_at`).
- ``state`` is :class:`DriftState`: the base's *current* params when the drift changes
  them (``moves_params``; ``()`` otherwise, and the round-0 params serve), the base's
  own state (stepped with ``fold_in(key, 0)`` of the step key when the base is not
  stationary) and the drift's own state (``extra``).
- Contexts, reward noise and realised rewards are the base's, read with the current
  params and the same keys, so two policies run on one seed still meet the same numbers.
  :meth:`World.realise` sees only ``params``: the reward-noise scale (``noise_std``) is the
  base's initial one throughout.

The engine steps a world before it plays round ``t`` with ``step(params, state, key, t)``:
the state a round is played in is the one its own step produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from common.errors import ConfigError
from envs.worlds.base import Params, State, World

MAX_ROUND = 10**9


class DriftParams(NamedTuple):
    base: Params  # the base world's params at round 0
    extra: Any  # the drift's own numbers, () when it has none
    knobs: Any = ()  # the drift's numeric options as the program reads them (one grid point)


class DriftState(NamedTuple):
    base_params: Params  # the base world's params now; () unless ``moves_params``
    base_state: State  # the base world's own state
    extra: Any  # the drift's own state, () when it has none


@dataclass(frozen=True)
class RoundList:
    """An option holding rounds: a list or tuple of integers in [1, 10⁹], strictly
    increasing (possibly empty)."""

    def describe(self) -> str:
        return f"a strictly increasing list of integer rounds in [1, {MAX_ROUND}]"

    def check(self, where: str, value: Any) -> None:
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(r, int) and not isinstance(r, bool) and 1 <= r <= MAX_ROUND
            for r in value)
        if not ok or any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"{where} must be {self.describe()}, got {value!r}")


def check_rounds_within(where: str, rounds: tuple[int, ...], n_rounds: int) -> None:
    """Raises ``ValueError`` naming ``where`` when a round is not before the horizon."""
    late = [r for r in rounds if r >= n_rounds]
    if late:
        raise ValueError(f"{where}: round {late[0]} is beyond the horizon "
                         f"study.n_rounds={n_rounds} (rounds are 0..{n_rounds - 1}), "
                         f"got {list(rounds)!r}")


def is_arm_leaf(leaf: Array, n_arms: int) -> bool:
    """Whether a params leaf holds one entry per arm: a float array whose leading axis
    has length ``n_arms``."""
    return (jnp.ndim(leaf) >= 1 and jnp.shape(leaf)[0] == n_arms
            and jnp.issubdtype(jnp.result_type(leaf), jnp.floating))


def replace_arm_rows(fresh: Params, current: Params, replaced: Array, n_arms: int) -> Params:
    """``current`` with the rows of ``replaced`` arms ((n_arms,) bool) taken from
    ``fresh``, in every arm leaf (:func:`is_arm_leaf`); other leaves stay ``current``'s."""
    fresh_leaves = jax.tree_util.tree_leaves(fresh)
    leaves, tree = jax.tree_util.tree_flatten(current)
    rows = [jnp.where(jnp.reshape(replaced, (n_arms,) + (1,) * (jnp.ndim(old) - 1)), new, old)
            if is_arm_leaf(old, n_arms) else old
            for new, old in zip(fresh_leaves, leaves)]
    return jax.tree_util.tree_unflatten(tree, rows)


def innermost(world: World) -> World:
    """The world at the bottom of a stack of drifts (``world`` itself when it is no
    drift)."""
    while isinstance(world, DriftWorld):
        world = world.base
    return world


@dataclass(frozen=True)
class DriftWorld(World):
    """A base world whose parameters, mean rewards or contexts move over time.

    Attributes:
        base: the world that drifts (any :class:`World`).
        kind: the drift's registry name (class constant); ``name`` is
            ``"<base name>+<kind>"``.
        moves_params: whether the drift changes the base's params (class constant);
            only then are they carried in the state.
    """

    base: World
    kind: ClassVar[str]
    stationary: ClassVar[bool] = False
    moves_params: ClassVar[bool] = False
    KNOBS: ClassVar[tuple[str, ...]] = ()  # numeric options that may be lists (a grid)

    def __post_init__(self):
        if not isinstance(self.base, World):
            raise ConfigError(f"drift {self.kind!r}: base must be a World, got {self.base!r}")
        for name in self.KNOBS:
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        lengths = {k: len(getattr(self, k)) for k in self.KNOBS
                   if isinstance(getattr(self, k), tuple)}
        if len(set(lengths.values())) > 1 or 0 in lengths.values():
            raise ConfigError(f"drift {self.kind!r}: options given as lists are a grid and "
                              f"must have one length (at least 1), got lengths {lengths}")

    # ------------------------------------------------------------------ grids of options

    def knob_values(self) -> dict[str, np.ndarray]:
        """This drift's ``KNOBS`` options as float64 arrays: () each, or (G,) when given
        as a list (a grid)."""
        return {name: np.asarray(getattr(self, name), np.float64) for name in self.KNOBS}

    def swept(self) -> dict[str, list[float]]:
        """The options given as lists, ``drift_<option>`` → values, the base's included.

        Raises:
            ConfigError: a stack of drifts sweeps the same option name twice.
        """
        own = {f"drift_{k}": v.tolist() for k, v in self.knob_values().items() if v.ndim}
        below = self.base.swept()
        if own.keys() & below.keys():
            raise ConfigError(f"drift {self.kind!r} and the drift under it both sweep "
                              f"{sorted(own.keys() & below.keys())}")
        return {**below, **own}

    def knobs(self, values: dict[str, np.ndarray]) -> Any:
        """The numbers the program reads for option ``values`` (:meth:`knob_values`, or
        one grid point of them), computed on the host; ``()`` unless a drift has
        ``KNOBS``."""
        del values
        return ()

    def knob(self, params: DriftParams, name: str) -> Any:
        """Knob ``name`` as a round reads it: a constant of the program when no option of
        this drift is a grid (so a value shared by every lane is computed once a round),
        else the lane's own from ``params``."""
        if any(v.ndim for v in self.knob_values().values()):
            return getattr(params.knobs, name)
        return getattr(self.knobs(self.knob_values()), name)

    def _knobs_at(self, index) -> Any:
        """The knobs of grid point ``index`` (int or traced int32, ())."""
        values = self.knob_values()
        sizes = {v.size for v in values.values() if v.ndim}
        if not sizes:
            return self.knobs(values)
        size = sizes.pop()
        grid = self.knobs({k: np.broadcast_to(v, (size,)) for k, v in values.items()})
        return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[index], grid)

    moves_contexts: ClassVar[bool] = False  # whether the drift changes the contexts drawn

    @property
    def draws_read_state(self) -> bool:  # type: ignore[override]
        """The base's draws, through the drift: they read the state when the base's do or
        when the drift moves the contexts."""
        return self.base.draws_read_state or self.moves_contexts

    @property
    def feedback(self) -> Any:
        """The feedback this drift declares, else the base's."""
        own = self.__dict__.get("_feedback")
        return own if own is not None else self.base.feedback

    # The sizes and reward type are the base's.
    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.base.name}+{self.kind}"

    @property
    def n_arms(self) -> int:  # type: ignore[override]
        return self.base.n_arms

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.base.dim

    @property
    def p_eligible(self) -> float:  # type: ignore[override]
        return self.base.p_eligible

    @property
    def arm_features(self) -> int:  # type: ignore[override]
        return self.base.arm_features

    @property
    def binary_rewards(self) -> bool:  # type: ignore[override]
        return self.base.binary_rewards

    def check_horizon(self, n_rounds: int) -> None:
        """Raises ``ValueError`` when an option names a round at or after ``n_rounds``;
        nothing to check unless a drift has such options."""
        del n_rounds

    # ------------------------------------------------------------------ instance and state

    def sample_params(self, key: Array) -> DriftParams:
        """One instance; a drift with an option grid must be sampled at a grid point
        (:meth:`sample_params_at`)."""
        if self.swept():
            raise ConfigError(f"drift {self.kind!r} has options given as lists "
                              f"{self.swept()}: a grid runs only through simulate, one "
                              f"grid point per lane")
        return self.sample_params_at(key, 0)

    def sample_params_at(self, key: Array, index) -> DriftParams:
        """One instance at grid point ``index`` of the options given as lists (the same
        instance at every grid point: only the knobs differ)."""
        return DriftParams(self.base.sample_params_at(key, index),
                           self._sample_extra(jax.random.fold_in(key, 1)),
                           self._knobs_at(index))

    def init_state(self, params: DriftParams, key: Array) -> DriftState:
        return DriftState(params.base if self.moves_params else (),
                          self.base.init_state(params.base, key),
                          self._extra_at(params, jnp.int32(0)))

    def step(self, params: DriftParams, state: DriftState, key: Array, t: Array) -> DriftState:
        base_state = state.base_state
        if not self.base.stationary:
            base_state = self.base.step(self.base_params(params, state), base_state,
                                        jax.random.fold_in(key, 0), t)
        base_params = state.base_params
        if self.moves_params:
            base_params = self._step_params(params, base_params, key, t)
        return DriftState(base_params, base_state, self._next_extra(params, state.extra, t))

    def base_params(self, params: DriftParams, state: DriftState) -> Params:
        """The base's params in the round ``state`` belongs to."""
        return state.base_params if self.moves_params else params.base

    def _sample_extra(self, key: Array) -> Any:
        """The drift's own numbers of one instance; ``()`` unless a drift overrides it."""
        del key
        return ()

    def _extra_at(self, params: DriftParams, t: Array) -> Any:
        """The drift's own state in round ``t``; ``()`` unless a drift overrides it."""
        del params, t
        return ()

    def _next_extra(self, params: DriftParams, extra: Any, t: Array) -> Any:
        """The drift's own state in round ``t`` from that of round ``t - 1``;
        :meth:`_extra_at` unless a drift overrides it."""
        del extra
        return self._extra_at(params, t)

    def _step_params(self, params: DriftParams, current: Params, key: Array,
                     t: Array) -> Params:
        """The base's params for round ``t`` from those of round ``t - 1``; a drift that
        sets ``moves_params`` overrides it."""
        del params, key, t
        return current

    # ------------------------------------------------------------------- rounds (the base's)

    def sample_context(self, key: Array, params: DriftParams,
                       state: DriftState) -> tuple[Array, Array]:
        return self.base.sample_context(key, self.base_params(params, state), state.base_state)

    def mean_rewards(self, params: DriftParams, state: DriftState, context: Array) -> Array:
        return self.base.mean_rewards(self.base_params(params, state), state.base_state,
                                      context)

    def draw_reward_noise(self, key: Array, params: DriftParams, state: DriftState) -> Array:
        return self.base.draw_reward_noise(key, self.base_params(params, state),
                                           state.base_state)

    def realise(self, params: DriftParams, mean: Array, noise: Array) -> Array:
        return self.base.realise(params.base, mean, noise)


