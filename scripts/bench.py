"""Throughput of the rollout engine against NumPy, vectorised over seeds and one seed at a time.

    python scripts/bench.py            # LinUCB and linear TS, 1 / 100 / 1,000 / 10,000 seeds
    python scripts/bench.py --quick    # 1 / 100 / 1,000 seeds, no cache check
    python scripts/bench.py --device gpu --seeds 10000,100000,1000000   # on a GPU
    python scripts/bench.py --seeds 16 --rounds 200 --numpy-rounds 100 --repeat 1 \\
        --no-cache-check               # a smoke test

Every implementation simulates the same world (linear-Gaussian, K=5, d=10, each seed its
own θ) in this process. The headline baseline is NumPy vectorised over seeds and arms:
state arrays (S, K, d, d) and (S, K, d), one Python iteration per round doing every
seed's contexts, scores (einsum), argmax with random tie-break and Sherman–Morrison
update of the chosen arm (fancy indexing). It costs the same per round whatever the
round, so it runs fewer rounds (``--numpy-rounds``) and reports agent-rounds per second.
The textbook loop over the rounds of one seed is the second baseline. bandax runs
through the public API (``envs.engine.simulate``). Each figure is the median of
``--repeat`` runs (default 3) of the same configuration; compile time (bandax) and
set-up time (NumPy: allocating the state) are reported in their own column.
The NumPy baseline's final mean regret is printed beside bandax's at the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np  # noqa: E402

import bandits  # noqa: E402
import envs  # noqa: E402  (XLA flags before JAX starts)
from envs.engine import EngineOptions, simulate  # noqa: E402

K, D, T = 5, 10, 10_000
POLICIES = {"lin_ucb": "LinUCB", "lin_ts": "linear TS"}


def numpy_loop(kind: str, theta: np.ndarray, n_rounds: int, seed: int = 0,
               alpha: float = 1.0, v: float = 1.0) -> tuple[float, float]:
    """The textbook implementation: one Python iteration per round, arms vectorised."""
    rng = np.random.default_rng(seed)
    a_inv = np.stack([np.eye(D, dtype=np.float32)] * K)
    th = np.zeros((K, D), np.float32)
    regret = 0.0
    t0 = time.perf_counter()
    for _ in range(n_rounds):
        x = rng.standard_normal(D).astype(np.float32)
        x[0] = 1.0
        mu = theta @ x
        ax = a_inv @ x
        var = np.maximum(ax @ x, 0.0)
        mean = th @ x
        if kind == "lin_ucb":
            score = mean + alpha * np.sqrt(var)
        else:
            score = mean + v * np.sqrt(var) * rng.standard_normal(K)
        a = int(np.argmax(score))
        r = mu[a] + rng.standard_normal()
        g = 1.0 / (1.0 + var[a])
        th[a] += g * (r - mean[a]) * ax[a]
        a_inv[a] -= g * np.outer(ax[a], ax[a])
        regret += mu.max() - mu[a]
    return n_rounds / (time.perf_counter() - t0), regret


def numpy_vectorised(kind: str, n_seeds: int, n_rounds: int, seed: int = 0,
                     alpha: float = 1.0, v: float = 1.0) -> dict:
    """Every seed at once: one Python iteration per round over (S, K, ...) arrays.

    Returns the set-up and run wall times and every seed's cumulative expected regret.
    """
    f32 = np.float32
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n_seeds, K, D), dtype=f32) / f32(np.sqrt(D))
    a_inv = np.broadcast_to(np.eye(D, dtype=f32), (n_seeds, K, D, D)).copy()
    th = np.zeros((n_seeds, K, D), f32)
    regret = np.zeros(n_seeds)
    rows = np.arange(n_seeds)
    t1 = time.perf_counter()
    for _ in range(n_rounds):
        x = rng.standard_normal((n_seeds, D), dtype=f32)
        x[:, 0] = 1.0
        mu = np.einsum("skd,sd->sk", theta, x)
        ax = np.einsum("skde,se->skd", a_inv, x)
        var = np.maximum(np.einsum("skd,sd->sk", ax, x), 0.0)
        mean = np.einsum("skd,sd->sk", th, x)
        if kind == "lin_ucb":
            score = mean + alpha * np.sqrt(var)
        else:
            score = mean + v * np.sqrt(var) * rng.standard_normal((n_seeds, K), dtype=f32)
        # random tie-break: the tied maximum with the largest uniform
        is_max = score == score.max(1, keepdims=True)
        a = np.argmax(is_max * (1.0 + rng.random((n_seeds, K), dtype=f32)), 1)
        r = mu[rows, a] + rng.standard_normal(n_seeds, dtype=f32)
        g = 1.0 / (1.0 + var[rows, a])
        axa = ax[rows, a]
        th[rows, a] += (g * (r - mean[rows, a]))[:, None] * axa
        a_inv[rows, a] -= g[:, None, None] * axa[:, :, None] * axa[:, None, :]
        regret += mu.max(1) - mu[rows, a]
    return {"setup_s": t1 - t0, "run_s": time.perf_counter() - t1, "regret": regret}


def numpy_row(kind: str, n_seeds: int, n_rounds: int, repeat: int) -> dict:
    """The median of ``repeat`` runs of :func:`numpy_vectorised` (seeds 0..repeat−1)."""
    runs = [numpy_vectorised(kind, n_seeds, n_rounds, seed=i) for i in range(repeat)]
    run_s = float(np.median([r["run_s"] for r in runs]))
    reg = runs[0]["regret"]
    return {"impl": "NumPy vectorised", "seeds": n_seeds, "rounds": n_rounds,
            "setup_s": float(np.median([r["setup_s"] for r in runs])), "run_s": run_s,
            "run_s_all": [r["run_s"] for r in runs],
            "agent_rounds_per_s": n_seeds * n_rounds / run_s,
            "mean_final_regret": float(reg.mean()),
            "se_final_regret": float(reg.std(ddof=1) / np.sqrt(n_seeds)) if n_seeds > 1 else 0.0}


DEVICES = None  # the devices bandax runs on (--device); None: JAX's default backend's


def bandax_run(kind: str, n_seeds: int, n_rounds: int = T, repeat: int = 3,
               check_round: int | None = None) -> dict:
    """The median of ``repeat`` runs of the same study (each compiles and runs).

    ``check_round``: also report the mean regret (and its standard error) at that round.
    """
    world = envs.make("linear-gaussian", n_arms=K, dim=D)
    options = EngineOptions(devices=DEVICES)
    runs = [simulate(bandits.make(kind, K, D), world, n_rounds=n_rounds, n_seeds=n_seeds,
                     options=options) for _ in range(repeat)]
    run_s = float(np.median([r.run_s for r in runs]))
    t = (check_round or n_rounds) - 1
    return {"impl": "bandax", "seeds": n_seeds, "rounds": n_rounds,
            "setup_s": runs[0].compile_s, "run_s": run_s, "run_s_all": [r.run_s for r in runs],
            "agent_rounds_per_s": n_seeds * n_rounds / run_s,
            "mean_final_regret": float(runs[0].mean_regret[0, -1]),
            "check_round": t + 1, "mean_regret_at_check": float(runs[0].mean_regret[0, t]),
            "se_regret_at_check": float(runs[0].std_regret[0, t] / np.sqrt(n_seeds)),
            "devices": runs[0].n_devices}


def cache_check(kind: str, n_rounds: int = T, n_seeds: int = 1000) -> list[float]:
    """Compile time of the same study in two fresh processes sharing a cache dir."""
    times = []
    with tempfile.TemporaryDirectory() as cache:
        code = ("import envs, bandits; from envs.engine.runtime import enable_compilation_cache;"
                "enable_compilation_cache(); from envs.engine import simulate;"
                f"r = simulate(bandits.make('{kind}', {K}, {D}), envs.make('linear-gaussian'),"
                f" n_rounds={n_rounds}, n_seeds={n_seeds}); print(r.compile_s)")
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**os.environ, "BANDAX_CACHE_DIR": cache},
                                 cwd=os.path.dirname(os.path.dirname(__file__)) or ".",
                                 check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def _ratio(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:,.0f}"


def markdown_table(rows: list[dict]) -> str:
    """The results as a Markdown table, ratios against the same policy's baselines."""
    lines = ["| policy | implementation | seeds | rounds | compile / set-up s | run s "
             "| agent-rounds/s | vs vectorised NumPy | vs NumPy loop (1 seed) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        setup = "–" if r.get("setup_s") is None else f"{r['setup_s']:.2f}"
        run = "–" if r.get("run_s") is None else f"{r['run_s']:.2f}"
        vec = "" if r.get("vs_vectorised") is None else f"{_ratio(r['vs_vectorised'])}×"
        loop = "" if r.get("vs_loop") is None else f"{_ratio(r['vs_loop'])}×"
        lines.append(f"| {POLICIES[r['policy']]} | {r['impl']} | {r['seeds']:,} | "
                     f"{r['rounds']:,} | {setup} | {run} | {r['agent_rounds_per_s']:,.0f} | "
                     f"{vec} | {loop} |")
    return "\n".join(lines)


def policy_rows(kind: str, theta: np.ndarray, args) -> tuple[list[dict], list[str]]:
    """Every row of one policy (loop, then vectorised NumPy and bandax per seed count)
    and its regret-check lines."""
    loop_rate = float(np.median([numpy_loop(kind, theta, args.loop_rounds)[0]
                                 for _ in range(args.repeat)]))
    rows = [{"policy": kind, "impl": "NumPy loop", "seeds": 1, "rounds": args.loop_rounds,
             "setup_s": None, "run_s": args.loop_rounds / loop_rate,
             "agent_rounds_per_s": loop_rate, "vs_loop": 1.0}]
    checks = []
    for s in args.seeds:
        np_rounds = min(args.numpy_rounds, args.rounds, max(100, 2_000_000 // s))
        vec = numpy_row(kind, s, np_rounds, args.repeat)
        vec.update(policy=kind, vs_vectorised=1.0, vs_loop=vec["agent_rounds_per_s"] / loop_rate)
        bx = bandax_run(kind, s, args.rounds, args.repeat, check_round=np_rounds)
        bx.update(policy=kind, vs_vectorised=bx["agent_rounds_per_s"] / vec["agent_rounds_per_s"],
                  vs_loop=bx["agent_rounds_per_s"] / loop_rate)
        rows += [vec, bx]
        print("\n".join(markdown_table([vec, bx]).splitlines()[2:]), flush=True)
        if s < 2:
            continue
        checks.append(f"{POLICIES[kind]}, {s:,} seeds: mean regret after {np_rounds:,} rounds "
                      f"NumPy vectorised {vec['mean_final_regret']:.2f} ± "
                      f"{vec['se_final_regret']:.2f}, bandax {bx['mean_regret_at_check']:.2f}"
                      f" ± {bx['se_regret_at_check']:.2f} (± one standard error)")
    return rows, checks


def choose_devices(device: str):
    """The devices of ``--device`` (None for auto); exits naming the extra when asked for
    a GPU that JAX does not see."""
    import jax

    if device == "auto":
        return None
    try:
        return jax.devices(device)
    except RuntimeError:
        sys.exit(f"--device {device}: JAX sees no {device.upper()} (install JAX's CUDA "
                 "wheels with pip install -e \".[cuda]\"); devices: "
                 f"{[d.platform for d in jax.devices()]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 / 100 / 1,000 seeds, no cache check")
    ap.add_argument("--seeds", help="comma-separated seed counts (default 1,100,1000,10000)")
    ap.add_argument("--rounds", type=int, default=T, help="bandax rounds per seed")
    ap.add_argument("--numpy-rounds", type=int, default=1000,
                    help="rounds of the vectorised NumPy baseline (fewer above 2,000 seeds)")
    ap.add_argument("--loop-rounds", type=int, default=3000,
                    help="rounds of the one-seed NumPy loop")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per configuration; the median run time is reported")
    ap.add_argument("--policies", default="lin_ucb,lin_ts")
    ap.add_argument("--no-cache-check", action="store_true",
                    help="skip the persistent-cache check (two fresh processes)")
    ap.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                    help="where bandax runs (auto: JAX's default backend; the NumPy "
                         "baselines run on the CPU)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    args.seeds = ([int(s) for s in args.seeds.split(",")] if args.seeds else
                  [1, 100, 1000] if args.quick else [1, 100, 1000, 10_000])
    import jax

    global DEVICES
    DEVICES = choose_devices(args.device)

    world = envs.make("linear-gaussian", n_arms=K, dim=D)
    theta = np.asarray(world.sample_params(jax.random.key(0)).theta)
    devices = DEVICES or jax.devices()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, bandax on {len(devices)} x {devices[0].platform} "
          f"({devices[0].device_kind})")
    print(f"bandax: {args.rounds:,} rounds; vectorised NumPy: up to {args.numpy_rounds:,} "
          f"rounds (agent-rounds/s is flat in the round count); one-seed loop: "
          f"{args.loop_rounds:,} rounds; medians of {args.repeat} runs\n", flush=True)
    results = {"machine": platform.platform(), "cores": os.cpu_count(), "rows": [],
               "checks": [], "command": " ".join(sys.argv)}
    for kind in args.policies.split(","):
        rows, checks = policy_rows(kind, theta, args)
        results["rows"] += rows
        results["checks"] += checks
    print("\n" + markdown_table(results["rows"]) + "\n")
    print("\n".join(results["checks"]))
    if not (args.quick or args.no_cache_check):
        c = cache_check("lin_ucb", args.rounds)
        results["cache_compile_s"] = c
        print(f"\npersistent cache: compile {c[0]:.2f} s in a fresh process, {c[1]:.2f} s in "
              "the next one")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    main()
