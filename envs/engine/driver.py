"""The rollout engine: drives a policy through a world for many seeds at once.

One simulation is written for one round (``policy.decide`` / ``policy.update``, the
world's draws); the engine turns it into one compiled program:

* **lanes** — every (hyperparameter point, seed) pair is a *lane*; lanes are batched with
  :func:`envs.engine.lanes.lane_vmap`, which keeps them on the last array axis, and split across
  the host's XLA devices with ``shard_map`` (one device per core);
* **rounds** — ``lax.scan`` over blocks of rounds, and inside each block a ``lax.scan`` over
  its rounds. All random numbers of a block (contexts, eligibility, the reward noise,
  the policy's noise) are drawn before the inner scan, so the inner loop holds only the
  policy's arithmetic;
* **chunks** — the host calls the compiled chunk repeatedly, so a progress bar moves and
  memory is bounded by the chunk, not by the horizon.

Seed ``s`` uses the key ``fold_in(root, s)``. Its rounds draw from three streams,
``split(fold_in(seed_key, 3), 3)``: the world's context, the world's reward noise and
the policy's noise of round ``t`` use ``fold_in(stream, t)``. A seed's numbers therefore
do not depend on how many seeds, grid points or devices run beside it, nor on block and
chunk sizes.

By default only curves leave the device: mean and standard deviation across seeds of the
cumulative regret at every round, and every seed's cumulative regret at log-spaced
checkpoints (for quantiles). Per-seed trajectories are recorded on request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bandits.base import Policy
from envs.engine.lanes import lane_vmap
from envs.worlds.base import World

LANE = "lanes"
RECORDS = ("curves", "trajectories", "logs")


def recorded_floats(record: str, n_arms: int, dim: int) -> int:
    """Floats recorded per lane and round: none for curves, action, reward, propensity and
    regret for trajectories, and the logged row's context, mask, action probabilities and
    mean rewards besides for logs."""
    return {"curves": 0, "trajectories": 4, "logs": dim + 3 * n_arms + 4}[record]


# ----------------------------------------------------------------------------- plan


def log_checkpoints(n_rounds: int, n_points: int = 60) -> np.ndarray:
    """Log-spaced rounds in [1, n_rounds] (1-based), always including both ends."""
    pts = np.unique(np.round(np.logspace(0, np.log10(n_rounds), n_points)).astype(int))
    return np.unique(np.concatenate([pts, [n_rounds]]))


def largest_divisor(n: int, at_most: int) -> int:
    for d in range(max(1, min(n, at_most)), 0, -1):
        if n % d == 0:
            return d
    return 1


VECTOR_LANES = 8  # lanes per SIMD register (float32, AVX2); group sizes are multiples


def padded_seeds(n_seeds: int, n_grid: int, n_devices: int, group_lanes: int) -> int:
    """Seeds per grid point after padding, so that lanes split into aligned groups.

    Each device gets the same number of lanes, a multiple of ``group_lanes`` when it has
    more than that (it then advances them ``group_lanes`` at a time) and a multiple of
    :data:`VECTOR_LANES` otherwise, so no group ends in a partial SIMD vector. Padded
    seeds are real, independent seeds whose results are dropped; a seed's numbers never
    depend on the padding.
    """
    s = n_seeds
    while True:
        lanes, rem = divmod(n_grid * s, n_devices)
        unit = group_lanes if lanes > group_lanes else VECTOR_LANES
        if rem == 0 and lanes % unit == 0:
            return s
        s += 1


@dataclass(frozen=True)
class Plan:
    block: int  # rounds whose random numbers are drawn together
    chunk: int  # rounds per call of the compiled chunk (a multiple of ``block``)
    n_chunks: int


def make_plan(n_rounds: int, lanes_per_device: int, chunk_rounds: int | None = None,
              block_rounds: int | None = None, record: int = 0,
              n_lanes: int = 1) -> Plan:
    """Chooses block and chunk lengths that divide ``n_rounds``.

    Blocks hold about 2^17 lane-rounds per device, between 16 and 64 rounds (so their
    random numbers stay in cache; measured best for LinUCB at 1,000 and 10,000 seeds);
    chunks hold at most 2^24 lane-rounds of output (2^24 floats when ``record`` floats
    per lane-round are recorded as trajectories) and at least 1/16 of the horizon, for a
    progress bar.
    """
    target_block = block_rounds or max(16, min(64, 2**17 // max(lanes_per_device, 1)))
    block = largest_divisor(n_rounds, target_block)
    blocks = n_rounds // block
    budget = 2**24 // max(record, 1) // max(n_lanes, 1)
    target = chunk_rounds or max(block, min(max(n_rounds // 16, block), budget))
    per_chunk = largest_divisor(blocks, max(1, target // block))
    return Plan(block, block * per_chunk, blocks // per_chunk)


# --------------------------------------------------------------------------- result


@dataclass
class Rollout:
    """What a rollout returns. Arrays are NumPy; ``G`` grid points, ``S`` seeds.

    Attributes:
        rounds: (T,) round numbers 1..T.
        mean_regret: (G, T) mean over seeds of cumulative expected regret after round t.
        std_regret: (G, T) its standard deviation over seeds.
        checkpoints: (C,) the rounds at which every seed's value is kept.
        seed_regret: (G, S, C) cumulative regret of every seed at the checkpoints.
        total_reward: (G, S) realised reward summed over the run.
        trajectories: per-seed (G, S, T) ``action``, ``reward``, ``propensity`` and
            ``regret`` (instantaneous expected regret), when recorded.
        grid: the hyperparameter values of each grid point, ``{name: (G,)}``.
        final_state: the policy state after the last round, leaves (G, S, ...): a
            trained policy, e.g. to evaluate off-policy.
        compile_s: wall time before the first round: compiling the chunk program, and
            compiling and running the per-lane set-up program (``setup_s`` of it).
        run_s: wall time of running the rounds (what ``agent_rounds_per_s`` divides by).
        setup_s: the set-up program's part of ``compile_s``.
        wall_s: wall time of the whole :func:`simulate` call; beyond ``compile_s +
            run_s`` it holds only argument checks and gathering the results.
    """

    policy: str
    env: str
    n_seeds: int
    rounds: np.ndarray
    mean_regret: np.ndarray
    std_regret: np.ndarray
    checkpoints: np.ndarray
    seed_regret: np.ndarray
    total_reward: np.ndarray
    grid: dict[str, np.ndarray]
    compile_s: float
    run_s: float
    setup_s: float
    wall_s: float
    plan: Plan
    n_devices: int
    trajectories: dict[str, np.ndarray] | None = None
    final_state: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def final_regret(self) -> np.ndarray:
        """(G, S) cumulative regret of every seed after the last round."""
        return self.seed_regret[:, :, -1]

    def quantiles(self, q) -> np.ndarray:
        """(len(q), G, C) quantiles across seeds of cumulative regret at checkpoints."""
        return np.quantile(self.seed_regret, np.asarray(q), axis=1)

    def agent_rounds_per_s(self) -> float:
        g = self.mean_regret.shape[0]
        return g * self.n_seeds * len(self.rounds) / self.run_s


# --------------------------------------------------------------------------- engine


def _round_keys(streams, t):
    """Per lane: the words of round ``t``'s three keys (context, reward noise, policy)."""
    data = [jax.random.key_data(jax.random.fold_in(streams[i], t)) for i in range(3)]
    return tuple(d[..., j] for d in data for j in range(d.shape[-1]))


def _round_draws(policy: Policy, env: World, impl):
    """Per lane: everything random about one round, from the words of its three keys."""

    def draw(pparams, eparams, estate, words):
        n = len(words) // 3
        kc, kr, kp = (jax.random.wrap_key_data(jnp.stack(words[i * n:(i + 1) * n], -1),
                                               impl=impl) for i in range(3))
        context, mask = env.sample_context(kc, eparams, estate)
        return {
            "context": context,
            "mask": mask,
            "reward_noise": env.draw_reward_noise(kr, eparams, estate),
            "noise": policy.draw(pparams, kp),
        }

    return draw


def _step(policy: Policy, env: World, record_logs: bool = False):
    """Per lane: one round given its pre-drawn random numbers.

    Mean rewards are computed here rather than with the draws: XLA fuses a freshly
    drawn context into each of its consumers and would regenerate it once per arm.
    """
    arms = jnp.arange(policy.n_arms)

    def step(pparams, eparams, estate, pstate, d):
        mu = env.mean_rewards(eparams, estate, d["context"])
        dec = policy.decide(pparams, pstate, d["noise"], d["context"], d["mask"])
        chosen = arms == dec.action
        played = jnp.sum(jnp.where(chosen, mu, 0.0))
        reward = env.realise(eparams, played, d["reward_noise"])
        regret = jnp.max(jnp.where(d["mask"], mu, -jnp.inf)) - played
        prop = jnp.sum(jnp.where(chosen, dec.probs, 0.0))
        pstate = policy.update(pparams, pstate, d["context"], dec.action, reward)
        out = (regret, reward, dec.action, prop)
        if record_logs:  # one flat vector per lane: context, mask, probs, mean rewards
            f32 = jnp.float32
            out = out + (jnp.concatenate([d["context"].astype(f32), d["mask"].astype(f32),
                                          dec.probs.astype(f32), mu.astype(f32)]),)
        return pstate, out

    return step


class _Layout:
    """Where the lane axis lives: last (``lanes``) or first (``vmap``)."""

    def __init__(self, kind: str):
        if kind not in ("lanes", "vmap"):
            raise ValueError(f"layout must be 'lanes' or 'vmap', got {kind!r}")
        self.kind = kind

    def bmap(self, fn: Callable, batched: tuple[bool, ...], out_axis: int = 0):
        if self.kind == "lanes":
            return lane_vmap(fn, tuple(-1 if b else None for b in batched))
        return jax.vmap(fn, in_axes=tuple(0 if b else None for b in batched),
                        out_axes=out_axis)

    def spec(self, x) -> P:
        nd = np.ndim(x)
        if self.kind == "lanes":
            return P(*([None] * (nd - 1)), LANE)
        return P(LANE)

    def split_groups(self, n_groups: int):
        """(..., L) -> (groups, ..., L / groups) for the lane axis of this layout."""
        def split(x):
            if self.kind == "lanes":
                x = x.reshape(x.shape[:-1] + (n_groups, x.shape[-1] // n_groups))
                return jnp.moveaxis(x, -2, 0)
            return x.reshape((n_groups, x.shape[0] // n_groups) + x.shape[1:])
        return split

    def merge_groups(self, x):
        if self.kind == "lanes":
            x = jnp.moveaxis(x, 0, -2)
            return x.reshape(x.shape[:-2] + (-1,))
        return x.reshape((-1,) + x.shape[2:])

    def lanes_from_front(self, x):
        return jnp.moveaxis(x, 0, -1) if self.kind == "lanes" else x


def _tree_spec(layout: _Layout, tree):
    return jax.tree_util.tree_map(layout.spec, tree)


def _setup_lanes(policy: Policy, env: World, params, root, seed_idx: np.ndarray,
                 grid_idx: np.ndarray, env_params, fixed_world: bool, mesh: Mesh,
                 lay: _Layout):
    """Every lane's params, world instance, world state, policy state and round streams.

    ``seed_idx`` and ``grid_idx`` are (L,) per lane. Returns ``(pparams, eparams,
    estate, pstate, streams)`` with the lane axis where ``lay`` keeps it, sharded over
    ``mesh``; blocks until they are ready, so the caller can time the set-up program.
    """

    def setup(s, g):
        k = jax.random.fold_in(root, s)
        if env_params is not None:
            ep = env_params
        else:
            k_world = jax.random.fold_in(jax.random.fold_in(root, 0) if fixed_world else k, 0)
            ep = env.sample_params(k_world)
        pp = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[g], params)
        return (pp, ep, env.init_state(ep, jax.random.fold_in(k, 2)),
                policy.init(pp, jax.random.fold_in(k, 1)),
                jax.random.split(jax.random.fold_in(k, 3), 3))

    @jax.jit
    def setup_all(s, g):
        out = jax.vmap(setup)(s, g)
        return jax.tree_util.tree_map(lay.lanes_from_front, out)

    placed = jax.tree_util.tree_map(
        lambda x: jax.device_put(x, NamedSharding(mesh, lay.spec(x))),
        setup_all(seed_idx, grid_idx))
    return jax.block_until_ready(placed)


def simulate(
    policy: Policy,
    env: World,
    *,
    n_rounds: int,
    n_seeds: int,
    seed: int = 0,
    policy_params: Any = None,
    env_params: Any = None,
    fixed_world: bool = False,
    n_checkpoints: int = 60,
    record: str = "curves",
    first_seed: int = 0,
    chunk_rounds: int | None = None,
    block_rounds: int | None = None,
    layout: str = "lanes",
    devices: list | None = None,
    group_lanes: int = 64,
    progress: bool | Callable[[int, int], None] = False,
) -> Rollout:
    """Runs ``n_seeds`` independent simulations of ``n_rounds`` rounds.

    Args:
        policy: a :class:`bandits.Policy`.
        env: a world from :mod:`envs`.
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
        record: what leaves the device besides the curves: ``"curves"`` (nothing
            else), ``"trajectories"`` (per-seed actions, rewards, propensities and
            regrets for every round, memory O(G·S·T)) or ``"logs"`` (the trajectories and
            what a logged dataset holds: every round's context, eligible mask, the
            policy's action probabilities and the true mean rewards, memory
            O(G·S·T·(d + 3K)); see :meth:`envs.data.logged.LoggedData.from_rollout`).
        first_seed: seeds are ``first_seed, first_seed + 1, ...``, so a large set of
            seeds can run in batches with the same numbers as in one run.
        chunk_rounds, block_rounds: override the automatic plan (:func:`make_plan`).
        layout: ``"lanes"`` (simulations on the last axis, fast) or ``"vmap"``
            (``jax.vmap``'s layout, for comparison).
        devices: devices to split the lanes over (default: all local devices).
        group_lanes: at most this many lanes of a device advance together; a device's
            lanes are processed in groups so each group's state stays in the core's L2
            cache (LinUCB's state is ~2.2 KB a lane at K=5, d=10).
        progress: ``True`` for a tqdm bar, or a callback ``(rounds_done, n_rounds)``.
    """
    t_call = time.perf_counter()
    if not isinstance(n_rounds, (int, np.integer)) or n_rounds < 1:
        raise ValueError(f"n_rounds must be an integer >= 1, got {n_rounds!r}")
    if not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an integer >= 1, got {n_seeds!r}")
    if policy.n_arms != env.n_arms or policy.dim != env.dim:
        raise ValueError(f"policy is built for n_arms={policy.n_arms}, dim={policy.dim} "
                         f"but env has n_arms={env.n_arms}, dim={env.dim}")
    if not isinstance(first_seed, (int, np.integer)) or first_seed < 0:
        raise ValueError(f"first_seed must be an integer >= 0, got {first_seed!r}")
    if record not in RECORDS:
        raise ValueError(f"record must be one of {', '.join(RECORDS)}, got {record!r}")
    record_logs = record == "logs"
    record_trajectories = record != "curves"
    lay = _Layout(layout)
    params = policy.default_params if policy_params is None else policy_params
    params, grid, n_grid = _grid(params)

    devices = list(devices or jax.local_devices())
    n_dev = len(devices)
    s_pad = padded_seeds(n_seeds, n_grid, n_dev, group_lanes)
    n_lanes = n_grid * s_pad
    lanes_per_dev = n_lanes // n_dev
    n_groups = max(1, lanes_per_dev // group_lanes)
    floats = recorded_floats(record, env.n_arms, env.dim)
    plan = make_plan(n_rounds, lanes_per_dev // n_groups, chunk_rounds, block_rounds,
                     floats, n_lanes)
    mesh = Mesh(np.array(devices), (LANE,))

    root = jax.random.key(seed)
    seed_idx = np.tile(first_seed + np.arange(s_pad), n_grid)
    grid_idx = np.repeat(np.arange(n_grid), s_pad)
    t_setup = time.perf_counter()
    pparams, eparams, estate, pstate, streams = _setup_lanes(
        policy, env, params, root, seed_idx, grid_idx, env_params, fixed_world, mesh, lay)
    setup_s = time.perf_counter() - t_setup

    # A block's keys are derived one block ahead and carried into its draws: a carried
    # array is stored, whereas a key derived beside its draws is fused into them and
    # re-derived once per number drawn (XLA:CPU drops optimization barriers).
    block_keys = lay.bmap(
        lambda st, ts: jax.vmap(_round_keys, in_axes=(None, 0))(st, ts), (True, False))
    draw_round = _round_draws(policy, env, jax.random.key_impl(root))
    draw_block = lay.bmap(
        lambda pp, ep, es, words: jax.vmap(draw_round, in_axes=(None, None, None, 0))(
            pp, ep, es, words),
        (True, True, True, True), out_axis=1)
    step = lay.bmap(_step(policy, env, record_logs), (True, True, True, True, True))
    n_blocks = plan.chunk // plan.block

    def run_group(pparams, eparams, estate, streams, pstate, cum_regret, cum_reward, t0):
        rounds = jnp.arange(plan.block, dtype=jnp.int32)

        def block(carry, b):
            pstate, cum_regret, cum_reward, words = carry
            draws = draw_block(pparams, eparams, estate, words)
            words = block_keys(streams, t0 + (b + 1) * plan.block + rounds)

            def one(carry, d):
                pstate, cum_regret, cum_reward = carry
                pstate, (regret, reward, action, prop, *logged) = step(pparams, eparams,
                                                                       estate, pstate, d)
                cum_regret = cum_regret + regret
                cum_reward = cum_reward + reward
                ys = (cum_regret,)
                if record_trajectories:
                    ys = ys + (action, reward, prop, regret)
                if record_logs:  # (F, lanes) in both layouts
                    ys = ys + (logged[0] if lay.kind == "lanes" else logged[0].T,)
                return (pstate, cum_regret, cum_reward), ys

            (pstate, cum_regret, cum_reward), ys = jax.lax.scan(
                one, (pstate, cum_regret, cum_reward), draws)
            return (pstate, cum_regret, cum_reward, words), ys

        first = block_keys(streams, t0 + rounds)
        (pstate, cum_regret, cum_reward, _), ys = jax.lax.scan(
            block, (pstate, cum_regret, cum_reward, first), jnp.arange(n_blocks))
        carry = (pstate, cum_regret, cum_reward)
        ys = jax.tree_util.tree_map(lambda y: y.reshape((plan.chunk,) + y.shape[2:]), ys)
        return carry, ys

    def body(*lane_arrays_and_t0):
        """One device's lanes, in groups small enough for their state to stay in cache."""
        *lanes, t0 = lane_arrays_and_t0
        if n_groups == 1:
            return run_group(*lanes, t0)
        lanes = jax.tree_util.tree_map(lay.split_groups(n_groups), lanes)
        carry, ys = jax.lax.map(lambda g: run_group(*g, t0), lanes)
        carry = jax.tree_util.tree_map(lay.merge_groups, carry)
        def merge(y):  # (groups, chunk, ..., lanes per group) -> (chunk, ..., lanes)
            y = jnp.moveaxis(y, 0, -2)
            return y.reshape(y.shape[:-2] + (-1,))

        ys = jax.tree_util.tree_map(merge, ys)
        return carry, ys

    # lane-batched leaves of ys are (chunk, L) in both layouts; logs are (chunk, F, L)
    def chunk_fn(lane_args, pstate, cum_regret, cum_reward, t0, ckpt_local):
        in_specs = (_tree_spec(lay, lane_args), _tree_spec(lay, pstate), P(LANE),
                    P(LANE), P())
        n_ys = 5 if record_trajectories else 1
        ys_specs = tuple(P(None, LANE) for _ in range(n_ys))
        if record_logs:
            ys_specs = ys_specs + (P(None, None, LANE),)
        out_specs = ((_tree_spec(lay, pstate), P(LANE), P(LANE)), ys_specs)
        f = jax.shard_map(lambda la, ps, cr, cw, t: body(*la, ps, cr, cw, t),
                          mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                          check_vma=False)
        carry, ys = f(lane_args, pstate, cum_regret, cum_reward, t0)
        cum = ys[0].reshape(plan.chunk, n_grid, s_pad)[:, :, :n_seeds]
        stats = (jnp.mean(cum, -1), jnp.std(cum, -1, ddof=1 if n_seeds > 1 else 0))
        at_ckpt = jnp.take(ys[0], ckpt_local, axis=0)
        return carry, stats, at_ckpt, ys[1:]

    lane_args = (pparams, eparams, estate, streams)
    cum_regret, cum_reward = (
        jax.device_put(jnp.zeros(n_lanes, jnp.float32), NamedSharding(mesh, P(LANE)))
        for _ in range(2))
    ckpts = log_checkpoints(n_rounds, n_checkpoints)
    n_ck = len(ckpts)

    def local_ckpts(t0):
        sel = (ckpts > t0) & (ckpts <= t0 + plan.chunk)
        idx = np.zeros(n_ck, np.int32)
        idx[: sel.sum()] = ckpts[sel] - t0 - 1
        return idx, sel

    compiled = jax.jit(chunk_fn, donate_argnums=(1, 2, 3)).lower(
        lane_args, pstate, cum_regret, cum_reward, np.int32(0), local_ckpts(0)[0]
    ).compile()
    compile_s = time.perf_counter() - t_setup

    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rounds, unit="round", desc=f"{policy.name}")
    means, stds, seed_ck, traj = [], [], np.zeros((n_lanes, n_ck), np.float32), []
    t_run = time.perf_counter()

    def launch(c, carry):  # asynchronous: returns before the chunk has run
        return compiled(lane_args, *carry, np.int32(c * plan.chunk),
                        local_ckpts(c * plan.chunk)[0])

    pending = launch(0, (pstate, cum_regret, cum_reward))
    for c in range(plan.n_chunks):
        t0 = c * plan.chunk
        sel = local_ckpts(t0)[1]
        (pstate, cum_regret, cum_reward), (m, s), at_ck, ys = pending
        if c + 1 < plan.n_chunks:  # queue the next chunk before reading this one's output
            pending = launch(c + 1, (pstate, cum_regret, cum_reward))
        means.append(np.asarray(m))
        stds.append(np.asarray(s))
        if sel.any():
            seed_ck[:, sel] = np.asarray(at_ck)[: sel.sum()].T
        if record_trajectories:
            traj.append([np.asarray(y) for y in ys])
        if bar is not None:
            bar.update(plan.chunk)
        elif callable(progress):
            progress(t0 + plan.chunk, n_rounds)
    cum_reward = np.asarray(cum_reward)
    run_s = time.perf_counter() - t_run
    if bar is not None:
        bar.close()

    def per_seed(x):  # (..., L) -> (G, S, ...)
        x = np.moveaxis(np.asarray(x), -1, 0).reshape((n_grid, s_pad) + x.shape[:-1])
        return x[:, :n_seeds]

    def lanes_last(x):
        x = np.asarray(x)
        return x if lay.kind == "lanes" else np.moveaxis(x, 0, -1)

    final_state = jax.tree_util.tree_map(lambda x: per_seed(lanes_last(x)), pstate)
    trajectories = None
    if record_trajectories:
        names = ("action", "reward", "propensity", "regret")
        trajectories = {n: per_seed(np.concatenate([t[i] for t in traj]))
                        for i, n in enumerate(names)}
        if record_logs:
            flat = per_seed(np.concatenate([t[4] for t in traj]))  # (G, S, T, F)
            k, d = env.n_arms, env.dim
            trajectories.update(context=flat[..., :d], mask=flat[..., d:d + k] > 0.5,
                                action_dist=flat[..., d + k:d + 2 * k],
                                expected_reward=flat[..., d + 2 * k:])
    return Rollout(
        policy=policy.name, env=env.name, n_seeds=n_seeds,
        rounds=np.arange(1, n_rounds + 1),
        mean_regret=np.concatenate(means, 0).T, std_regret=np.concatenate(stds, 0).T,
        checkpoints=ckpts, seed_regret=per_seed(seed_ck.T),
        total_reward=per_seed(cum_reward), grid=grid, compile_s=compile_s, run_s=run_s,
        setup_s=setup_s, wall_s=time.perf_counter() - t_call, plan=plan, n_devices=n_dev,
        trajectories=trajectories, final_state=final_state)


def _grid(params):
    """Broadcasts a params pytree to a leading grid axis; returns (params, grid, G)."""
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
