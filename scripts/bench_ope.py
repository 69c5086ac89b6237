"""Bootstrap intervals for four estimators: bandax against two NumPy implementations.

    python scripts/bench_ope.py          # n = 100,000 rows, K = 10, 1,000 resamples
    python scripts/bench_ope.py --n 2000 --boot 20 --repeat 1    # a smoke test

Every implementation computes IPS, SNIPS, DM and DR with percentile intervals on the same
logged arrays in this process. The headline baseline is NumPy with count vectors: per
resample, ``np.bincount`` of n indices drawn with replacement, then one matrix–vector
product of the counts with the stacked per-row terms (SNIPS as a ratio of two weighted
sums). The second follows Open Bandit Pipeline's procedure: per estimator, a Python loop
of ``np.random.choice`` resamples of its per-row terms (SNIPS's normaliser fixed on the
full data). bandax recomputes every estimator on each resample, self-normalisation
included. Each time is the median of ``--repeat`` runs (default 5) with fresh seeds,
after one untimed warm-up run; bandax compiles ahead of time, reported apart.
"""

from __future__ import annotations

import argparse
import json
import time

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402, F401
from estimators import bootstrap, ope  # noqa: E402

NAMES = ("IPS", "SNIPS", "DM", "DR")


def make_rows(n: int, k: int, seed: int = 0) -> ope.Rows:
    """Logged data: Dirichlet logging and target policies, 10% click rate, a random model."""
    rng = np.random.default_rng(seed)
    pi_b = rng.dirichlet(np.ones(k), n).astype(np.float32)
    a = (rng.random(n)[:, None] > np.cumsum(pi_b, 1)).sum(1).clip(0, k - 1).astype(np.int32)
    r = (rng.random(n) < 0.1).astype(np.float32)
    pi_e = rng.dirichlet(np.ones(k), n).astype(np.float32)
    q = rng.random((n, k)).astype(np.float32) * 0.2
    return ope.rows(r, a, pi_b[np.arange(n), a], pi_e, q)


def numpy_columns(rows: ope.Rows) -> np.ndarray:
    """(n, 5) per-row vectors whose count-weighted sums give the four estimates:
    w·r (IPS, SNIPS's numerator), w (SNIPS's normaliser), q̂_π (DM), DR's terms, 1."""
    r, p, pi, qa, qpi = (np.asarray(x, np.float64) for x in rows[:5])
    w = pi / p
    return np.stack([w * r, w, qpi, qpi + w * (r - qa), np.ones_like(r)], 1)


def estimates_from_sums(s: np.ndarray) -> np.ndarray:
    """(..., 4) IPS, SNIPS, DM, DR from (..., 5) count-weighted sums of numpy_columns."""
    return np.stack([s[..., 0] / s[..., 4], s[..., 0] / s[..., 1], s[..., 2] / s[..., 4],
                     s[..., 3] / s[..., 4]], -1)


def numpy_count_vectors(rows: ope.Rows, n_boot: int, seed: int = 0) -> dict:
    """Point estimates and 95% percentile intervals from ``n_boot`` count vectors."""
    rng = np.random.default_rng(seed)
    cols = numpy_columns(rows)
    n = cols.shape[0]
    reps = np.empty((n_boot, 4))
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        reps[b] = estimates_from_sums(counts @ cols)
    lo, hi = np.percentile(reps, [2.5, 97.5], axis=0)
    return {"estimate": estimates_from_sums(cols.sum(0)), "lower": lo, "upper": hi}


def numpy_obp_procedure(rows: ope.Rows, n_boot: int, seed: int = 0) -> dict:
    """Open Bandit Pipeline's procedure: per estimator, resample its per-row terms."""
    rng = np.random.RandomState(seed)
    terms = {name: np.asarray(fn(rows).terms) for name, fn in
             zip(NAMES, (ope.ipw, ope.snipw, ope.dm, ope.dr))}
    lo, hi = [], []
    for t in terms.values():
        boots = [np.mean(rng.choice(t, size=t.shape[0])) for _ in range(n_boot)]
        lo.append(np.percentile(boots, 2.5))
        hi.append(np.percentile(boots, 97.5))
    return {"estimate": np.array([t.mean() for t in terms.values()]), "lower": np.array(lo),
            "upper": np.array(hi)}


def four(r: ope.Rows):
    return jnp.stack([ope.ipw(r).value, ope.snipw(r).value, ope.dm(r).value, ope.dr(r).value])


def bandax_procedure(rows: ope.Rows, n_boot: int, scheme: str):
    """The bandax bootstrap compiled ahead of time: (compile seconds, (rows, seed) ->
    intervals)."""
    t = time.perf_counter()
    f = jax.jit(lambda d, key: bootstrap.bootstrap(four, d, key, n_boot, scheme=scheme)
                ).lower(rows, jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t

    def run(rows, seed):
        iv = jax.block_until_ready(f(rows, jax.random.key(seed)))
        return {"estimate": np.asarray(iv.estimate), "lower": np.asarray(iv.lower),
                "upper": np.asarray(iv.upper)}

    return compile_s, run


def timed(fn, rows, repeat: int) -> dict:
    """Median wall time of ``repeat`` calls with seeds 1..repeat, after an untimed
    warm-up call with seed 0."""
    fn(rows, 0)
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        result = fn(rows, i + 1)
        times.append(time.perf_counter() - t)
    return {"run_s": float(np.median(times)), "run_s_all": times, "result": result}


def print_tables(res: dict, n: int, k: int, n_boot: int, repeat: int) -> None:
    """The timing table (ratios against both NumPy baselines) and the estimates."""
    base, obp = res["NumPy count vectors"]["run_s"], res["NumPy, obp procedure"]["run_s"]
    print(f"n={n:,}, K={k}, 4 estimators x {n_boot:,} bootstrap resamples; "
          f"medians of {repeat} runs\n")
    print("| implementation | compile s | run s | vs NumPy count vectors | vs obp procedure |")
    print("|---|---:|---:|---:|---:|")
    for name, r in res.items():
        comp = f"{r['compile_s']:.2f}" if "compile_s" in r else "–"
        print(f"| {name} | {comp} | {r['run_s']:.3f} | {base / r['run_s']:.1f}× | "
              f"{obp / r['run_s']:.1f}× |")
    print("\n| estimator | " + " | ".join(f"{name} [95% interval]" for name in res) + " |")
    print("|---|" + "---|" * len(res))
    for j, est in enumerate(NAMES):
        cells = [f"{r['result']['estimate'][j]:.6f} [{r['result']['lower'][j]:.5f}, "
                 f"{r['result']['upper'][j]:.5f}]" for r in res.values()]
        print(f"| {est} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="logged rows")
    ap.add_argument("--k", type=int, default=10, help="actions")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each implementation")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    rows = make_rows(args.n, args.k)
    res = {
        "NumPy, obp procedure": timed(lambda d, s: numpy_obp_procedure(d, args.boot, s),
                                      rows, args.repeat),
        "NumPy count vectors": timed(lambda d, s: numpy_count_vectors(d, args.boot, s),
                                     rows, args.repeat),
    }
    for scheme in ("multinomial", "poisson"):
        compile_s, run = bandax_procedure(rows, args.boot, scheme)
        res[f"bandax, {scheme}"] = {"compile_s": compile_s, **timed(run, rows, args.repeat)}
    print_tables(res, args.n, args.k, args.boot, args.repeat)
    if args.json:
        out = {name: {**{k: v for k, v in r.items() if k != "result"},
                      **{k: v.tolist() for k, v in r["result"].items()}}
               for name, r in res.items()}
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "k": args.k, "boot": args.boot, "results": out}, f,
                      indent=1)


if __name__ == "__main__":
    main()
