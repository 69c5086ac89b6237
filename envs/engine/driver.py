"""The rollout engine's entry point: :func:`simulate` drives a policy through a world for
many seeds at once.

It reads as a short sequence: check the arguments; plan lanes, blocks and chunks
(:mod:`envs.engine.plan`); set up every lane (:mod:`envs.engine.setup`); compile the
chunk program (:mod:`envs.engine.chunk`); run it chunk after chunk from the host, with
progress; decode the outputs into a :class:`envs.engine.result.Rollout`.

Seed ``s`` uses the key ``fold_in(root, s)``. Its rounds draw from three streams,
``split(fold_in(seed_key, 3), 3)``: the world's context, the world's reward noise and
the policy's noise of round ``t`` use ``fold_in(stream, t)``; a world that is not
stationary steps its state with a fourth stream, ``fold_in(seed_key, 4)``, the same way.
A seed's numbers therefore do not depend on how many seeds, grid points or devices run
beside it, nor on block and chunk sizes.

By default only curves leave the device: mean and standard deviation across seeds of the
cumulative regret at every round, and every seed's cumulative regret at log-spaced
checkpoints (for quantiles). Per-seed trajectories are recorded on request
(:mod:`envs.engine.records`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh

from bandits.base import Policy
from common.validation import check_int
from envs.engine import backend
from envs.engine.carry import LaneCarry, LaneConstants
from envs.engine.chunk import ChunkOutput, make_chunk
from envs.engine.layout import LANE, Layout
from envs.engine.options import EngineOptions
from envs.engine.plan import (
    LanePlan,
    Plan,
    checkpoints_in_chunk,
    log_checkpoints,
    make_plan,
    plan_lanes,
)
from envs.engine.records import RECORDS, recorded_floats
from envs.engine.result import Rollout, decode_trajectories, per_seed
from envs.engine.setup import grid_params, setup_lanes, world_swept
from envs.feedback import Feedback
from envs.monitor.online import LaneMonitor, alert_results, lane_monitor
from envs.monitor.rules import MonitorSpec
from envs.worlds.base import World

__all__ = ["EngineOptions", "Rollout", "simulate"]


def simulate(policy: Policy, env: World, *, n_rounds: int, n_seeds: int, seed: int = 0,
             policy_params: Any = None, env_params: Any = None, fixed_world: bool = False,
             n_checkpoints: int = 60, record: str = "curves", first_seed: int = 0,
             options: EngineOptions | None = None, feedback: Feedback | None = None,
             monitor: MonitorSpec | LaneMonitor | None = None,
             progress: bool | Callable[[int, int], None] = False) -> Rollout:
    """Runs ``n_seeds`` independent simulations of ``n_rounds`` rounds.

    Args:
        policy: a :class:`bandits.Policy`.
        env: a world from :mod:`envs`; a drift's options given as lists are a grid,
            paired with the policy's (``make_drift("abrupt", w, rate=[0, 0.01])``).
        n_rounds: horizon T (>= 1).
        n_seeds: independent simulations per grid point (>= 1).
        seed: root seed; seed ``s`` uses ``fold_in(key(seed), s)``.
        policy_params: the policy's params pytree (default ``policy.default_params``).
            Leaves may be scalars or 1-D arrays of a common length G: a grid of G
            hyperparameter points, all run in the same compiled program on the same
            seeds (common random numbers across the grid).
        env_params: a fixed world instance for every seed. By default each seed draws its
            own instance (``env.sample_params(fold_in(seed_key, 0))``), or seed 0's
            instance for all seeds when ``fixed_world``.
        n_checkpoints: log-spaced rounds at which every seed's regret is kept.
        record: what leaves the device besides the curves: ``"curves"``,
            ``"trajectories"`` (per-seed actions, rewards, propensities and regrets,
            O(G·S·T)) or ``"logs"`` (also each round's context, mask, action
            probabilities and mean rewards, O(G·S·T·(d + 3K)); ``LoggedData.from_rollout``).
        first_seed: seeds are ``first_seed, first_seed + 1, ...``, so a large set of
            seeds can run in batches with the same numbers as in one run.
        options: how the engine runs (:class:`EngineOptions`: block and chunk lengths,
            layout, devices, lane groups); never changes the numbers.
        feedback: how rewards reach the policy (:class:`envs.feedback.Feedback`: delays,
            the attribution window, the refresh cadence B); ``None`` or the default
            ``Feedback()`` for rewards learnt in their own round (``None``: the world's
            own, ``env.feedback``, if it declares one). Numeric fields may be lists: a
            grid, of the same length as the policy's, run in the same program.
        monitor: KPIs and alert rules every lane keeps (a ``MonitorSpec``, or a
            ``LaneMonitor`` counting detections from a round); see ``Rollout.alerts``.
        progress: ``True`` for a tqdm bar, or a callback ``(rounds_done, n_rounds)``.

    Raises:
        ValueError: an argument is out of range or the policy does not fit the world.
    """
    t_call = time.perf_counter()
    options = _check_arguments(policy, env, n_rounds, n_seeds, first_seed, record, options,
                               env_params)
    feedback = _active(feedback if feedback is not None else getattr(env, "feedback", None))
    setting = _plan_run(policy, env, policy_params, n_rounds, n_seeds, first_seed, record,
                        options, feedback, lane_monitor(monitor, env))
    checkpoints = log_checkpoints(n_rounds, n_checkpoints)
    constants, carry, compiled, times = _prepare(policy, env, setting, record, seed,
                                                 env_params, fixed_world, feedback,
                                                 checkpoints)
    reporter = _Progress(progress, n_rounds, policy.name)
    t_run = time.perf_counter()
    host = _run_chunks(compiled, constants, carry, setting.plan, checkpoints, reporter)
    times["run_s"] = time.perf_counter() - t_run
    reporter.close()
    return _rollout(policy, env, setting, record, host, checkpoints, times, t_call,
                    feedback is not None and feedback.delayed)


def _prepare(policy: Policy, env: World, setting, record: str, seed: int, env_params,
             fixed_world: bool, feedback: Feedback | None, checkpoints: np.ndarray):
    """Every lane set up and the chunk program compiled; returns the constants, the
    carry, the compiled program and the times ``setup_s`` and ``compile_s`` (set-up
    included)."""
    root = jax.random.key(seed)
    t_setup = time.perf_counter()
    constants, carry = setup_lanes(policy, env, setting.params, root, setting.lanes,
                                   env_params, fixed_world, setting.mesh, setting.layout,
                                   feedback, setting.monitor)
    setup_s = time.perf_counter() - t_setup
    compiled = _compile(policy, env, setting, record, jax.random.key_impl(root), constants,
                        carry, checkpoints, feedback)
    return constants, carry, compiled, {"compile_s": time.perf_counter() - t_setup,
                                        "setup_s": setup_s}


def _check_arguments(policy: Policy, env: World, n_rounds, n_seeds, first_seed, record,
                     options, env_params=None) -> EngineOptions:
    """Checks :func:`simulate`'s arguments; returns the options (defaults for ``None``)."""
    if env_params is not None and world_swept(env):
        raise ValueError(f"env_params gives one world instance, but the world's options "
                         f"{world_swept(env)} are a grid; leave env_params out")
    check_int("n_rounds", n_rounds)
    check_int("n_seeds", n_seeds)
    check_int("first_seed", first_seed, low=0)
    if record not in RECORDS:
        raise ValueError(f"record must be one of {', '.join(RECORDS)}, got {record!r}")
    if policy.n_arms != env.n_arms or policy.dim != env.dim:
        raise ValueError(f"policy is built for n_arms={policy.n_arms}, dim={policy.dim} "
                         f"but env has n_arms={env.n_arms}, dim={env.dim}")
    if options is None:
        return EngineOptions()
    if not isinstance(options, EngineOptions):
        raise ValueError(f"options must be an EngineOptions or None, got {options!r}")
    return options


def _active(feedback: Feedback | None) -> Feedback | None:
    """The feedback the rounds must simulate: ``None`` when rewards are learnt in their
    own round with B = 1 (the plain round program)."""
    if feedback is None:
        return None
    if not isinstance(feedback, Feedback):
        raise ValueError(f"feedback must be an envs.feedback.Feedback or None, got "
                         f"{feedback!r}")
    return feedback if feedback.delayed or feedback.batched else None


class _Setting(NamedTuple):
    """Everything planned before the lanes are set up."""

    n_rounds: int
    params: Any  # the policy's params, every leaf (G,)
    grid: dict[str, np.ndarray]  # the swept values, {name: (G,)}
    lanes: LanePlan
    plan: Plan
    layout: Layout
    mesh: Mesh
    monitor: LaneMonitor | None = None


def _grid(policy: Policy, policy_params, feedback: Feedback | None, env: World):
    """The params grid (the policy's, paired with the feedback's when there is feedback),
    the swept values ``{name: (G,)}`` (the world's options given as lists included) and
    G."""
    params = policy.default_params if policy_params is None else policy_params
    if feedback is None:
        out, grid, n_grid = grid_params(params)
    else:
        (pp, fp), _, n_grid = grid_params((params, feedback.params()))
        grid = grid_params(pp)[1]
        grid.update({name: np.asarray(getattr(fp, name)) for name in feedback.swept()})
        out = (pp, fp)
    world_grid = world_swept(env)
    lengths = {len(v) for v in world_grid.values()}
    if world_grid and n_grid == 1:
        return _grid(policy, _tiled(params, lengths.pop()), feedback, env)
    if lengths - {n_grid}:
        raise ValueError(f"the world's options given as lists {world_grid} must have the "
                         f"policy's and feedback's grid length {n_grid}")
    grid.update({name: np.asarray(v, np.float32) for name, v in world_grid.items()})
    return out, grid, n_grid


def _tiled(params, n: int):
    """``params`` with every leaf repeated to a grid of ``n`` points."""
    return jax.tree_util.tree_map(lambda leaf: np.full((n,), leaf, np.float32), params)


def block_cadence(policy: Policy, monitor: LaneMonitor | None) -> int | None:
    """The rounds every block must divide (``None``: any): the monitor's hop and the
    policy's training cadence end at block ends."""
    if policy.train is not None and (not isinstance(policy.train_every, int)
                                     or policy.train_every < 1):
        raise ValueError(f"policy {policy.name!r} trains every train_every rounds, which "
                         f"must be a positive integer, got {policy.train_every!r}")
    cadences = [c for c in (None if monitor is None else monitor.spec.hop,
                            policy.train_every if policy.train is not None else None) if c]
    return math.gcd(*cadences) if cadences else None


def _plan_run(policy: Policy, env: World, policy_params, n_rounds: int, n_seeds: int,
              first_seed: int, record: str, options: EngineOptions,
              feedback: Feedback | None, monitor: LaneMonitor | None = None) -> _Setting:
    """The grid, the lanes over the devices, and the blocks and chunks of rounds."""
    params, grid, n_grid = _grid(policy, policy_params, feedback, env)
    devices = list(options.devices or jax.local_devices())
    be = backend.backend_of(devices)
    lanes = plan_lanes(n_seeds, n_grid, len(devices),
                       options.group_lanes or backend.group_lanes(be), first_seed)
    plan = make_plan(n_rounds, lanes.lanes_per_device // lanes.n_groups,
                     options.chunk_rounds, options.block_rounds,
                     recorded_floats(record, env.n_arms, env.dim,
                                     feedback is not None and feedback.delayed),
                     lanes.n_lanes, block_cadence(policy, monitor),
                     backend.block_lane_rounds(be), backend.chunk_floats(be))
    return _Setting(n_rounds, params, grid, lanes, plan, Layout(options.layout),
                    Mesh(np.array(devices), (LANE,)), monitor)


def _compile(policy: Policy, env: World, setting: _Setting, record: str, impl,
             constants: LaneConstants, carry: LaneCarry, checkpoints: np.ndarray,
             feedback: Feedback | None):
    """The chunk program compiled for these lanes; it consumes (donates) the carry."""
    run = make_chunk(policy, env, setting.plan, setting.lanes, setting.layout, setting.mesh,
                     record, impl, feedback, setting.monitor)
    first_checkpoints = checkpoints_in_chunk(checkpoints, 0, setting.plan.chunk)[0]
    return jax.jit(run, donate_argnums=(1,)).lower(
        constants, carry, np.int32(0), first_checkpoints).compile()


class _Progress:
    """Reports rounds done: to a tqdm bar (``progress=True``), a callback, or nobody."""

    def __init__(self, progress: bool | Callable[[int, int], None], n_rounds: int,
                 name: str):
        self.callback = progress if callable(progress) else None
        self.n_rounds = n_rounds
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n_rounds, unit="round", desc=name)

    def advance(self, rounds_done: int, rounds: int) -> None:
        if self.bar is not None:
            self.bar.update(rounds)
        elif self.callback is not None:
            self.callback(rounds_done, self.n_rounds)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _HostResults(NamedTuple):
    """The chunks' outputs gathered on the host (L lanes, C checkpoints)."""

    carry: LaneCarry  # after the last round, on the devices
    mean_regret: np.ndarray  # (G, T)
    std_regret: np.ndarray  # (G, T)
    seed_regret: np.ndarray  # (L, C) cumulative regret at the checkpoints
    total_reward: np.ndarray  # (L,)
    outputs: list[list[np.ndarray]]  # per chunk, per recorded output (chunk, ..., L)


def _launch(compiled, constants: LaneConstants, carry: LaneCarry, plan: Plan,
            checkpoints: np.ndarray, c: int) -> ChunkOutput:
    """Queues chunk ``c``; returns before it has run."""
    t0 = c * plan.chunk
    return compiled(constants, carry, np.int32(t0),
                    checkpoints_in_chunk(checkpoints, t0, plan.chunk)[0])


def _run_chunks(compiled, constants: LaneConstants, carry: LaneCarry, plan: Plan,
                checkpoints: np.ndarray, progress: _Progress) -> _HostResults:
    """Runs every chunk, queueing the next one before reading this one's outputs."""
    means, stds, outputs = [], [], []
    seed_regret = np.zeros((int(carry.cum_regret.shape[0]), len(checkpoints)), np.float32)
    pending = _launch(compiled, constants, carry, plan, checkpoints, 0)
    for c in range(plan.n_chunks):
        t0 = c * plan.chunk
        selected = checkpoints_in_chunk(checkpoints, t0, plan.chunk)[1]
        out = pending
        if c + 1 < plan.n_chunks:
            pending = _launch(compiled, constants, out.carry, plan, checkpoints, c + 1)
        means.append(np.asarray(out.mean_regret))
        stds.append(np.asarray(out.std_regret))
        if selected.any():
            seed_regret[:, selected] = np.asarray(out.at_checkpoints)[: selected.sum()].T
        outputs.append([np.asarray(y) for y in out.outputs])
        progress.advance(t0 + plan.chunk, plan.chunk)
    total_reward = np.asarray(out.carry.cum_reward)
    return _HostResults(out.carry, np.concatenate(means, 0).T, np.concatenate(stds, 0).T,
                        seed_regret, total_reward, outputs)


def _rollout(policy: Policy, env: World, setting: _Setting, record: str,
             host: _HostResults, checkpoints: np.ndarray, times: dict[str, float],
             t_call: float, delayed: bool = False) -> Rollout:
    """The :class:`Rollout` of the gathered results; ``times`` holds ``compile_s``,
    ``run_s`` and ``setup_s``, and ``wall_s`` runs from ``t_call`` to the end."""
    lanes = setting.lanes
    trajectories = decode_trajectories(host.outputs, record, lanes, env.n_arms, env.dim,
                                       delayed)
    final_state = jax.tree_util.tree_map(
        lambda x: per_seed(setting.layout.host_lanes_last(x), lanes), host.carry.policy_state)
    return Rollout(
        policy=policy.name, env=env.name, n_seeds=lanes.n_seeds,
        rounds=np.arange(1, setting.n_rounds + 1),
        mean_regret=host.mean_regret, std_regret=host.std_regret, checkpoints=checkpoints,
        seed_regret=per_seed(host.seed_regret.T, lanes),
        total_reward=per_seed(host.total_reward, lanes), grid=setting.grid, **times,
        wall_s=time.perf_counter() - t_call, plan=setting.plan, n_devices=lanes.n_devices,
        trajectories=trajectories, final_state=final_state,
        alerts=None if setting.monitor is None else alert_results(
            setting.monitor, host.carry.monitor,
            lambda x: per_seed(setting.layout.host_lanes_last(x), lanes)))
