"""Simulated worlds: contexts, eligible arms and rewards with known mean rewards.

A world is a frozen dataclass holding static sizes; every number lives in a params
pytree, so a study can batch over world instances. The worlds here are stationary (no
state); the ``state`` argument is kept in every signature for worlds that change over
time. All functions are written for one round of one simulation.

Each world exposes, besides the usual ``sample_context`` / ``mean_rewards`` /
``sample_reward``, ``sample_rewards``: independent realised rewards of *every* arm for a
context (full-information feedback).

A bandit round reveals one reward, so the rollout engine draws only that reward's noise
(:meth:`World.draw_reward_noise`, one number), before it knows the action, and
:meth:`World.realise` turns it into the reward of whichever arm is played. The played
arm's reward has exactly its distribution; two policies run on the same seed meet the
same contexts and the same reward noise (common random numbers). Within one round the
arms' rewards built from that one number are not independent of each other, which no
bandit sees; full-information uses take ``sample_rewards``.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import first_argmax


def eligible_mask(key: Array, n_arms: int, p_eligible: Array) -> Array:
    """Each arm eligible independently with probability ``p_eligible``.

    The arm with the smallest draw is always eligible, so no round is left without an
    arm (which makes the per-arm eligibility slightly above ``p_eligible`` when it < 1).
    """
    u = jax.random.uniform(key, (n_arms,))
    always = jnp.arange(n_arms) == first_argmax(-u)
    return (u < p_eligible) | always


class World:
    """Shared behaviour of the stationary worlds below.

    ``p_eligible`` (static) is the probability that an arm is eligible in a round; at 1
    every arm always is and no mask is drawn.
    """

    name: ClassVar[str]
    binary_rewards: ClassVar[bool] = False
    n_arms: int
    dim: int

    def init_state(self, params, key):
        del params, key
        return ()

    def sample_context(self, key: Array, params, state) -> tuple[Array, Array]:
        """Returns ``(context (dim,), eligible mask (n_arms,) bool)``."""
        if self.p_eligible >= 1.0:
            return self._context(key), jnp.ones((self.n_arms,), bool)
        k_x, k_m = jax.random.split(key)
        return self._context(k_x), eligible_mask(k_m, self.n_arms, self.p_eligible)

    def sample_reward(self, key, params, state, context, action) -> Array:
        """The realised reward of ``action`` (what a bandit observes)."""
        mean = self.mean_rewards(params, state, context)
        played = jnp.sum(jnp.where(jnp.arange(self.n_arms) == action, mean, 0.0))
        return self.realise(params, played, self.draw_reward_noise(key, params, state))

    def sample_rewards(self, key, params, state, context) -> Array:
        """Independent realised rewards of every arm, (n_arms,)."""
        noise = self._noise(key, (self.n_arms,))
        return self.realise(params, self.mean_rewards(params, state, context), noise)

    # Reward sampling in two steps, so the engine can draw the noise of many rounds at
    # once and keep only arithmetic in its inner loop.
    def draw_reward_noise(self, key, params, state) -> Array:
        """The random part of the played arm's reward: one number, ``()``."""
        del params, state
        return self._noise(key, ())

    def realise(self, params, mean: Array, noise: Array) -> Array:
        """Rewards from mean rewards and noise, broadcast against each other.

        The engine passes the played arm's mean and the round's one number from
        :meth:`draw_reward_noise`; :meth:`sample_rewards` every arm's mean and one noise
        number per arm.
        """
        if self.binary_rewards:
            return (noise < mean).astype(mean.dtype)
        return mean + params.noise_std * noise

    def _noise(self, key, shape):
        if self.binary_rewards:
            return jax.random.uniform(key, shape)
        return jax.random.normal(key, shape)

    def _context(self, key):
        return jax.random.normal(key, (self.dim,))
