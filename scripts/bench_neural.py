"""Neural policies at 1,000 seeds through the public API, against one network per seed
trained in a loop, and the training step's achieved FLOP/s.

    python scripts/bench_neural.py                    # the wheel (δ = 0.95), 1,000 seeds
    python scripts/bench_neural.py --policies neural_ucb --seeds 1000 --rounds 2000

For each policy (hidden width 100, training every 10 rounds, 20 Adam steps of 64):

* **bandax**: ``simulate(policy, wheel, n_seeds=S, n_rounds=T)``, the median run time of
  ``--repeat`` calls (each compiles, then runs; compile time reported apart), as
  agent-rounds/s;
* **one seed at a time**: the same policy and world as a jitted JAX program of one seed
  (a ``lax.scan`` over rounds that decides, learns and trains when due, with no vmap),
  compiled once and called in a Python loop over ``--loop-seeds`` seeds: its median
  seconds per seed, times S, is what S seeds take that way (one network per seed,
  trained in a loop);
* **training**: the policy's ``train`` alone, jitted, for S lanes with full buffers:
  the median seconds per training and its FLOP/s (multiply-adds × 2 of forward and
  backward passes, 3 × a forward pass, :func:`bandits.neural.training.training_flops`)
  against ``--peak-gflops`` (this machine's float32 peak, 2 cores).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import envs  # noqa: F401  (XLA flags before JAX starts)
from bandits.base import learned
from bandits.neural import neural_eps_greedy, neural_linear, neural_ts, neural_ucb
from bandits.neural.training import training_flops
from envs.engine import simulate
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
    buf = states.buffer
    n, width = buf.inputs.shape[1:]
    filled = buf._replace(
        inputs=jax.random.normal(jax.random.key(1), (seeds, n, width)),
        action=jax.random.randint(jax.random.key(2), (seeds, n), 0, policy.n_arms),
        reward=jax.random.normal(jax.random.key(3), (seeds, n)),
        count=jnp.full((seeds,), n, jnp.int32))
    return states._replace(buffer=filled)


def training_row(policy, sizes, seeds: int, repeat: int, peak_gflops: float) -> dict:
    states = _full_states(policy, seeds)
    train = jax.jit(jax.vmap(policy.train, (None, 0)))
    t = time.perf_counter()
    jax.block_until_ready(train(policy.default_params, states))
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(train(policy.default_params, states))
        times.append(time.perf_counter() - t)
    seconds = float(np.median(times))
    flops = training_flops(sizes, SETTINGS["n_steps"], SETTINGS["batch"]) * seeds
    return {"compile_s": compile_s, "seconds": seconds, "gflops": flops / seconds / 1e9,
            "share_of_peak": flops / seconds / 1e9 / peak_gflops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", default="neural_eps_greedy,neural_ucb,neural_linear")
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--loop-seeds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peak-gflops", type=float, default=180.0)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    world = registry.make("wheel", delta=0.95)
    print(f"wheel (δ = 0.95), {args.seeds:,} seeds × {args.rounds:,} rounds; one-seed loop "
          f"over {args.loop_seeds} seeds; medians of {args.repeat} runs\n\n" + HEADER,
          flush=True)
    rows = []
    for name in args.policies.split(","):
        policy = POLICIES[name](world.n_arms, world.dim, **SETTINGS)
        sizes = (world.n_arms * world.dim, SETTINGS["hidden"], 1)
        row = {"policy": name, "bandax": bandax_row(policy, world, args.seeds, args.rounds,
                                                    args.repeat),
               "loop": loop_row(policy, world, args.seeds, args.rounds, args.loop_seeds),
               "training": training_row(policy, sizes, args.seeds, args.repeat,
                                        args.peak_gflops)}
        row["speedup"] = row["loop"]["run_s_for_all_seeds"] / row["bandax"]["run_s"]
        rows.append(row)
        print(_line(row, args), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


HEADER = ("| policy | bandax agent-rounds/s | compile s | one seed at a time, agent-rounds/s "
          "| speed-up | one training, all seeds | training GFLOP/s (share of peak) |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def _line(row: dict, args) -> str:
    b, loop, tr = row["bandax"], row["loop"], row["training"]
    return (f"| {row['policy']} | {b['agent_rounds_per_s']:,.0f} | {b['compile_s']:.1f} | "
            f"{loop['agent_rounds_per_s']:,.0f} | {row['speedup']:.0f}× | "
            f"{tr['seconds'] * 1e3:.1f} ms | {tr['gflops']:.1f} ({tr['share_of_peak']:.0%}) |")


if __name__ == "__main__":
    main()
