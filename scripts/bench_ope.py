"""Bootstrap intervals for four estimators against NumPy's resampling loop.

    python scripts/bench_ope.py          # n = 100,000 rows, K = 10, 1,000 resamples

Both sides compute IPS, SNIPS, DM and DR on the same logged arrays in this process.
The NumPy side follows Open Bandit Pipeline's procedure: per estimator, a Python loop of
1,000 ``np.random.choice`` resamples of the per-row estimated rewards. bandax recomputes
every estimator on each row resample (self-normalisation included), 10 resamples at a
time (``lax.map``), so memory stays at ~10 resamples' worth of counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402, F401
from estimators import bootstrap, ope  # noqa: E402


def numpy_obp_procedure(terms_by_estimator: dict, n_boot: int, seed: int = 0) -> dict:
    rng = np.random.RandomState(seed)
    out = {}
    for name, terms in terms_by_estimator.items():
        boots = [np.mean(rng.choice(terms, size=terms.shape[0])) for _ in range(n_boot)]
        out[name] = (np.percentile(boots, 2.5), np.percentile(boots, 97.5))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    n, k = args.n, args.k
    rng = np.random.default_rng(0)
    pi_b = rng.dirichlet(np.ones(k), n).astype(np.float32)
    a = (rng.random(n)[:, None] > np.cumsum(pi_b, 1)).sum(1).clip(0, k - 1).astype(np.int32)
    r = (rng.random(n) < 0.1).astype(np.float32)
    pi_e = rng.dirichlet(np.ones(k), n).astype(np.float32)
    q = rng.random((n, k)).astype(np.float32) * 0.2
    rows = ope.rows(r, a, pi_b[np.arange(n), a], pi_e, q)
    four = lambda x: jnp.stack([ope.ipw(x).value, ope.snipw(x).value, ope.dm(x).value,
                                ope.dr(x).value])
    timings = {}
    for scheme in ("multinomial", "poisson"):
        f = jax.jit(lambda d, key, s=scheme: bootstrap.bootstrap(four, d, key, args.boot,
                                                                 scheme=s))
        t = time.perf_counter()
        jax.block_until_ready(f(rows, jax.random.key(0)))
        first = time.perf_counter() - t
        times = []
        for i in range(3):
            t = time.perf_counter()
            jax.block_until_ready(f(rows, jax.random.key(i + 1)))
            times.append(time.perf_counter() - t)
        timings[scheme] = (min(times), first)
    terms = {name: np.asarray(fn(rows).terms) for name, fn in
             (("ipw", ope.ipw), ("snipw", ope.snipw), ("dm", ope.dm), ("dr", ope.dr))}
    t = time.perf_counter()
    numpy_obp_procedure(terms, args.boot)
    t_np = time.perf_counter() - t
    print(f"n={n}, K={k}, 4 estimators x {args.boot} bootstrap resamples")
    print(f"NumPy resampling loop (obp's procedure): {t_np:.2f} s")
    for scheme, (best, first) in timings.items():
        print(f"bandax, {scheme:<11} (whole estimator per resample): {best:.3f} s after "
              f"compile (first call incl. compile {first:.2f} s) -> {t_np / best:.1f}x")


if __name__ == "__main__":
    main()
