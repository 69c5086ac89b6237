"""Throughput of the rollout engine against a plain NumPy per-round loop.

    python scripts/bench.py            # LinUCB and linear TS, 1 / 100 / 1,000 / 10,000 seeds
    python scripts/bench.py --quick    # fewer seeds, for a smoke test

Both sides simulate the same world (linear-Gaussian, K=5, d=10, 10,000 rounds) in this
process. bandax numbers go through the public API (``envs.rollout.simulate``); compile
time is reported apart from run time. The persistent-cache check runs the same study
twice in fresh processes and reports the second process's compile time. Every figure is
the median of ``--repeat`` runs (default 3), since a shared machine drifts between runs.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import bandits  # noqa: E402
import envs  # noqa: E402  (XLA flags before JAX starts)
from envs.rollout import simulate  # noqa: E402

K, D, T = 5, 10, 10_000


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


def bandax_run(kind: str, n_seeds: int, n_rounds: int = T, repeat: int = 3) -> dict:
    """The median of ``repeat`` runs of the same study (each compiles and runs)."""
    world = envs.make("linear-gaussian", n_arms=K, dim=D)
    runs = [simulate(bandits.make(kind, K, D), world, n_rounds=n_rounds, n_seeds=n_seeds)
            for _ in range(repeat)]
    run_s = float(np.median([r.run_s for r in runs]))
    return {"seeds": n_seeds, "rounds": n_rounds, "compile_s": runs[0].compile_s,
            "run_s": run_s, "run_s_all": [r.run_s for r in runs],
            "agent_rounds_per_s": n_seeds * n_rounds / run_s,
            "mean_final_regret": float(runs[0].mean_regret[0, -1]), "devices": runs[0].n_devices}


def cache_check(kind: str) -> list[float]:
    """Compile time of the same study in two fresh processes sharing a cache dir."""
    times = []
    with tempfile.TemporaryDirectory() as cache:
        code = ("import envs, bandits; from envs.runtime import enable_compilation_cache;"
                "enable_compilation_cache(); from envs.rollout import simulate;"
                f"r = simulate(bandits.make('{kind}', {K}, {D}), envs.make('linear-gaussian'),"
                f" n_rounds={T}, n_seeds=1000); print(r.compile_s)")
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**os.environ, "BANDAX_CACHE_DIR": cache},
                                 cwd=os.path.dirname(os.path.dirname(__file__)) or ".")
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per configuration; the median run time is reported")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    import jax

    seeds = [1, 100, 1000] if args.quick else [1, 100, 1000, 10_000]
    numpy_rounds = 1000 if args.quick else 3000
    world = envs.make("linear-gaussian", n_arms=K, dim=D)
    theta = np.asarray(world.sample_params(jax.random.key(0)).theta)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, devices: {len(jax.devices())} x {jax.devices()[0].platform}")
    results = {"machine": platform.platform(), "cores": os.cpu_count(), "rows": []}
    for kind in ("lin_ucb", "lin_ts"):
        np_rate = float(np.median([numpy_loop(kind, theta, numpy_rounds)[0]
                                   for _ in range(args.repeat)]))
        print(f"\n{kind}: NumPy per-round loop {np_rate:,.0f} rounds/s "
              f"({numpy_rounds} rounds, 1 seed)")
        print(f"{'seeds':>7} {'compile s':>10} {'run s':>8} {'agent-rounds/s':>16} "
              f"{'vs NumPy':>9}")
        for s in seeds:
            row = bandax_run(kind, s, repeat=args.repeat)
            row.update(policy=kind, numpy_rounds_per_s=np_rate,
                       speedup=row["agent_rounds_per_s"] / np_rate)
            results["rows"].append(row)
            print(f"{s:>7} {row['compile_s']:>10.2f} {row['run_s']:>8.2f} "
                  f"{row['agent_rounds_per_s']:>16,.0f} {row['speedup']:>8.0f}x")
    c = cache_check("lin_ucb")
    results["cache_compile_s"] = c
    print(f"\npersistent cache: compile {c[0]:.2f} s in a fresh process, {c[1]:.2f} s in the "
          "next one")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
