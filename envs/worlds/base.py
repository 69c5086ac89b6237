"""The world protocol: contexts, eligible arms and rewards with known mean rewards.

A world is a frozen dataclass holding static options (sizes, switches); every number a
study may batch over lives in a ``params`` pytree drawn by :meth:`World.sample_params`, so
one compiled program can run many world instances. A world that changes over time keeps
what changes in a ``state`` pytree (:meth:`World.init_state`, :meth:`World.step`); the
stationary worlds use ``()``, and every method takes ``state`` all the same. All methods
are written for one round of one simulation; the engine batches them.

Each world exposes, besides ``sample_context`` / ``mean_rewards`` / ``sample_reward``,
``sample_rewards``: independent realised rewards of *every* arm for a context
(full-information feedback).

A bandit round reveals one reward, so the rollout engine draws only that reward's noise
(:meth:`World.draw_reward_noise`, one number), before it knows the action, and
:meth:`World.realise` turns it into the reward of whichever arm is played. The played
arm's reward has exactly its distribution; two policies run on the same seed meet the
same contexts and the same reward noise (common random numbers). Within one round the
arms' rewards built from that one number are not independent of each other, which no
bandit sees; full-information uses take ``sample_rewards``.

Every world class declares its options in ``OPTIONS``: one entry per constructor field,
each a :class:`common.validation.Range`, :class:`~common.validation.Choice` or
:class:`~common.validation.Flag`; :mod:`envs.worlds.registry` checks values against it.
A :class:`GridRange` option may also be given as a list of numbers: a grid run in one
compiled program (:meth:`World.swept`, :meth:`World.sample_params_at`).

A world may give one feature vector per arm (``arm_features = d > 0``): the context is
then the K vectors flattened arm-major, shape (K·d,), ``dim == K·d``, and
``context.reshape(K, d)[a]`` is arm a's features. The engine, logged data and monitors
see a flat (dim,) context either way.
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import first_argmax
from common.validation import Choice, Flag, Range

Option = Range | Choice | Flag
Params = Any
State = Any

ARMS = Range(1, 100_000, integer=True)
DIM = Range(1, 100_000, integer=True)
NOISE_STD = Range(0.0)
P_ELIGIBLE = Range(0.0, 1.0, low_open=True)


@dataclass(frozen=True)
class GridRange(Range):
    """A number in the range, or a non-empty list of such numbers: a grid, one value per
    grid point, run in one compiled program (a world's :meth:`World.swept`)."""

    def describe(self) -> str:
        return f"{self.one().describe()} or a non-empty list of them"

    def one(self) -> Range:
        """The range one value must be in."""
        return Range(self.low, self.high, self.low_open, self.high_open, self.integer)

    def check(self, where: str, value: Any) -> None:
        if not isinstance(value, (list, tuple)):
            self.one().check(where, value)
            return
        if not value:
            raise ValueError(f"{where} must be {self.describe()}, got {value!r}")
        for i, v in enumerate(value):
            self.one().check(f"{where}[{i}]", v)


def eligible_mask(key: Array, n_arms: int, p_eligible: Array) -> Array:
    """Each arm eligible independently with probability ``p_eligible``.

    The arm with the smallest draw is always eligible, so no round is left without an
    arm (which makes the per-arm eligibility slightly above ``p_eligible`` when it < 1).

    Returns:
        (n_arms,) bool.
    """
    u = jax.random.uniform(key, (n_arms,))
    always = jnp.arange(n_arms) == first_argmax(-u)
    return (u < p_eligible) | always


class World(abc.ABC):
    """A contextual-bandit environment as pure functions of ``(params, state, key)``.

    Attributes:
        name: the registry name (class constant).
        n_arms: number of arms K (static).
        dim: context dimension (static).
        arm_features: features per arm d (static; 0, the default: one context shared by
            every arm). When d > 0 the context holds one feature vector per arm,
            flattened arm-major to (K·d,), so ``dim == K·d`` and
            ``context.reshape(K, d)[a]`` is arm a's features; everything outside the
            world (engine, logs, monitors) still sees a flat (dim,) context.
        binary_rewards: whether rewards are 0/1 clicks (class constant).
        p_eligible: probability that an arm is eligible in a round (static); at 1 every
            arm always is and no mask is drawn.
        stationary: whether ``state`` never changes (class constant); a world that drifts
            sets it to ``False`` and overrides :meth:`init_state` and :meth:`step`.
        draws_read_state: whether :meth:`sample_context` or :meth:`draw_reward_noise`
            give other numbers in another state (class constant; ``True`` unless a world
            declares otherwise). When ``False`` the engine draws a world that is not
            stationary a block of rounds ahead, as it draws a stationary one, and only
            steps it round by round. A world that sets it ``False`` must draw from its key
            alone, reading no state and no per-arm params leaf (what drifts change).
        OPTIONS: the constructor options and their allowed values (class constant).
    """

    name: ClassVar[str]
    binary_rewards: ClassVar[bool] = False
    stationary: ClassVar[bool] = True
    draws_read_state: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]]
    n_arms: int
    dim: int
    p_eligible: float
    arm_features: int = 0

    # ------------------------------------------------------------------ instance and state

    @abc.abstractmethod
    def sample_params(self, key: Array) -> Params:
        """Draws one world instance.

        Args:
            key: PRNG key.

        Returns:
            A params pytree (a NamedTuple of arrays); Gaussian-reward worlds hold the noise
            scale in a ``noise_std`` field, shape ().
        """

    def sample_params_at(self, key: Array, index) -> Params:
        """The instance of grid point ``index`` of the options given as lists: the same
        instance at every point; only a world with such options (a drift's ``KNOBS``, a
        :class:`GridRange` option) tells them apart. :meth:`sample_params` for a world
        without a grid."""
        del index
        return self.sample_params(key)

    def swept(self) -> dict[str, list[float]]:
        """The options given as lists (a grid run in one program), name → values:
        ``{}`` unless the world has such options (``env_<option>`` for a world's own
        :class:`GridRange` options, ``drift_<option>`` for a drift's)."""
        return {}

    @property
    def feedback(self) -> Any:
        """How this world's rewards reach the learner, when the world declares it (an
        :class:`envs.feedback.Feedback`: delays, attribution window, refresh cadence);
        ``None``: the study's. The engine uses it when ``simulate`` is given none."""
        return self.__dict__.get("_feedback")

    def with_feedback(self, feedback: Any) -> World:
        """This world declaring its own feedback (``None`` removes it)."""
        world = copy.copy(self)
        object.__setattr__(world, "_feedback", feedback)
        return world

    def init_state(self, params: Params, key: Array) -> State:
        """The state at round 0: ``()`` for a stationary world."""
        del params, key
        return ()

    def step(self, params: Params, state: State, key: Array, t: Array) -> State:
        """The state for round ``t + 1`` from the state of round ``t`` (int32, ()).

        The identity for a stationary world.
        """
        del params, key, t
        return state

    # -------------------------------------------------------------------------- contexts

    def sample_context(self, key: Array, params: Params, state: State) -> tuple[Array, Array]:
        """One round's context and eligible arms.

        Returns:
            ``(context (dim,) float32, mask (n_arms,) bool)``; at least one arm is eligible.
        """
        del params, state
        if self.p_eligible >= 1.0:
            return self._context(key), jnp.ones((self.n_arms,), bool)
        k_x, k_m = jax.random.split(key)
        return self._context(k_x), eligible_mask(k_m, self.n_arms, self.p_eligible)

    def _context(self, key: Array) -> Array:
        """The context distribution, (dim,): N(0, I_d) unless a world overrides it."""
        return jax.random.normal(key, (self.dim,))

    # --------------------------------------------------------------------------- rewards

    @abc.abstractmethod
    def mean_rewards(self, params: Params, state: State, context: Array) -> Array:
        """Every arm's expected reward at ``context`` (dim,): (n_arms,) float32."""

    def sample_reward(self, key: Array, params: Params, state: State, context: Array,
                      action: Array) -> Array:
        """The realised reward of ``action`` (int, ()), what a bandit observes: ()."""
        mean = self.mean_rewards(params, state, context)
        played = jnp.sum(jnp.where(jnp.arange(self.n_arms) == action, mean, 0.0))
        return self.realise(params, played, self.draw_reward_noise(key, params, state))

    def sample_rewards(self, key: Array, params: Params, state: State,
                       context: Array) -> Array:
        """Independent realised rewards of every arm: (n_arms,)."""
        noise = self._noise(key, (self.n_arms,))
        return self.realise(params, self.mean_rewards(params, state, context), noise)

    # Reward sampling in two steps, so the engine can draw the noise of many rounds at
    # once and keep only arithmetic in its inner loop.
    def draw_reward_noise(self, key: Array, params: Params, state: State) -> Array:
        """The random part of the played arm's reward: one number, ()."""
        del params, state
        return self._noise(key, ())

    def realise(self, params: Params, mean: Array, noise: Array) -> Array:
        """Rewards from mean rewards and noise, broadcast against each other.

        The engine passes the played arm's mean, (), and the round's one number from
        :meth:`draw_reward_noise`, (); :meth:`sample_rewards` every arm's mean, (n_arms,),
        and one noise number per arm, (n_arms,).

        Returns:
            Binary worlds: 1 where ``noise < mean`` (noise uniform on [0, 1)), else 0;
            otherwise ``mean + params.noise_std * noise`` (noise standard normal).
        """
        if self.binary_rewards:
            return (noise < mean).astype(mean.dtype)
        return mean + params.noise_std * noise

    def _noise(self, key: Array, shape: tuple[int, ...]) -> Array:
        """Reward noise of ``shape``: uniform for binary worlds, standard normal otherwise."""
        if self.binary_rewards:
            return jax.random.uniform(key, shape)
        return jax.random.normal(key, shape)
