"""The chunk program: ``plan.chunk`` rounds of every lane, as one pure function that the
driver compiles once and calls chunk after chunk.

One simulation is written for one round (:mod:`envs.engine.rounds`: ``policy.decide`` /
``policy.update``, the world's draws); the chunk program turns it into one compiled
program:

* **lanes** — every (hyperparameter point, seed) pair is a *lane*; lanes are batched with
  :func:`envs.engine.lanes.lane_vmap`, which keeps them on the last array axis
  (:mod:`envs.engine.layout`), and split across the host's XLA devices with
  ``shard_map`` (one device per core). A device advances its lanes in groups small
  enough for their state to stay in cache (``lax.map`` over groups);
* **rounds** — ``lax.scan`` over blocks of rounds, and inside each block a ``lax.scan`` over
  its rounds. For a stationary world all random numbers of a block (contexts,
  eligibility, the reward noise, the policy's noise) are drawn before the inner scan, so
  the inner loop holds only the policy's arithmetic. A world that is not stationary
  steps its state once a round: the inner scan carries the state with the policy's,
  reads each round's index and key words, and draws the round's numbers from the new
  state inside the loop;
* **chunks** — the host calls the compiled chunk repeatedly, so a progress bar moves and
  memory is bounded by the chunk, not by the horizon.

A block's keys are derived one block ahead and carried into its draws: a carried array is
stored, whereas a key derived beside its draws is fused into them and re-derived once per
number drawn (XLA:CPU drops optimization barriers).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from bandits.base import Policy
from envs.engine.carry import LaneCarry, LaneConstants
from envs.engine.delivery import (
    DeliveryProgram,
    block_inputs,
    delivery_program,
    scan_body,
    served_after,
)
from envs.engine.layout import LANE, Layout
from envs.engine.plan import LanePlan, Plan
from envs.engine.records import ROUND_OUTPUTS, recorded_outputs
from envs.engine.rounds import (
    ROUND_STREAMS,
    arm_indices,
    draw_round_from_words,
    play_round,
    round_key_words,
    step_and_play_round,
    step_then_play_round,
)
from envs.feedback import Feedback
from envs.monitor.online import LaneMonitor, close_hop
from envs.monitor.online import step as monitor_step
from envs.worlds.base import World


class ChunkOutput(NamedTuple):
    """What one call of the chunk program returns (L lanes, G grid points)."""

    carry: LaneCarry  # every lane's carry after the chunk's last round
    mean_regret: Array  # (chunk, G) mean over seeds of cumulative regret, every round
    std_regret: Array  # (chunk, G) its standard deviation over seeds
    at_checkpoints: Array  # (C, L) cumulative regret at the chunk's checkpoints, first rows
    outputs: tuple[Array, ...]  # one per recorded output (records.RECORDS), (chunk, ..., L)


class RoundProgram(NamedTuple):
    """The lane-batched functions of one round (:mod:`envs.engine.rounds`).

    A stationary world's rounds are drawn a block at a time (``draw_block``) and played
    by ``play(pparams, eparams, estate, pstate, draws) -> (pstate, record)``. Otherwise
    ``draw_block`` is ``None`` and ``play(pparams, eparams, estate, pstate, words, t) ->
    (estate, pstate, record)`` steps the world, draws and plays one round.
    """

    stationary: bool
    drawn_ahead: bool  # not stationary, but drawn a block ahead (``draws_read_state`` off)
    block_keys: Callable  # (streams, ts (n,)) -> key words of those rounds, each (n, L)
    draw_block: Callable | None  # (pparams, eparams, estate, words) -> RoundDraws (n, ...)
    play: Callable


class _ChunkSpec(NamedTuple):
    """How the chunk program is built: everything its pieces know before tracing."""

    program: RoundProgram
    layout: Layout
    outputs: tuple[str, ...]  # recorded outputs, in order (records.RECORDS)
    block: int  # rounds per block
    n_blocks: int  # blocks per chunk
    n_groups: int  # lane groups per device
    delivery: DeliveryProgram | None = None  # rounds with delayed or batched feedback
    monitor: LaneMonitor | None = None  # the KPIs and alert rules every lane keeps
    monitor_round: Callable | None = None  # (monitor state, record) -> state, batched
    monitor_hop: Callable | None = None  # (monitor state, rounds seen) -> state, batched
    train: Callable | None = None  # (policy params, policy state) -> state, batched
    train_every: int = 0  # rounds between the policy's trainings (0: it does not train)


def _keys_of_rounds(streams, ts):
    """One lane's key words of rounds ``ts`` (n,): each (n,)."""
    return jax.vmap(round_key_words, in_axes=(None, 0))(streams, ts)


def _draw_rounds(policy: Policy, env: World, impl, pparams, eparams, estate, words):
    """One lane's random numbers of n rounds, from their key words (each (n,))."""
    draw = partial(draw_round_from_words, policy, env, impl)
    return jax.vmap(draw, in_axes=(None, None, None, 0))(pparams, eparams, estate, words)


def round_program(policy: Policy, env: World, layout: Layout, record_logs: bool,
                  impl) -> RoundProgram:
    """The round functions of ``policy`` in ``env``, batched over lanes for ``layout``.

    Block-drawn numbers and key words are (n, L, ...) in the ``vmap`` layout and
    (n, ..., L) in the ``lanes`` layout; the words of a world that is not stationary are
    (n, L) in both, for the round scan to read them round by round.
    """
    arms = arm_indices(policy.n_arms)
    draw_block = layout.bmap(partial(_draw_rounds, policy, env, impl),
                             (True, True, True, True), out_axis=1)
    if getattr(env, "stationary", True):
        return RoundProgram(
            stationary=True, drawn_ahead=False,
            block_keys=layout.bmap(_keys_of_rounds, (True, False)),
            draw_block=draw_block,
            play=layout.bmap(partial(play_round, policy, env, record_logs, arms),
                             (True, True, True, True, True)))
    if not getattr(env, "draws_read_state", True):
        return RoundProgram(
            stationary=False, drawn_ahead=True,
            block_keys=layout.bmap(_keys_of_rounds, (True, False), out_axis=1),
            draw_block=draw_block,
            play=layout.bmap(partial(step_then_play_round, policy, env, impl, record_logs,
                                     arms), (True,) * 6 + (False,)))
    return RoundProgram(
        stationary=False, drawn_ahead=False,
        block_keys=layout.bmap(_keys_of_rounds, (True, False), out_axis=1),
        draw_block=None,
        play=layout.bmap(partial(step_and_play_round, policy, env, impl, record_logs, arms),
                         (True, True, True, True, True, False)))


def _account(spec: _ChunkSpec, carry: LaneCarry, record) -> tuple[LaneCarry, tuple]:
    """Adds a round's regret and reward to the running sums, and its KPIs' sums to the
    monitor's current hop when one runs; returns the new carry and the round's outputs:
    cumulative regret, then the recorded outputs, each (..., L)."""
    cum_regret = carry.cum_regret + record.regret
    carry = carry._replace(cum_regret=cum_regret, cum_reward=carry.cum_reward + record.reward)
    if spec.monitor_round is not None:
        carry = carry._replace(monitor=spec.monitor_round(carry.monitor, record))
    ys = (cum_regret,) + tuple(spec.layout.lanes_last(getattr(record, name))
                               for name in spec.outputs)
    return carry, ys


def _stationary_round(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry, draws):
    """One round of every lane from its pre-drawn numbers (the round scan's body)."""
    pstate, record = spec.program.play(constants.policy_params, constants.world_params,
                                         carry.world_state, carry.policy_state, draws)
    return _account(spec, carry._replace(policy_state=pstate), record)


def _nonstationary_round(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry,
                         words_and_round):
    """One round of every lane of a world that is not stationary: ``words_and_round``
    holds the round's key words, each (L,), and its index ``t`` (the round scan's body)."""
    words, t = words_and_round
    estate, pstate, record = spec.program.play(
        constants.policy_params, constants.world_params, carry.world_state,
        carry.policy_state, words, t)
    return _account(spec, carry._replace(policy_state=pstate, world_state=estate), record)


def _stepped_round(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry, xs):
    """One round of every lane of a world drawn a block ahead but stepped round by round:
    ``xs`` holds the round's draws, its step key words, each (L,), and its index."""
    draws, step_words, t = xs
    estate, pstate, record = spec.program.play(
        constants.policy_params, constants.world_params, carry.world_state,
        carry.policy_state, step_words, draws, t)
    return _account(spec, carry._replace(policy_state=pstate, world_state=estate), record)


def _ahead_inputs(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry, words, ts):
    """A block of a world drawn ahead: its draws, from the round streams' key words, and
    the step stream's words, each (n, L), with the rounds' indices."""
    per_key = len(words) // (ROUND_STREAMS + 1)
    round_words = words[:ROUND_STREAMS * per_key]
    if spec.layout.kind == "vmap":  # the draws take lanes first
        round_words = tuple(jnp.moveaxis(w, 1, 0) for w in round_words)
    draws = spec.program.draw_block(constants.policy_params, constants.world_params,
                                    carry.world_state, round_words)
    return draws, words[ROUND_STREAMS * per_key:], ts


def _run_block(spec: _ChunkSpec, constants: LaneConstants, t0, rounds, carry_and_words, b):
    """Block ``b`` of the chunk starting after round ``t0``: its rounds, given the key
    words of its rounds; derives the next block's words."""
    carry, words = carry_and_words
    program = spec.program
    if spec.delivery is not None:
        body = partial(scan_body, spec.delivery, partial(_account, spec), constants)
        xs = block_inputs(spec.delivery, constants, carry, words, t0 + b * spec.block + rounds)
    elif program.drawn_ahead:
        body = partial(_stepped_round, spec, constants)
        xs = _ahead_inputs(spec, constants, carry, words, t0 + b * spec.block + rounds)
    elif program.stationary:
        draws = program.draw_block(constants.policy_params, constants.world_params,
                                   carry.world_state, words)
        body, xs = partial(_stationary_round, spec, constants), draws
    else:
        body = partial(_nonstationary_round, spec, constants)
        xs = (words, t0 + b * spec.block + rounds)
    words = program.block_keys(constants.streams, t0 + (b + 1) * spec.block + rounds)
    carry, ys = jax.lax.scan(body, carry, xs)
    seen = t0 + (b + 1) * spec.block
    if spec.train is not None:
        carry = _train(spec, constants, carry, seen)
    if spec.monitor is not None:
        carry = _close_hop(spec, carry, seen)
    return (carry, words), ys


# Lanes a training runs at once: lane by lane in ``lax.map``, 8 vmapped at a time. A
# neural training's small matrix products (64 × 10 by 10 × 100 per lane) ran at 50 GFLOP/s
# on one core this way against 32 as one batched product over 1,000 lanes (vmap) and 40
# one lane at a time (scripts/bench_neural.py; 4: 49, 16: 33).
TRAIN_LANES = 8


def _train_program(policy: Policy, layout: Layout) -> Callable:
    """``policy.train`` over a lane group, :data:`TRAIN_LANES` lanes at a time."""
    return layout.lane_map(policy.train, TRAIN_LANES)


def _train(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry, seen
           ) -> LaneCarry:
    """At the end of a block, once ``seen`` rounds are over: when the policy's training
    cadence ends there (blocks divide it), every lane's policy trains on what it has
    learnt (``Policy.train``). One ``lax.cond`` a block for the whole lane group. When
    the served model lags (``update_every`` B > 1) and a refresh falls on the same round,
    the refresh serves the trained state: the round's refresh, made before the training,
    is made again."""
    lags = spec.delivery is not None and spec.delivery.feedback.batched

    def trained(states):
        pstate = spec.train(constants.policy_params, states[0])
        if not lags:
            return pstate, states[1]
        return pstate, served_after(spec.delivery, constants.feedback_params, states[1],
                                    pstate, seen - 1)

    pstate, served = jax.lax.cond(seen % spec.train_every == 0, trained, lambda s: s,
                                  (carry.policy_state, carry.served_state))
    return carry._replace(policy_state=pstate, served_state=served)


def _close_hop(spec: _ChunkSpec, carry: LaneCarry, seen) -> LaneCarry:
    """At the end of a block, once ``seen`` rounds are over: when a hop of the monitor
    ends there (blocks divide hops), every lane's monitor closes it and evaluates its
    rules. One ``lax.cond`` a block, so the inner loop only adds sums."""
    ends = seen % spec.monitor.spec.hop == 0
    monitor = jax.lax.cond(ends, lambda m: spec.monitor_hop(m, seen), lambda m: m,
                           carry.monitor)
    return carry._replace(monitor=monitor)


def _run_group(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry, t0):
    """A group of lanes through the chunk's blocks; outputs (chunk, ..., lanes)."""
    rounds = jnp.arange(spec.block, dtype=jnp.int32)
    first = spec.program.block_keys(constants.streams, t0 + rounds)
    block = partial(_run_block, spec, constants, t0, rounds)
    (carry, _), ys = jax.lax.scan(block, (carry, first), jnp.arange(spec.n_blocks))
    chunk = spec.block * spec.n_blocks
    ys = jax.tree_util.tree_map(lambda y: y.reshape((chunk,) + y.shape[2:]), ys)
    return carry, ys


def _merge_group_outputs(y):
    """(groups, chunk, ..., lanes per group) -> (chunk, ..., lanes)."""
    y = jnp.moveaxis(y, 0, -2)
    return y.reshape(y.shape[:-2] + (-1,))


def _run_device(spec: _ChunkSpec, constants: LaneConstants, carry: LaneCarry, t0):
    """One device's lanes, in groups small enough for their state to stay in cache."""
    if spec.n_groups == 1:
        return _run_group(spec, constants, carry, t0)
    groups = jax.tree_util.tree_map(spec.layout.split_groups(spec.n_groups),
                                    (constants, carry))
    carry, ys = jax.lax.map(lambda group: _run_group(spec, *group, t0), groups)
    carry = jax.tree_util.tree_map(spec.layout.merge_groups, carry)
    return carry, jax.tree_util.tree_map(_merge_group_outputs, ys)


def _seed_stats(cum_regret, lanes: LanePlan):
    """(chunk, L) cumulative regret -> its mean and standard deviation over the seeds
    asked for (padding dropped), each (chunk, G)."""
    cum = cum_regret.reshape(-1, lanes.n_grid, lanes.seeds_padded)[:, :, :lanes.n_seeds]
    return jnp.mean(cum, -1), jnp.std(cum, -1, ddof=1 if lanes.n_seeds > 1 else 0)


def make_chunk(policy: Policy, env: World, plan: Plan, lanes: LanePlan, layout: Layout,
               mesh: Mesh, record: str, impl, feedback: Feedback | None = None,
               monitor: LaneMonitor | None = None) -> Callable:
    """The pure chunk program of ``policy`` in ``env``, for the driver to compile.

    Args:
        plan: block and chunk lengths.
        lanes: how lanes map to seeds, grid points, devices and groups.
        layout: where the lane axis lives.
        mesh: the devices, along the mesh axis :data:`envs.engine.layout.LANE`.
        record: what leaves the device (:data:`envs.engine.records.RECORDS`).
        impl: the PRNG implementation of the lanes' keys.
        feedback: delayed or batched feedback (:mod:`envs.engine.delivery`); ``None``
            for rewards learnt in their own round.
        monitor: the KPIs and alert rules every lane keeps (:mod:`envs.monitor.online`),
            or ``None``; ``plan.block`` must divide its hop.

    Returns:
        ``run(constants, carry, t0, checkpoint_index) -> ChunkOutput``: rounds ``t0 ..
        t0 + chunk - 1`` of every lane; ``checkpoint_index`` (C,) int32 picks the rows of
        ``at_checkpoints`` (:func:`envs.engine.plan.checkpoints_in_chunk`).
    """
    logs = record == "logs"
    delivery = None if feedback is None else delivery_program(policy, env, feedback, layout,
                                                              logs, impl)
    spec = _ChunkSpec(program=round_program(policy, env, layout, logs, impl), layout=layout,
                      outputs=recorded_outputs(record, delivery is not None
                                               and feedback.delayed),
                      block=plan.block, n_blocks=plan.chunk // plan.block,
                      n_groups=lanes.n_groups, delivery=delivery, monitor=monitor,
                      monitor_round=None if monitor is None else layout.bmap(
                          partial(monitor_step, monitor), (True, True)),
                      monitor_hop=None if monitor is None else layout.bmap(
                          partial(close_hop, monitor), (True, False)),
                      train=None if policy.train is None else _train_program(policy, layout),
                      train_every=int(policy.train_every))
    output_specs = (P(None, LANE),) + tuple(
        P(None, *(None for _ in ROUND_OUTPUTS[name].shape), LANE) for name in spec.outputs)

    def run(constants: LaneConstants, carry: LaneCarry, t0: Array,
            checkpoint_index: Array) -> ChunkOutput:
        device_program = jax.shard_map(
            partial(_run_device, spec), mesh=mesh,
            in_specs=(layout.tree_spec(constants), layout.tree_spec(carry), P()),
            out_specs=(layout.tree_spec(carry), output_specs), check_vma=False)
        carry, ys = device_program(constants, carry, t0)
        mean, std = _seed_stats(ys[0], lanes)
        return ChunkOutput(carry, mean, std, jnp.take(ys[0], checkpoint_index, axis=0),
                           ys[1:])

    return run
