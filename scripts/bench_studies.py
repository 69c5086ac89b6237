"""Wall time and peak memory of the three default jobs, each run as a user would.

    python scripts/bench_studies.py                   # default sizes
    python scripts/bench_studies.py --quick           # tiny sizes, for a smoke test
    python scripts/bench_studies.py --out studies.json

Each job runs in a fresh process: ``python scripts/simulate.py``, ``python scripts/ope.py``
and ``python scripts/evaluate.py data=<log> candidate=lin_ucb`` on a 100,000-row log
written first by ``scripts/simulate_log.py``. Every job runs twice with
``BANDAX_CACHE_DIR`` pointing at a fresh directory: first with the compilation cache
empty (cold), then with what the first run stored (warm). Wall time is measured around
the child process, start-up included; peak memory is the child's maximum resident set
size as the kernel reports it when the child is reaped (``os.wait4``). Hydra's outputs
go to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def jobs(quick: bool, log: str) -> list[tuple[str, list[str]]]:
    """(name, command-line arguments after ``python``) of the three jobs."""
    sim = ["study.n_seeds=8", "study.n_rounds=100"] if quick else []
    ope = ["study.n_datasets=4", "study.n_rows=500"] if quick else []
    gate = ["evaluation.n_boot=50"] if quick else []
    return [("simulate.py", ["scripts/simulate.py", *sim]),
            ("ope.py", ["scripts/ope.py", *ope]),
            ("evaluate.py", ["scripts/evaluate.py", f"data={log}", "candidate=lin_ucb", *gate])]


def run_child(args: list[str], env: dict, log_path: str) -> dict:
    """Runs ``python *args`` from the repository root; its wall time, peak memory and
    exit code (output to ``log_path``)."""
    t = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux and in bytes on macOS
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return {"wall_s": wall, "peak_mib": peak, "exit_code": proc.returncode, "log": log_path}


def markdown(rows: list[dict]) -> str:
    lines = ["| job | compilation cache | wall s | peak memory MiB | exit code |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['job']} | {r['cache']} | {r['wall_s']:.1f} | {r['peak_mib']:,.0f} | "
                     f"{r['exit_code']} |")
    return "\n".join(lines)


def bench(work: str, quick: bool, selected: list[str]) -> list[dict]:
    """The log (when the gate runs), then every selected job cold and warm; a row per run."""
    base = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = os.path.join(work, "log.parquet")
    rows = []
    if "evaluate" in selected:
        n_rows = "2000" if quick else "100000"
        r = run_child(["scripts/simulate_log.py", log, "--rows", n_rows],
                      {**base, "BANDAX_CACHE_DIR": os.path.join(work, "cache_log")},
                      os.path.join(work, "simulate_log.txt"))
        rows.append({"job": f"python scripts/simulate_log.py <log> --rows {n_rows}",
                     "cache": "–", **r})
    env = {**base, "BANDAX_CACHE_DIR": os.path.join(work, "cache")}
    for state in ("cold", "warm"):
        for name, args in jobs(quick, log):
            if name.removesuffix(".py") not in selected:
                continue
            tag = f"{name.removesuffix('.py')}_{state}"
            out = os.path.join(work, tag)
            r = run_child([*args, f"hydra.run.dir={out}"], env,
                          os.path.join(work, f"{tag}.txt"))
            rows.append({"job": ("python " + " ".join(args)).replace(log, "<log>"),
                         "cache": state, **r})
            print(f"{rows[-1]['job']} ({state}): {r['wall_s']:.1f} s, "
                  f"{r['peak_mib']:,.0f} MiB, exit {r['exit_code']}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes: 8 seeds x 100 rounds, 4 datasets x 500 rows, a "
                         "2,000-row log with 50 resamples")
    ap.add_argument("--jobs", default="simulate,ope,evaluate",
                    help="comma-separated subset of simulate, ope, evaluate")
    ap.add_argument("--out", help="also write the results to this JSON file")
    ap.add_argument("--keep", help="keep every output and log in this directory")
    args = ap.parse_args()
    selected = args.jobs.split(",")
    if not selected or set(selected) - {"simulate", "ope", "evaluate"}:
        ap.error(f"--jobs takes a subset of simulate,ope,evaluate, got {args.jobs!r}")
    work = args.keep or tempfile.mkdtemp(prefix="bench_studies_")
    os.makedirs(work, exist_ok=True)
    try:
        rows = bench(work, args.quick, selected)
        failed = [r for r in rows if r["exit_code"] != 0]
        for r in failed:
            with open(r["log"]) as f:
                print(f"\n{r['job']} ({r['cache']}) failed:\n" + f.read()[-3000:])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = markdown(rows)
    print("\n" + table)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"quick": args.quick, "python": sys.version.split()[0],
                       "cores": os.cpu_count(), "rows": rows, "markdown": table}, f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
