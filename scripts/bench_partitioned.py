"""The streamed gate on a partitioned log: 10⁷ rows in daily Parquet files, evaluated end
to end in one process and on Dask workers, with each run's peak memory.

    python scripts/bench_partitioned.py                      # 10,000,000 rows, 40 days
    python scripts/bench_partitioned.py --rows 1000000 --workers 2

First (timed apart, as set-up) a logged deployment is written day by day as a
hive-partitioned dataset (``date=.../part-0.parquet``): contexts N(0, I), a softmax
logging policy over a logistic world's true means, Bernoulli rewards. Then, each in a
fresh child process, the gate of ``scripts/evaluate.py data=<dir>
split.held_out_from=<the last 30% of days>``: LinUCB trained on the streamed training
rows, the ridge reward model by streamed sufficient statistics, DR, IPS, SNIPS and DM
with 1,000 keyed Poisson resamples — once in the process itself, once on ``--workers``
Dask worker processes. Wall times count everything (compiling, starting the cluster);
peak memory is the maximum resident set size of the driving process and of the largest
worker. Both runs must give the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

START = np.datetime64("2026-01-01T00:00:00", "us")
ESTIMATORS = ["dr", "ipw", "snipw", "dm"]


def day_columns(day: int, rows: int, theta: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """One day's decision events: contexts, softmax logging over the true means, rewards."""
    rng = np.random.default_rng([seed, day])
    k, d = theta.shape
    x = rng.normal(size=(rows, d)).astype(np.float32)
    mean = 1 / (1 + np.exp(-(x @ theta.T - 1.0)))
    logits = mean / 0.2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    action = (rng.random((rows, 1)) > np.cumsum(p, 1)).sum(1).clip(0, k - 1)
    step = np.timedelta64(86_400_000_000 // rows, "us")
    ts = START + np.timedelta64(day, "D") + np.arange(rows) * step
    return {"event_id": np.char.add(f"d{day}-".encode(), np.arange(rows).astype("S8")),
            "timestamp": ts, "context": x, "action": action,
            "propensity": p[np.arange(rows), action].astype(np.float64),
            "reward": (rng.random(rows) < mean[np.arange(rows), action]).astype(np.float64),
            "n_arms": k}


def write_log(path: str, rows: int, days: int, arms: int, dim: int, seed: int = 0) -> float:
    """Writes the partitioned log; returns its size on disk in MiB."""
    from envs.data.events import write_events

    theta = np.random.default_rng(seed).normal(size=(arms, dim)) / np.sqrt(dim) * 2
    per_day = np.diff(np.linspace(0, rows, days + 1).round().astype(int))
    for day, n in enumerate(per_day):  # one file per day bounds the writer's memory
        sub = os.path.join(path, f"date={(START + np.timedelta64(day, 'D')).astype('M8[D]')}")
        os.makedirs(sub)
        write_events(os.path.join(sub, "part-0.parquet"), day_columns(day, n, theta, seed))
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path)
               for f in fs) / 2**20


def evaluate(path: str, days: int, workers: int, n_boot: int, batch_rows: int) -> dict:
    """One run of the streamed gate (in the child process); its figures."""
    import envs  # noqa: F401  (XLA flags before JAX starts)
    from envs.data.events.dataset import open_dataset
    from estimators.gate.driver import parse_candidates
    from estimators.partitioned.driver import run_partitioned

    t0 = time.perf_counter()
    cut = START + np.timedelta64(int(round(days * 0.7)), "D")
    report = run_partitioned(open_dataset(path), parse_candidates("lin_ucb", {}),
                             held_out_from=cut, estimators=ESTIMATORS, n_boot=n_boot,
                             batch_rows=batch_rows, workers=workers)
    wall = time.perf_counter() - t0
    kib = 1024 if platform.system() == "Linux" else 1  # ru_maxrss: KiB on Linux
    return {"wall_s": wall, "rows": report["data"]["n_rows"],
            "held_out": report["data"]["test_rows"],
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib / 2**20,
            "worker_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            * kib / 2**20,
            "estimates": report["candidates"][0]["estimates"]}


def child(path: str, days: int, workers: int, n_boot: int, batch_rows: int) -> dict:
    """:func:`evaluate` in a fresh Python process, so each run's memory is its own."""
    out = subprocess.run([sys.executable, __file__, "--run", path, "--days", str(days),
                          "--workers", str(workers), "--boot", str(n_boot),
                          "--batch-rows", str(batch_rows)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(runs: dict, rows: int, mib: float, write_s: float) -> str:
    """The results as text."""
    lines = [f"log: {rows:,} rows in daily files, {mib:.0f} MiB of Parquet (written in "
             f"{write_s:.1f} s, not counted)",
             f"{'run':<22} {'wall s':>8} {'rows/s':>11} {'peak MiB':>9} {'worker MiB':>11}"]
    for name, r in runs.items():
        worker = f"{r['worker_peak_mib']:.0f}" if name != "one process" else "-"
        lines.append(f"{name:<22} {r['wall_s']:>8.1f} {r['rows'] / r['wall_s']:>11,.0f} "
                     f"{r['peak_mib']:>9.0f} {worker:>11}")
    dr = runs["one process"]["estimates"]["dr"]
    lines.append(f"DR of LinUCB {dr['value']:.5f} [{dr['lower']:.5f}, {dr['upper']:.5f}] on "
                 f"{runs['one process']['held_out']:,} held-out rows")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=40)
    ap.add_argument("--arms", type=int, default=10)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch-rows", type=int, default=65_536)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(evaluate(args.run, args.days, args.workers, args.boot,
                                  args.batch_rows)))
        return
    tmp = tempfile.mkdtemp(prefix="bench_partitioned_")
    try:
        t0 = time.perf_counter()
        mib = write_log(os.path.join(tmp, "log"), args.rows, args.days, args.arms, args.dim)
        write_s = time.perf_counter() - t0
        runs = {"one process": child(os.path.join(tmp, "log"), args.days, 0, args.boot,
                                     args.batch_rows)}
        runs[f"{args.workers} Dask workers"] = child(os.path.join(tmp, "log"), args.days,
                                                     args.workers, args.boot, args.batch_rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    same = [r["estimates"] for r in runs.values()]
    print(table(runs, args.rows, mib, write_s))
    print("same numbers on workers:", same[0] == same[1])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "parquet_mib": mib, "runs": runs}, f, indent=1)
    if same[0] != same[1]:
        sys.exit("the runs on workers disagree with the run in one process")


if __name__ == "__main__":
    main()
