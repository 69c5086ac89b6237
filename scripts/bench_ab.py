"""Throughput of this tree against another commit, side by side, in alternating runs.

    python scripts/bench_ab.py --base HEAD~1                 # LinUCB, linear TS, the OPE bootstrap
    python scripts/bench_ab.py --base v0.1 --pairs 5 --kinds lin_ucb

The other commit is checked out in a temporary git worktree. Each measurement is a fresh
process of that tree or of this one, in turns (A B A B ..., then B A B A ... for the second
half, so neither side always runs first); within a process the figure is the median of
``--repeat`` timed runs after compilation (``scripts/bench.py``'s and
``scripts/bench_ope.py``'s bandax timings: LinUCB and linear TS at 1,000 seeds × 10,000
rounds, K = 5, d = 10; four estimators × 1,000 multinomial resamples of 100,000 rows). The
table reports each side's median over pairs and the ratio this / base (< 1: this tree is
faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_RUN = r"""
import json, os, sys
repo, kind, repeat, seeds, rounds, rows = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
import numpy as np
import envs, bandits
assert os.path.realpath(envs.__file__).startswith(os.path.realpath(repo)), envs.__file__
if kind == "ope":
    import bench_ope as b
    data = b.make_rows(rows, 10)
    _, run = b.bandax_procedure(data, 1000, "multinomial")
    print(json.dumps(b.timed(run, data, repeat)["run_s"]))
else:
    try:
        from envs.engine import simulate
    except ImportError:  # trees from before envs/engine/
        from envs.rollout import simulate
    world = envs.make("linear-gaussian", n_arms=5, dim=10)
    runs = [simulate(bandits.make(kind, 5, 10), world, n_rounds=rounds, n_seeds=seeds)
            for _ in range(repeat)]
    print(json.dumps(float(np.median([r.run_s for r in runs]))))
"""


def run_once(repo: str, kind: str, args) -> float:
    """Seconds of one fresh process's timed runs (median)."""
    sizes = [str(x) for x in (args.repeat, args.seeds, args.rounds, args.rows)]
    path = os.pathsep.join([repo, os.path.join(repo, "scripts")])
    out = subprocess.run([sys.executable, "-c", ONE_RUN, repo, kind, *sizes], cwd=repo,
                         env={**os.environ, "PYTHONPATH": path}, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def compare(base_dir: str, kinds: list[str], pairs: int, args) -> dict:
    """{kind: {"base": [s, ...], "this": [s, ...]}} from alternating processes."""
    times = {k: {"base": [], "this": []} for k in kinds}
    for i in range(pairs):
        order = (("base", base_dir), ("this", ROOT)) if i < (pairs + 1) // 2 else \
            (("this", ROOT), ("base", base_dir))
        for kind in kinds:
            for side, repo in order:
                times[kind][side].append(run_once(repo, kind, args))
                print(f"pair {i + 1}/{pairs} {kind:8} {side:4} {times[kind][side][-1]:.4f} s",
                      flush=True)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the commit to compare with")
    ap.add_argument("--kinds", default="lin_ucb,lin_ts,ope")
    ap.add_argument("--pairs", type=int, default=6, help="alternating process pairs")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs in each process")
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=100_000, help="logged rows of the OPE run")
    ap.add_argument("--json", help="also write the times here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = os.path.join(tmp, "base")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "-q", "--detach", base_dir,
                        args.base], check=True)
        try:
            times = compare(base_dir, args.kinds.split(","), args.pairs, args)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base_dir],
                           check=True)
    print(f"\n| run | base {args.base} (s) | this tree (s) | this / base |\n|---|---:|---:|---:|")
    for kind, t in times.items():
        b, n = float(np.median(t["base"])), float(np.median(t["this"]))
        print(f"| {kind} | {b:.4f} | {n:.4f} | {n / b:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(times, f, indent=1)


if __name__ == "__main__":
    main()
