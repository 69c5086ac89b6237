"""End-to-end evaluation of a large decision log: read, validate, model, estimate, bootstrap.

    python scripts/bench_evaluate.py                  # 1,000,000 rows, K = 20, d = 20
    python scripts/bench_evaluate.py --rows 100000    # smaller

A simulated deployment (softmax logging policy over a logistic world, rewards attached) is
written as a Parquet decision log first, in a child process (not timed, and not in the
peak memory). Then, timed stage by stage in this
process: reading and validating the file, cross-fitting the ridge reward model, the
candidate's action probabilities (a LinUCB checkpoint trained on another log, so every
row of this one is held out), and IPS, SNIPS, DM and DR with 1,000 bootstrap resamples.
Peak memory is the process's maximum resident set size. For comparison, the same
estimators and resamples in plain NumPy (obp's procedure: a Python loop of
``np.random.choice`` resamples of each estimator's per-row terms) are timed on the same
arrays.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import jax  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402, F401  (XLA flags before JAX starts)
from bandits.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from bandits.train import train_checkpoint  # noqa: E402
from envs.data.events import events_from_logged, read_events, write_events  # noqa: E402
from envs.data.generate import simulate_deployment  # noqa: E402
from envs.data.logged import LoggedData  # noqa: E402
from estimators import reward_models  # noqa: E402
from estimators.gate import (  # noqa: E402
    GateRule,
    decision_probs,
    evaluate_candidate,
    reward_model_predictions,
)


def simulated_log(n: int, k: int, d: int, seed: int) -> LoggedData:
    env = envs.make("logistic-bernoulli", n_arms=k, dim=d, base_logit=-2.0, scale=2.0)
    return simulate_deployment(env, n, logging="softmax", temperature=0.5, seed=seed)[0]


def make_inputs(path: str, ck_path: str, rows: int, arms: int, dim: int) -> None:
    data = simulated_log(rows, arms, dim, seed=1)
    write_events(path, events_from_logged(
        data, policy_version="softmax-0.5", algorithm="softmax",
        exploration={"temperature": 0.5}, start=np.datetime64("2026-01-01T00:00:00", "us"),
        interval_s=0.05))
    train = simulated_log(200_000, arms, dim, seed=2)
    save_checkpoint(ck_path, train_checkpoint("lin_ucb", {"alpha": 0.5}, train.context,
                                              train.action, train.reward, n_arms=arms))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--arms", type=int, default=20)
    ap.add_argument("--dim", type=int, default=20)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--numpy", action="store_true", help="also time the NumPy procedure")
    ap.add_argument("--make", nargs=2, metavar=("LOG", "CHECKPOINT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        return make_inputs(*args.make, args.rows, args.arms, args.dim)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"{len(jax.devices())} host devices")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "log.parquet")
        ck_path = os.path.join(tmp, "candidate.npz")
        # the log and the candidate are made in a child process, so the peak memory below
        # is that of evaluating the file
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--make", path, ck_path, "--rows",
                        str(args.rows), "--arms", str(args.arms), "--dim", str(args.dim)],
                       check=True)
        print(f"wrote {args.rows:,} events ({os.path.getsize(path) / 2**20:.0f} MiB Parquet)"
              f" in {time.perf_counter() - t:.1f} s (not timed below)")
        ck = load_checkpoint(ck_path, n_arms=args.arms, dim=args.dim)
        stages = {}
        t0 = time.perf_counter()
        log = read_events(path, n_arms=args.arms)
        stages["read + validate"] = time.perf_counter() - t0
        test = log.data
        t = time.perf_counter()
        q_hat = reward_model_predictions(test, reward_models.default_config(),
                                         jax.random.key(1))
        stages["reward model (2-fold ridge)"] = time.perf_counter() - t
        t = time.perf_counter()
        policy = ck.policy()
        probs = decision_probs(policy, ck.params, ck.state, test.context, test.mask,
                               jax.random.key(2))
        stages["candidate probabilities"] = time.perf_counter() - t
        t = time.perf_counter()
        res = evaluate_candidate(test, probs, q_hat, key=jax.random.key(3), n_boot=args.boot,
                                 rule=GateRule())
        stages[f"4 estimators x {args.boot} bootstraps"] = time.perf_counter() - t
        total = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        for name, s in stages.items():
            print(f"  {name:<32} {s:6.2f} s")
        print(f"end to end: {total:.1f} s, peak memory {peak:.2f} GiB "
              f"(targets: < 30 s, < 2 GiB); decision: {res['decision']}, DR "
              f"{res['estimates']['dr']['value']:.4f} [{res['estimates']['dr']['lower']:.4f}, "
              f"{res['estimates']['dr']['upper']:.4f}]")
        if args.numpy:
            numpy_baselines(test, probs, q_hat, args.boot,
                            stages[f"4 estimators x {args.boot} bootstraps"])


def numpy_baselines(test, probs, q_hat, n_boot: int, bandax_s: float) -> None:
    """Times the two NumPy bootstraps of scripts/bench_ope.py on the gate's rows: count
    vectors (the headline baseline) and Open Bandit Pipeline's per-estimator loop."""
    from bench_ope import numpy_count_vectors, numpy_obp_procedure

    from estimators import ope

    rows = ope.rows(test.reward, test.action, test.pscore, probs, q_hat)
    for name, fn in (("NumPy count vectors", numpy_count_vectors),
                     ("NumPy, obp procedure", numpy_obp_procedure)):
        t = time.perf_counter()
        fn(rows, n_boot)
        t = time.perf_counter() - t
        print(f"{name} for the same bootstraps: {t:.1f} s ({t / bandax_s:.1f}x bandax)")

if __name__ == "__main__":
    main()
