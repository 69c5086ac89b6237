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

from envs.feedback.pending import PendingRewards
from envs.monitor.online import MonitorState


class LaneConstants(NamedTuple):
    """What a lane reads but never changes.

    Round ``t`` of a lane draws from one key per stream, ``fold_in(stream, t)``: its
    context, its reward noise, its policy noise, then for a world that is not stationary
    the world's step, then with delayed feedback the reward's delay (R = 3, 4 or 5).
    """

    policy_params: Any  # the policy's params pytree at this lane's grid point
    world_params: Any  # the world instance's params pytree
    streams: Array  # (R,) keys
    feedback_params: Any = ()  # FeedbackParams at this grid point, or () : immediate


class LaneCarry(NamedTuple):
    """What a lane carries from round to round and from chunk to chunk.

    The world's state (``env.init_state``) is advanced by ``env.step`` once a round when
    the world is not stationary and passes through unchanged otherwise (``()`` for a
    world without state). With delayed feedback ``pending`` holds the rewards on their way
    (:mod:`envs.feedback.pending`); the policy state learns from them as they arrive. With
    ``update_every`` B > 1 decisions use ``served_state``, a copy of the policy state
    taken every B rounds. A monitor's KPIs and alerts live in ``monitor``
    (:mod:`envs.monitor.online`).
    """

    policy_state: Any  # the policy's state pytree
    world_state: Any  # the world's state pytree
    pending: PendingRewards | tuple  # () : rewards arrive in their own round
    monitor: MonitorState | tuple  # () : no monitor runs
    cum_regret: Array  # () float32 cumulative expected regret
    cum_reward: Array  # () float32 cumulative realised reward
    served_state: Any = ()  # the policy state decisions use, when it lags (update_every > 1)
