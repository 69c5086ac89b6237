"""A fixed-size replay buffer of a neural policy's observations: the last ``size``
(arm input, reward) pairs, in a ring.

Each slot holds what the network reads for the played arm (:func:`played_input`): the
arm's own features with per-arm features, or the shared context and the arm (the
disjoint encoding is rebuilt from them, K times smaller to keep).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array


class Replay(NamedTuple):
    """The last ``size`` observations (N = size, w the stored width)."""

    inputs: Array  # (N, w) float32 the played arm's features, or the shared context
    action: Array  # (N,) int32 the arm played
    reward: Array  # (N,) float32
    count: Array  # () int32 observations ever stored


def replay_init(size: int, width: int) -> Replay:
    return Replay(jnp.zeros((size, width), jnp.float32), jnp.zeros((size,), jnp.int32),
                  jnp.zeros((size,), jnp.float32), jnp.zeros((), jnp.int32))


def stored_width(n_arms: int, dim: int, arm_features: int) -> int:
    """What a slot keeps of a round: the played arm's features, or the whole context."""
    return arm_features if arm_features else dim


def played_input(context: Array, action: Array, n_arms: int, arm_features: int) -> Array:
    """What a slot keeps of the round with ``context`` (dim,) where ``action`` was
    played."""
    if arm_features:
        return jnp.take(context.reshape(n_arms, arm_features), action, axis=0)
    return context


def network_input(stored: Array, action: Array, n_arms: int, arm_features: int) -> Array:
    """The network's input for stored rows ``stored`` (..., w) and their arms (...,)."""
    if arm_features:
        return stored
    onehot = jax.nn.one_hot(action, n_arms, dtype=stored.dtype)
    return (onehot[..., :, None] * stored[..., None, :]).reshape(stored.shape[:-1] + (-1,))


def replay_add(buffer: Replay, stored: Array, action: Array, reward: Array) -> Replay:
    """``buffer`` with one more observation, overwriting the oldest when full."""
    slot = buffer.count % buffer.action.shape[0]
    return Replay(buffer.inputs.at[slot].set(stored.astype(jnp.float32)),
                  buffer.action.at[slot].set(jnp.asarray(action, jnp.int32)),
                  buffer.reward.at[slot].set(jnp.asarray(reward, jnp.float32)),
                  buffer.count + 1)


def replay_filled(buffer: Replay) -> Array:
    """() int32 the slots that hold an observation."""
    return jnp.minimum(buffer.count, buffer.action.shape[0])


def replay_sample(buffer: Replay, key: Array, batch: int) -> tuple[Array, Array, Array]:
    """``batch`` observations drawn uniformly, with replacement, from the filled slots:
    (stored (batch, w), action (batch,), reward (batch,)); slot 0 while none is filled."""
    filled = jnp.maximum(replay_filled(buffer), 1)
    index = jnp.floor(jax.random.uniform(key, (batch,)) * filled).astype(jnp.int32)
    index = jnp.minimum(index, filled - 1)
    return buffer.inputs[index], buffer.action[index], buffer.reward[index]
