"""Neural policies at 1,000 seeds through the public API, against one network per seed
trained in a loop (a jitted JAX program, and PyTorch as the papers' reference
implementations run), and the training step's achieved FLOP/s.

    python scripts/bench_neural.py                    # the wheel (δ = 0.95), 1,000 seeds
    python scripts/bench_neural.py --policies neural_ucb --seeds 1000 --rounds 2000
    python scripts/bench_neural.py --torch-seeds 5    # also the PyTorch loop (5 seeds)

For each policy (hidden width 100, training every 10 rounds, 20 Adam steps of 64):

* **bandax**: ``simulate(policy, wheel, n_seeds=S, n_rounds=T)``, the median run time of
  ``--repeat`` calls (each compiles, then runs; compile time reported apart), as
  agent-rounds/s;
* **one seed at a time**: the same policy and world as a jitted JAX program of one seed
  (a ``lax.scan`` over rounds that decides, learns and trains when due, with no vmap),
  compiled once and called in a Python loop over ``--loop-seeds`` seeds: its median
  seconds per seed, times S, is what S seeds take that way (one network per seed,
  trained in a loop);
* **PyTorch, one seed at a time** (``--torch-seeds N`` > 0, with ``torch`` installed:
  ``pip install torch==2.13.0``): the same algorithms, settings and defaults in PyTorch,
  one network per seed and a Python loop over rounds (:mod:`torch_neural`), timed over N
  seeds one after another: its median seconds per seed, times S, and bandax's speed-up
  against it, beside the JAX loop's;
* **training**: the policy's ``train`` for S lanes with full buffers, as the engine runs
  it (lanes split over the host devices, 8 at a time on each: ``TRAIN_LANES``), jitted:
  the median seconds of one training of all S seeds and its FLOP/s against
  ``--peak-gflops`` (this machine's float32 peak, 2 cores). FLOPs are multiply-adds × 2
  of the optimiser steps' forward and backward passes (3 × a forward pass,
  :func:`bandits.neural.training.training_flops`), plus NeuralLinear's refresh on the
  whole buffer (features, ΦᵀΦ, Φᵀr and a Gauss–Jordan inverse).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import envs  # noqa: F401  (XLA flags before JAX starts)
from bandits.base import learned
from bandits.neural import neural_eps_greedy, neural_linear, neural_ts, neural_ucb
from bandits.neural.training import training_flops
from envs.engine import simulate
from envs.engine.chunk import TRAIN_LANES
from envs.engine.layout import LANE, Layout
from envs.worlds import registry

POLICIES = {"neural_eps_greedy": neural_eps_greedy, "neural_linear": neural_linear,
            "neural_ucb": neural_ucb, "neural_ts": neural_ts}
SETTINGS = dict(hidden=100, train_every=10, n_steps=20, batch=64, buffer=2000)


def bandax_row(policy, world, seeds: int, rounds: int, repeat: int) -> dict:
    runs = [simulate(policy, world, n_rounds=rounds, n_seeds=seeds) for _ in range(repeat)]
    run_s = float(np.median([r.run_s for r in runs]))
    return {"compile_s": float(np.median([r.compile_s for r in runs])), "run_s": run_s,
            "agent_rounds_per_s": seeds * rounds / run_s}


def one_seed_program(policy, world, rounds: int):
    """A jitted rollout of one seed, as a user of JAX without vmap writes it: a scan over
    rounds (context, decision, reward, update, a training when due), returning the
    cumulative regret."""
    def rollout(key):
        k_world, k_policy, k_rounds = jax.random.split(key, 3)
        eparams = world.sample_params(k_world)
        state = policy.init(policy.default_params, k_policy)

        def round_(state, xs):
            t, k = xs
            kc, kn, kr = jax.random.split(k, 3)
            context, mask = world.sample_context(kc, eparams, ())
            decision, state = policy.serve(policy.default_params, state, kn, context, mask)
            mean = world.mean_rewards(eparams, (), context)
            reward = world.realise(eparams, mean[decision.action],
                                   world.draw_reward_noise(kr, eparams, ()))
            state = learned(policy, policy.default_params, state, context, decision.action,
                            reward, t + 1)
            return state, jnp.max(jnp.where(mask, mean, -jnp.inf)) - mean[decision.action]

        xs = (jnp.arange(rounds), jax.random.split(k_rounds, rounds))
        _, regret = jax.lax.scan(round_, state, xs)
        return jnp.sum(regret)

    return jax.jit(rollout)


def loop_row(policy, world, seeds: int, rounds: int, loop_seeds: int) -> dict:
    """One seed per call of a program compiled once: seconds per seed, and S seeds at
    that rate."""
    program = one_seed_program(policy, world, rounds)
    t = time.perf_counter()
    jax.block_until_ready(program(jax.random.key(0)))
    compile_s = time.perf_counter() - t
    per_seed = []
    for s in range(loop_seeds):
        t = time.perf_counter()
        jax.block_until_ready(program(jax.random.key(s)))
        per_seed.append(time.perf_counter() - t)
    seconds = float(np.median(per_seed))
    return {"compile_s": compile_s, "seconds_per_seed": seconds,
            "run_s_for_all_seeds": seconds * seeds, "agent_rounds_per_s": rounds / seconds}


def _full_states(policy, seeds: int):
    """``seeds`` fresh states whose buffers are full of random observations."""
    keys = jax.random.split(jax.random.key(0), seeds)
    states = jax.vmap(policy.init, (None, 0))(policy.default_params, keys)
    n, width = states.buffer.inputs.shape[1:]
    return states._replace(buffer=states.buffer._replace(
        inputs=jax.random.normal(jax.random.key(1), (seeds, n, width)),
        action=jax.random.randint(jax.random.key(2), (seeds, n), 0, policy.n_arms),
        reward=jax.random.normal(jax.random.key(3), (seeds, n)),
        count=jnp.full((seeds,), n, jnp.int32)))


def engine_training(policy):
    """One training of every lane as the engine runs it: lanes split over the host
    devices, :data:`envs.engine.chunk.TRAIN_LANES` at a time on each (jitted)."""
    mesh = Mesh(np.array(jax.devices()), (LANE,))
    lanes = Layout("vmap").lane_map(policy.train, TRAIN_LANES)
    return jax.jit(jax.shard_map(lanes, mesh=mesh, in_specs=(P(LANE), P(LANE)),
                                 out_specs=P(LANE)))


def training_flops_of(name: str, world) -> int:
    """FLOPs of one lane's training: the optimiser steps, and for NeuralLinear the
    refresh on the whole buffer (features, ΦᵀΦ and Φᵀr, a Gauss–Jordan inverse)."""
    k, h, n = world.n_arms * world.dim, SETTINGS["hidden"], SETTINGS["buffer"]
    flops = training_flops((k, h, 1), SETTINGS["n_steps"], SETTINGS["batch"])
    if name == "neural_linear":
        flops += 2 * n * k * h + 2 * n * h * h + 2 * n * h + 2 * h ** 3
    return flops


def training_row(name: str, world, seeds: int, repeat: int, peak_gflops: float) -> dict:
    """One training of all ``seeds`` lanes (full buffers) as the engine runs it: median
    seconds of ``repeat`` runs after a compiling one, and its FLOP/s."""
    policy = POLICIES[name](world.n_arms, world.dim, **SETTINGS)
    train = engine_training(policy)
    params = jax.tree_util.tree_map(lambda v: jnp.full((seeds,), v, jnp.float32),
                                    policy.default_params)
    args = jax.device_put((params, _full_states(policy, seeds)),
                          NamedSharding(Mesh(np.array(jax.devices()), (LANE,)), P(LANE)))
    t = time.perf_counter()
    jax.block_until_ready(train(*args))
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(train(*args))
        times.append(time.perf_counter() - t)
    seconds = float(np.median(times))
    gflops = training_flops_of(name, world) * seeds / seconds / 1e9
    return {"compile_s": compile_s, "seconds": seconds, "gflops": gflops,
            "share_of_peak": gflops / peak_gflops, "devices": jax.device_count()}


def policy_row(name: str, world, args, torch_loop) -> dict:
    """bandax, the JAX loop, the PyTorch loop (when ``torch_loop``) and the trainings for
    policy ``name``, with the speed-ups."""
    policy = POLICIES[name](world.n_arms, world.dim, **SETTINGS)
    bandax = bandax_row(policy, world, args.seeds, args.rounds, args.repeat)
    row = {"policy": name, "bandax": bandax,
           "loop": loop_row(policy, world, args.seeds, args.rounds, args.loop_seeds),
           "training": training_row(name, world, args.seeds, max(args.repeat, 5),
                                    args.peak_gflops)}
    row["speedup"] = row["loop"]["run_s_for_all_seeds"] / bandax["run_s"]
    if torch_loop is not None:
        row["torch"] = torch_loop.torch_loop_row(name, args.seeds, args.rounds,
                                                 args.torch_seeds, SETTINGS, world)
        row["speedup_torch"] = row["torch"]["run_s_for_all_seeds"] / bandax["run_s"]
    return row


def torch_baseline(seeds: int):
    """The module :mod:`torch_neural` when ``seeds`` > 0 and PyTorch is installed; else
    ``None``, with a one-line note when PyTorch is missing."""
    if seeds <= 0:
        return None
    try:
        import torch_neural
    except ImportError as error:
        if error.name != "torch":
            raise
        print("PyTorch baseline skipped: torch is not installed "
              "(pip install torch==2.13.0)", flush=True)
        return None
    return torch_neural


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", default="neural_eps_greedy,neural_ucb,neural_linear")
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--loop-seeds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--torch-seeds", type=int, default=0,
                        help="seeds of the PyTorch loop baseline (0: skip it)")
    parser.add_argument("--peak-gflops", type=float, default=180.0)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    if args.torch_seeds < 0:
        parser.error(f"--torch-seeds must be >= 0, got {args.torch_seeds}")
    torch_loop = torch_baseline(args.torch_seeds)
    world = registry.make("wheel", delta=0.95)
    torch_note = "" if torch_loop is None else (
        f"; PyTorch loop over {args.torch_seeds} seeds "
        f"({torch_loop.torch.get_num_threads()} threads)")
    print(f"wheel (δ = 0.95), {args.seeds:,} seeds × {args.rounds:,} rounds; one-seed JAX "
          f"loop over {args.loop_seeds} seeds{torch_note}; medians of {args.repeat} runs\n\n"
          + HEADER, flush=True)
    rows = []
    for name in args.policies.split(","):
        rows.append(policy_row(name, world, args, torch_loop))
        print(_line(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


HEADER = ("| policy | bandax agent-rounds/s | compile s "
          "| one seed at a time (JAX, jitted), agent-rounds/s | speed-up vs JAX loop "
          "| one seed at a time (PyTorch), agent-rounds/s | speed-up vs PyTorch loop "
          "| one training, all seeds | training GFLOP/s (share of peak) |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def _line(row: dict) -> str:
    """The markdown row of ``row``: "–" in the PyTorch cells when that baseline did not
    run."""
    b, loop, tr = row["bandax"], row["loop"], row["training"]
    torch_cells = "– | –" if "torch" not in row else (
        f"{row['torch']['agent_rounds_per_s']:,.0f} | {row['speedup_torch']:.0f}×")
    return (f"| {row['policy']} | {b['agent_rounds_per_s']:,.0f} | {b['compile_s']:.1f} | "
            f"{loop['agent_rounds_per_s']:,.0f} | {row['speedup']:.1f}× | {torch_cells} | "
            f"{tr['seconds'] * 1e3:.1f} ms | {tr['gflops']:.1f} ({tr['share_of_peak']:.0%}) |")


if __name__ == "__main__":
    main()
