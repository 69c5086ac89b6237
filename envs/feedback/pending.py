"""Each lane's pending rewards: a ring of ``S = W + 1`` rounds (W the longest attribution
window), slot ``t mod S`` holding round ``t``'s decision until its reward arrives.

Round ``t`` writes its slot; the decision it overwrites, round ``t − S``, had its reward
arrive by round ``t − S + W = t − 1``, so nothing pending is ever lost. Empty slots and
rewards that never arrive hold arrival −1. Everything here is written for one lane.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from envs.feedback.spec import FeedbackParams

NEVER = -1  # the arrival round of an empty slot or a dropped reward


class PendingRewards(NamedTuple):
    """A lane's ring of pending rewards (S slots)."""

    context: Array  # (S, d) the context each pending reward answers
    action: Array  # (S,) int32 the arm played
    value: Array  # (S,) float32 what the policy will see: the reward or the missing value
    arrival: Array  # (S,) int32 the round at which the policy sees it (NEVER: never)


class Arrival(NamedTuple):
    """One observation as the policy receives it."""

    context: Array  # (d,)
    action: Array  # () int32
    value: Array  # () float32


def empty(slots: int, dim: int) -> PendingRewards:
    """An empty ring of ``slots`` rounds for contexts of dimension ``dim``."""
    return PendingRewards(jnp.zeros((slots, dim), jnp.float32),
                          jnp.zeros((slots,), jnp.int32), jnp.zeros((slots,), jnp.float32),
                          jnp.full((slots,), NEVER, jnp.int32))


def schedule(params: FeedbackParams, missing: float | None, reward: Array, delay: Array,
             t: Array) -> tuple[Array, Array]:
    """When round ``t``'s reward reaches the policy, and as what value.

    A reward with ``delay`` beyond the attribution window W is censored: it arrives at
    ``t + W`` as ``missing`` or, with ``missing=None`` (drop), never.

    Returns:
        ``(value, arrival)``: () float32 and () int32 (:data:`NEVER` for a dropped one).
    """
    window = params.attribution_window.astype(jnp.int32)
    censored = delay > window
    if missing is None:
        arrival = jnp.where(censored, NEVER, t + delay)
        return reward, arrival
    return (jnp.where(censored, jnp.float32(missing), reward),
            jnp.where(censored, t + window, t + delay))


def push(ring: PendingRewards, t: Array, context: Array, action: Array, value: Array,
         arrival: Array) -> PendingRewards:
    """The ring with round ``t``'s decision in slot ``t mod S``."""
    slot = t % ring.arrival.shape[0]
    return PendingRewards(ring.context.at[slot].set(context), ring.action.at[slot].set(action),
                          ring.value.at[slot].set(value), ring.arrival.at[slot].set(arrival))


def due(ring: PendingRewards, t: Array) -> Array:
    """(S,) bool: the slots whose reward arrives in round ``t``."""
    return ring.arrival == t


def oldest(waiting: Array, t: Array) -> tuple[Array, Array]:
    """The slot of the earliest decision among the ``waiting`` slots (S,) bool.

    Returns:
        ``(slot, pick)``: () int32 (an arbitrary slot when nothing waits) and (S,) bool
        marking it (all false when nothing waits).
    """
    slots = waiting.shape[0]
    index = jnp.arange(slots, dtype=jnp.int32)
    age = (t - index) % slots  # rounds since the slot's decision
    slot = (t - jnp.max(jnp.where(waiting, age, 0))) % slots
    return slot, waiting & (index == slot)
