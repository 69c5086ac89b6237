"""The per-lane set-up program: every lane's params, world instance, states and key
streams, from its seed and grid point.

Seed ``s`` uses the key ``seed_key = fold_in(root, s)``, and from it:

* the world instance ``env.sample_params(fold_in(seed_key, 0))`` (unless one is given;
  seed 0's for every seed with ``fixed_world``), with the world's options of the lane's
  grid point when the world has a grid (``env.sample_params_at``);
* the policy's initial state from ``fold_in(seed_key, 1)``;
* the world's initial state from ``fold_in(seed_key, 2)``;
* the round streams ``split(fold_in(seed_key, 3), 3)`` (context, reward noise, policy
  noise), for a world that is not stationary the step stream ``fold_in(seed_key, 4)``
  and, with delayed feedback, the delay stream ``fold_in(seed_key, 5)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding

from bandits.base import Policy
from envs.engine.carry import LaneCarry, LaneConstants
from envs.engine.layout import Layout
from envs.engine.plan import LanePlan
from envs.feedback import Feedback
from envs.feedback.pending import empty as empty_ring
from envs.monitor.online import LaneMonitor
from envs.worlds.base import World


def grid_params(params) -> tuple[Any, dict[str, np.ndarray], int]:
    """Broadcasts a params pytree to a leading grid axis.

    Args:
        params: the policy's params; leaves are scalars or 1-D arrays of one length G.

    Returns:
        ``(params, grid, G)``: params with every leaf (G,) float32; ``{name: (G,)}`` for
        a NamedTuple of params (else ``{}``); and G.
    """
    leaves, tree = jax.tree_util.tree_flatten(params)
    arrs = [np.asarray(x, np.float32) for x in leaves]
    sizes = {a.shape[0] for a in arrs if a.ndim == 1}
    for a in arrs:
        if a.ndim > 1:
            raise ValueError(f"policy_params leaves must be scalars or 1-D grids, got "
                             f"shape {a.shape}")
    if len(sizes) > 1:
        raise ValueError(f"policy_params grids must share one length, got {sorted(sizes)}")
    g = sizes.pop() if sizes else 1
    out = [np.broadcast_to(a, (g,)).copy() for a in arrs]
    names = getattr(params, "_fields", [f"p{i}" for i in range(len(out))])
    grid = {n: a for n, a in zip(names, out)} if hasattr(params, "_fields") else {}
    return jax.tree_util.tree_unflatten(tree, out), grid, g


def world_swept(env) -> dict[str, list]:
    """The world's options given as lists (:meth:`envs.worlds.base.World.swept`); ``{}``
    for a world object without grids."""
    swept = getattr(env, "swept", None)
    return swept() if callable(swept) else {}


def _streams(env: World, feedback: Feedback | None, k) -> jax.Array:
    """A lane's round streams (R,) from its seed key ``k``."""
    streams = [jax.random.split(jax.random.fold_in(k, 3), 3)]
    if not getattr(env, "stationary", True):
        streams.append(jax.random.fold_in(k, 4)[None])
    if feedback is not None and feedback.delayed:
        streams.append(jax.random.fold_in(k, 5)[None])
    return jnp.concatenate(streams) if len(streams) > 1 else streams[0]


def _setup_lane(policy: Policy, env: World, feedback: Feedback | None, monitor, params,
                root, env_params, fixed_world: bool, seed_index,
                grid_index) -> tuple[LaneConstants, LaneCarry]:
    """One lane's constants and initial carry, from its seed and grid point (scalars).

    ``params`` is the policy's params grid or, with ``feedback``, the pair (policy params
    grid, feedback params grid).
    """
    k = jax.random.fold_in(root, seed_index)
    if env_params is not None:
        ep = env_params
    else:
        k_world = jax.random.fold_in(jax.random.fold_in(root, 0) if fixed_world else k, 0)
        ep = (env.sample_params_at(k_world, grid_index) if world_swept(env)
              else env.sample_params(k_world))
    point = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[grid_index], params)
    pp, fp = point if feedback is not None else (point, ())
    pstate = policy.init(pp, jax.random.fold_in(k, 1))
    carry = LaneCarry(
        policy_state=pstate,
        world_state=env.init_state(ep, jax.random.fold_in(k, 2)),
        pending=empty_ring(feedback.slots, env.dim) if feedback and feedback.delayed else (),
        monitor=() if monitor is None else monitor.init(), cum_regret=jnp.zeros((), jnp.float32),
        cum_reward=jnp.zeros((), jnp.float32),
        served_state=pstate if feedback is not None and feedback.batched else ())
    return LaneConstants(pp, ep, _streams(env, feedback, k), fp), carry


def _setup_all(setup_lane, layout: Layout, seed_index, grid_index):
    out = jax.vmap(setup_lane)(seed_index, grid_index)
    return jax.tree_util.tree_map(layout.lanes_from_front, out)


def setup_lanes(policy: Policy, env: World, params, root, lanes: LanePlan, env_params,
                fixed_world: bool, mesh: Mesh, layout: Layout,
                feedback: Feedback | None = None,
                monitor: LaneMonitor | None = None) -> tuple[LaneConstants, LaneCarry]:
    """Every lane's constants and initial carry, sharded over ``mesh``.

    Args:
        params: the policy's params with a leading grid axis (:func:`grid_params`); with
            ``feedback``, the pair (policy params, feedback params), both gridded.
        root: the root key; lane ``i`` runs seed ``lanes.seed_index[i]`` at grid point
            ``lanes.grid_index[i]``.
        env_params: one world instance for every lane, or ``None`` to draw one per seed.
        feedback: delayed or batched feedback, or ``None`` for immediate rewards.
        monitor: the monitor every lane keeps (:class:`envs.monitor.online.LaneMonitor`),
            or ``None``.

    Returns:
        ``(constants, carry)`` with the lane axis where ``layout`` keeps it. Blocks until
        they are ready, so the caller can time the set-up program.
    """
    setup_lane = partial(_setup_lane, policy, env, feedback, monitor, params, root,
                         env_params, fixed_world)
    program = jax.jit(partial(_setup_all, setup_lane, layout))
    placed = jax.tree_util.tree_map(
        lambda x: jax.device_put(x, NamedSharding(mesh, layout.spec(x))),
        program(lanes.seed_index, lanes.grid_index))
    return jax.block_until_ready(placed)
