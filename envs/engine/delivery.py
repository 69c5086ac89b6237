"""Rounds with feedback that is not immediate (:class:`envs.feedback.Feedback`): rewards
that arrive late or never, and a served model refreshed every B rounds.

A round of a lane: the policy decides from the served state (the learner's own state when
B = 1), the world rewards, the decision enters the lane's ring of pending rewards
(:mod:`envs.feedback.pending`), the rewards due this round reach the learner in decision
order, and every B rounds the served state becomes the learner's.

Delivery is the one loop whose length is not known in advance: a ``lax.while_loop`` over
the group's lanes that hands each lane its oldest due reward until none is left, so it
runs as many times as the busiest lane of the group has arrivals this round. Each pass is
one lane-batched ``policy.update``, kept only by the lanes that had a reward. A fixed delay
d needs no loop: round ``t`` learns round ``t − d``'s reward.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Decision, Policy, observed
from envs.engine.carry import LaneCarry, LaneConstants
from envs.engine.layout import Layout
from envs.engine.rounds import (
    ROUND_STREAMS,
    RoundRecord,
    arm_indices,
    decide_round,
    draw_round,
    keys_from_words,
)
from envs.feedback import Feedback, FeedbackParams
from envs.feedback import pending as ring_ops
from envs.feedback.delays import sample_delay
from envs.worlds.base import World


class DeliveryProgram(NamedTuple):
    """The lane-batched functions of a round with delayed or batched feedback."""

    stationary: bool
    drawn_ahead: bool  # not stationary, but drawn a block ahead (``draws_read_state`` off)
    draw_block: Callable | None  # (pp, fp, ep, estate, words) -> RoundDraws (n, ...)
    step_world: Callable | None  # drawn ahead: (ep, estate, step words, t) -> estate
    step_and_draw: Callable | None  # (pp, fp, ep, estate, words, t) -> (estate, RoundDraws)
    decide: Callable  # (pp, ep, estate, pstate, draws) -> (pstate observed, RoundRecord)
    observe: Callable | None  # (pp, pstate, draws, record) -> pstate; None: no observe
    update: Callable  # (pp, pstate, draws, record) -> pstate: the reward learnt at once
    schedule: Callable  # (fp, record, draws, t) -> (value, arrival)
    push: Callable  # (ring, t, (context, action, value, arrival)) -> ring
    due: Callable  # (ring, t) -> (S,) bool
    oldest: Callable  # (waiting, t) -> (slot, pick): each lane's earliest waiting slot
    fixed_slot: Callable  # (fp, t) -> (slot, pick): a fixed delay's one arrival, if any
    learn_all: Callable  # (pp, pstate, obs) -> pstate: one arrival learnt by every lane
    learn: Callable  # (pp, pstate, obs, pick) -> pstate: one arrival learnt where picked
    refresh: Callable  # (fp, served, pstate, t) -> served
    feedback: Feedback
    layout: Layout


def _split_words(words: tuple, n_keys: int, delayed: bool) -> tuple[tuple, tuple]:
    """A round's key words -> (the first ``n_keys`` keys' words, the delay key's words)."""
    if not delayed:
        return words, ()
    per_key = len(words) // (n_keys + 1)
    return words[:n_keys * per_key], words[n_keys * per_key:]


def _draw_with_delay(policy: Policy, env: World, feedback: Feedback, impl, pparams,
                     fparams, eparams, estate, words):
    """One round's random numbers and, with delays, its reward's delay (key words in)."""
    words, delay_words = _split_words(words, ROUND_STREAMS, feedback.delayed)
    draws = draw_round(policy, env, pparams, eparams, estate,
                       keys_from_words(words, ROUND_STREAMS, impl))
    if feedback.delayed:
        (delay_key,) = keys_from_words(delay_words, 1, impl)
        draws = draws._replace(delay=sample_delay(feedback.delay, fparams, delay_key))
    return draws


def _step_and_draw(policy: Policy, env: World, feedback: Feedback, impl, pparams, fparams,
                   eparams, estate, words, t):
    """A world that is not stationary steps to round ``t``, then the round is drawn."""
    words, delay_words = _split_words(words, ROUND_STREAMS + 1, feedback.delayed)
    *round_keys, step_key = keys_from_words(words, ROUND_STREAMS + 1, impl)
    estate = env.step(eparams, estate, step_key, t)
    draws = draw_round(policy, env, pparams, eparams, estate, tuple(round_keys))
    if feedback.delayed:
        (delay_key,) = keys_from_words(delay_words, 1, impl)
        draws = draws._replace(delay=sample_delay(feedback.delay, fparams, delay_key))
    return estate, draws


def _step_world(env: World, impl, eparams, estate, step_words, t):
    """The world stepped to round ``t`` with the step key (its words)."""
    (step_key,) = keys_from_words(step_words, 1, impl)
    return env.step(eparams, estate, step_key, t)


def _draw_rounds(draw: Callable, pparams, fparams, eparams, estate, words):
    """One lane's random numbers of n rounds, from their key words (each (n,))."""
    return jax.vmap(draw, in_axes=(None, None, None, None, 0))(pparams, fparams, eparams,
                                                              estate, words)


def _schedule(feedback: Feedback, fparams: FeedbackParams, record: RoundRecord, draws, t):
    """The value round ``t``'s decision will yield and the round it arrives."""
    missing = None if feedback.drop_missing else float(feedback.missing)
    return ring_ops.schedule(fparams, missing, record.reward, draws.delay, t)


def _push(layout: Layout, ring: ring_ops.PendingRewards, t, row) -> ring_ops.PendingRewards:
    """Round ``t``'s decision (context, action, value, arrival), lane-batched, into slot
    ``t mod S`` of every lane's ring: one in-place write per field, the slot being the
    same for every lane."""
    axis = 0 if layout.kind == "lanes" else 1
    slot = t % ring.arrival.shape[axis]
    return ring_ops.PendingRewards(*(
        jax.lax.dynamic_update_index_in_dim(field, jnp.asarray(x, field.dtype), slot, axis)
        for field, x in zip(ring, row)))


def _learn_arrival(policy: Policy, pparams, pstate, obs: ring_ops.Arrival, pick):
    """The learner after one arrival; unchanged where ``pick`` (S,) marks no slot."""
    learned = policy.update(pparams, pstate, obs.context, obs.action, obs.value)
    has = jnp.any(pick)
    return jax.tree_util.tree_map(lambda new, old: jnp.where(has, new, old), learned, pstate)


def _take(layout: Layout, ring: ring_ops.PendingRewards, slot) -> ring_ops.Arrival:
    """Every lane's observation in its own ``slot`` (lane-batched), read in place: the
    ring's slot axis is first (``lanes``) or second (``vmap``)."""
    axis = 0 if layout.kind == "lanes" else 1

    def one(field):
        index = jnp.expand_dims(slot, axis)
        if field.ndim == 3:  # the contexts (S, d, L) or (L, S, d)
            index = jnp.expand_dims(index, 1 if axis == 0 else 2)
        return jnp.squeeze(jnp.take_along_axis(field, index, axis), axis)

    return ring_ops.Arrival(one(ring.context), one(ring.action), one(ring.value))


def _in_slot(layout: Layout, ring: ring_ops.PendingRewards, slot) -> ring_ops.Arrival:
    """Every lane's observation in one common ``slot`` (int32, ()), read in place."""
    axis = 0 if layout.kind == "lanes" else 1
    return ring_ops.Arrival(*(jax.lax.dynamic_index_in_dim(field, slot, axis, keepdims=False)
                              for field in ring[:3]))


def _learn_every_lane(policy: Policy, pparams, pstate, obs: ring_ops.Arrival):
    return policy.update(pparams, pstate, obs.context, obs.action, obs.value)


def _observe(policy: Policy, pparams, pstate, draws, record: RoundRecord):
    """The learner after the policy observed this round's decision, made from the
    served state (``policy.observe``)."""
    decision = Decision(record.action, record.probs, record.info)
    return observed(policy, pparams, pstate, draws.noise, draws.context, draws.mask,
                    decision)


def _learn_now(policy: Policy, pparams, pstate, draws, record: RoundRecord):
    """The learner after this round's own reward (feedback without delays)."""
    return policy.update(pparams, pstate, draws.context, record.action, record.reward)


def _fixed_slot(slots: int, fparams: FeedbackParams, t):
    """With a fixed delay d, the one reward arriving in round ``t`` is round ``t − d``'s,
    in slot ``(t − d) mod S``, from round d on: ``(slot, pick)``, () int32 and () bool."""
    delay = fparams.delay_mean.astype(jnp.int32)
    return (t - delay) % slots, t >= delay


def _refresh(fparams: FeedbackParams, served, pstate, t):
    """The served state after round ``t``: the learner's at the end of every B rounds."""
    now = (t + 1) % fparams.update_every.astype(jnp.int32) == 0
    return jax.tree_util.tree_map(lambda new, old: jnp.where(now, new, old), pstate, served)


def delivery_program(policy: Policy, env: World, feedback: Feedback, layout: Layout,
                     record_logs: bool, impl) -> DeliveryProgram:
    """The round functions of ``policy`` in ``env`` with ``feedback``, lane-batched."""
    stationary = getattr(env, "stationary", True)
    ahead = not stationary and not getattr(env, "draws_read_state", True)
    draw = partial(_draw_with_delay, policy, env, feedback, impl)
    return DeliveryProgram(
        stationary=stationary, drawn_ahead=ahead,
        draw_block=layout.bmap(partial(_draw_rounds, draw), (True,) * 5, out_axis=1)
        if stationary or ahead else None,
        step_world=layout.bmap(partial(_step_world, env, impl), (True, True, True, False))
        if ahead else None,
        step_and_draw=None if stationary or ahead else layout.bmap(
            partial(_step_and_draw, policy, env, feedback, impl), (True,) * 5 + (False,)),
        decide=layout.bmap(partial(decide_round, policy, env, record_logs,
                                   arm_indices(policy.n_arms)), (True,) * 5),
        observe=None if policy.observe is None
        else layout.bmap(partial(_observe, policy), (True,) * 4),
        update=layout.bmap(partial(_learn_now, policy), (True,) * 4),
        schedule=layout.bmap(partial(_schedule, feedback), (True, True, True, False)),
        push=partial(_push, layout),
        due=layout.bmap(ring_ops.due, (True, False)),
        oldest=layout.bmap(ring_ops.oldest, (True, False)),
        fixed_slot=layout.bmap(partial(_fixed_slot, feedback.slots), (True, False)),
        learn_all=layout.bmap(partial(_learn_every_lane, policy), (True,) * 3),
        learn=layout.bmap(partial(_learn_arrival, policy), (True,) * 4),
        refresh=layout.bmap(_refresh, (True, True, True, False)),
        feedback=feedback, layout=layout)


def _deliver(program: DeliveryProgram, pparams, fparams, pstate, ring, t):
    """Every reward due in round ``t`` reaches the learner, lane by lane in decision order.
    A fixed delay has at most one, found without a search."""
    feedback = program.feedback
    if feedback.delay == "fixed" and "delay_mean" not in feedback.swept():
        return _deliver_one_delay(program, pparams, int(feedback.delay_mean), pstate, ring, t)
    if feedback.delay == "fixed":
        slot, pick = program.fixed_slot(fparams, t)
        return program.learn(pparams, pstate, _take(program.layout, ring, slot), pick)
    waiting = program.due(ring, t)

    def more(c):
        return jnp.any(c[1])

    def one(c):
        pstate, waiting = c
        slot, pick = program.oldest(waiting, t)
        obs = _take(program.layout, ring, slot)
        return program.learn(pparams, pstate, obs, pick), waiting & ~pick

    pstate, _ = jax.lax.while_loop(more, one, (pstate, waiting))
    return pstate


def _deliver_one_delay(program: DeliveryProgram, pparams, delay: int, pstate, ring, t):
    """Every lane's one reward of round ``t`` with the same fixed ``delay``: round
    ``t − delay``'s, from round ``delay`` on, read from the slot every lane shares."""
    obs = _in_slot(program.layout, ring, (t - delay) % ring.arrival.shape[
        0 if program.layout.kind == "lanes" else 1])
    return jax.lax.cond(t >= delay, lambda s: program.learn_all(pparams, s, obs),
                        lambda s: s, pstate)


def served_after(program: DeliveryProgram, fparams, served, pstate, t):
    """The served state after round ``t``. One cadence B for every lane refreshes the
    whole group at once, every B rounds; a grid of cadences picks lane by lane."""
    feedback = program.feedback
    if "update_every" in feedback.swept():
        return program.refresh(fparams, served, pstate, t)
    now = (t + 1) % int(feedback.update_every) == 0
    return jax.lax.cond(now, lambda: pstate, lambda: served)


def delivery_round(program: DeliveryProgram, constants: LaneConstants, carry: LaneCarry,
                   draws, t: Array) -> tuple[LaneCarry, RoundRecord]:
    """One round of every lane from its drawn numbers: decide from the served state,
    queue the reward, deliver what is due, refresh the served state every B rounds. A
    policy that observes its decisions observes them in both its served and learning
    states."""
    pp, fp = constants.policy_params, constants.feedback_params
    feedback = program.feedback
    served = carry.served_state if feedback.batched else carry.policy_state
    served, record = program.decide(pp, constants.world_params, carry.world_state, served,
                                    draws)
    pstate, ring = served, carry.pending
    if feedback.batched:
        pstate = carry.policy_state
        if program.observe is not None:
            pstate = program.observe(pp, pstate, draws, record)
        carry = carry._replace(served_state=served)
    if feedback.delayed:
        value, arrival = program.schedule(fp, record, draws, t)
        ring = program.push(ring, t, (draws.context, record.action, value, arrival))
        pstate = _deliver(program, pp, fp, pstate, ring, t)
    else:
        pstate = program.update(pp, pstate, draws, record)
    if feedback.batched:
        carry = carry._replace(served_state=served_after(program, fp, carry.served_state,
                                                         pstate, t))
    return carry._replace(policy_state=pstate, pending=ring), record._replace(delay=draws.delay)


def block_inputs(program: DeliveryProgram, constants: LaneConstants, carry: LaneCarry,
                 words, ts) -> Any:
    """What the round scan of a block reads each round: (draws, t); for a world that is
    not stationary, (key words, t), or ((draws, step key words), t) when it is drawn
    ahead."""
    if program.stationary:
        return _draws(program, constants, carry, words), ts
    if not program.drawn_ahead:
        return words, ts
    per_key = len(words) // (ROUND_STREAMS + 1 + int(program.feedback.delayed))
    step = slice(ROUND_STREAMS * per_key, (ROUND_STREAMS + 1) * per_key)
    round_words = words[:step.start] + words[step.stop:]
    if program.layout.kind == "vmap":  # the draws take lanes first
        round_words = tuple(jnp.moveaxis(w, 1, 0) for w in round_words)
    return (_draws(program, constants, carry, round_words), words[step]), ts


def _draws(program: DeliveryProgram, constants: LaneConstants, carry: LaneCarry, words):
    """A block's draws from the key words of its round (and delay) streams."""
    return program.draw_block(constants.policy_params, constants.feedback_params,
                              constants.world_params, carry.world_state, words)


def scan_body(program: DeliveryProgram, account: Callable, constants: LaneConstants,
              carry: LaneCarry, xs) -> tuple[LaneCarry, Any]:
    """The round scan's body: ``xs`` holds this round's draws (or, for a world that is
    not stationary, its key words) and its index ``t``."""
    inputs, t = xs
    if program.drawn_ahead:
        inputs, step_words = inputs
        carry = carry._replace(world_state=program.step_world(
            constants.world_params, carry.world_state, step_words, t))
    elif not program.stationary:
        estate, inputs = program.step_and_draw(
            constants.policy_params, constants.feedback_params, constants.world_params,
            carry.world_state, inputs, t)
        carry = carry._replace(world_state=estate)
    carry, record = delivery_round(program, constants, carry, inputs, t)
    return account(carry, record)
