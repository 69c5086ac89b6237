"""What every lane holds: numbers fixed for the run, and the state carried from round to
round and from chunk to chunk.

Shapes are per lane; in the compiled program every leaf also has the lane axis (L), last
or first as the layout keeps it (:mod:`envs.engine.layout`). A slot a run does not use
holds ``()``, a pytree without leaves, so it costs nothing: it adds no argument, no
loop variable and no output to the compiled program.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from jax import Array


class LaneConstants(NamedTuple):
    """What a lane reads but never changes.

    Round ``t`` of a lane draws from one key per stream, ``fold_in(stream, t)``: its
    context, its reward noise, its policy noise and, for a world that is not stationary,
    the world's step (R = 4; R = 3 otherwise).
    """

    policy_params: Any  # the policy's params pytree at this lane's grid point
    world_params: Any  # the world instance's params pytree
    streams: Array  # (R,) keys


class PendingRewards(NamedTuple):
    """Rewards not yet revealed to the policy, for worlds with delayed feedback: a ring
    of ``D = env.max_delay`` slots. Declared for the carry; this engine version leaves it
    empty (:func:`envs.engine.simulate` refuses worlds with ``max_delay > 0``)."""

    context: Array  # (D, d) the context each pending reward answers
    action: Array  # (D,) int32 the arm played
    reward: Array  # (D,) the realised reward
    arrival: Array  # (D,) int32 the round at which the policy sees it


class RollingWindow(NamedTuple):
    """A monitor's state: the last ``W`` rounds of ``M`` per-round values, in a ring.
    Declared for the carry; this engine version runs no monitor."""

    values: Array  # (W, M)
    next_slot: Array  # () int32 where the next round's values go


class LaneCarry(NamedTuple):
    """What a lane carries from round to round and from chunk to chunk.

    The world's state (``env.init_state``) is advanced by ``env.step`` once a round when
    the world is not stationary and passes through unchanged otherwise (``()`` for a
    world without state).
    """

    policy_state: Any  # the policy's state pytree
    world_state: Any  # the world's state pytree
    pending: PendingRewards | tuple  # () : delayed rewards are not simulated
    monitor: RollingWindow | tuple  # () : no monitor runs
    cum_regret: Array  # () float32 cumulative expected regret
    cum_reward: Array  # () float32 cumulative realised reward
