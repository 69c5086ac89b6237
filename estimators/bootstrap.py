"""Confidence intervals for off-policy estimates: vectorised bootstrap and normal approx.

The bootstrap resamples *rows* (with replacement) and recomputes the whole estimator on
each resample, self-normalisation included. Resamples run in batches with ``lax.map``
(default 10 at a time), so memory is O(batch · n) rather than O(n_boot · n); row indices
are ``random.bits % n`` (the modulo bias is below n / 2³² and negligible).

For :class:`estimators.ope.Rows` the resample is applied as counts that every estimator
honours as frequency weights: the same resample as gathering the rows, without XLA:CPU's
slow gathers. Multinomial counts (:func:`multinomial_counts`) come from Poisson counts
completed to exactly n draws, so only a few thousand draws are scattered instead of n.
Other pytrees are gathered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P


class Interval(NamedTuple):
    estimate: Array  # () the estimate on the full data
    lower: Array  # ()
    upper: Array  # ()
    std_error: Array  # () standard deviation of the bootstrap replicates
    replicates: Array  # (n_boot,) or (n_boot, m) the bootstrap estimates


def resample_indices(key: Array, n: int, size: int | None = None) -> Array:
    """``size`` (default n) row indices in [0, n) drawn uniformly with replacement."""
    return (jax.random.bits(key, (n if size is None else size,)) % jnp.uint32(n)
            ).astype(jnp.int32)


def _poisson_thresholds(lam: float) -> tuple[int, ...]:
    """Inverse-CDF thresholds of Poisson(lam) on 32-bit integers: count = #{t : bits ≥ t}.

    Counts whose probability is below 2⁻³² (above ~13 for lam ≤ 1) cannot occur, the
    same resolution as drawing rows with ``bits % n``.
    """
    out, cdf, j = [], 0.0, 0
    while True:
        cdf += math.exp(-lam) * lam**j / math.factorial(j)
        t = round(cdf * 2**32)
        if t >= 2**32:
            return tuple(out)
        out.append(t)
        j += 1


def poisson_counts(key: Array, n: int, dtype=jnp.float32, lam: float = 1.0) -> Array:
    """n i.i.d. Poisson(lam) multiplicities by inverse CDF on 32-bit random integers."""
    bits = jax.random.bits(key, (n,), jnp.uint32)
    counts = jnp.zeros((n,), dtype)
    for t in _poisson_thresholds(lam):
        counts = counts + (bits >= jnp.uint32(t)).astype(dtype)
    return counts


def multinomial_counts(key: Array, n: int, dtype=jnp.float32, lam: float | None = None
                       ) -> Array:
    """How often each of n rows is drawn in n draws with replacement: Multinomial(n, 1/n).

    Scattering n drawn indices is slow on CPU, so the counts are built from i.i.d.
    Poisson(λ) counts, λ = 1 − 8/√n: given their total S they are Multinomial(S, 1/n), so
    adding n − S more uniform draws (a scatter of ~8√n indices) gives exactly
    Multinomial(n, 1/n). S > n (probability ~1e-15) removes S − n of the S draws
    uniformly at random, one at a time, which is exact too; a shortfall larger than the
    static budget falls back to scattering n draws. ``lam`` overrides λ (for tests).
    """
    lam = max(0.0, 1.0 - 8.0 / math.sqrt(n)) if lam is None else lam
    budget = min(n, math.ceil(16 * math.sqrt(n)) + 64)
    k_pois, k_add, k_cut = jax.random.split(key, 3)
    base = poisson_counts(k_pois, n, dtype, lam) if lam > 0 else jnp.zeros(n, dtype)
    total = jnp.sum(base.astype(jnp.int32))

    def scatter_all(c):
        return jnp.zeros(n, dtype).at[resample_indices(k_add, n)].add(1)

    def add(c):
        extra = jnp.arange(budget) < n - total
        return c.at[resample_indices(k_add, n, budget)].add(extra.astype(dtype))

    def remove(c):
        def drop(j, c):  # remove one of the remaining draws, uniformly
            cum = jnp.cumsum(c.astype(jnp.int32))
            u = jax.random.bits(jax.random.fold_in(k_cut, j), (), jnp.uint32)
            r = (u % cum[-1].astype(jnp.uint32)).astype(jnp.int32)
            return c.at[jnp.searchsorted(cum, r, side="right")].add(-1)

        return jax.lax.fori_loop(0, total - n, drop, c)

    branch = jnp.where(total > n, 2, jnp.where(n - total > budget, 0, 1))
    return jax.lax.switch(branch, [scatter_all, add, remove], base)


def bootstrap_replicates(statistic: Callable[[Any], Array], data: Any, key: Array,
                         n_boot: int = 1000, batch_size: int = 10,
                         scheme: str = "multinomial") -> Array:
    """``statistic`` recomputed on ``n_boot`` row resamples of ``data``.

    Args:
        statistic: maps a pytree of (n, ...) arrays to an array (a scalar or a vector of
            several estimates, which then share each resample).
        data: pytree whose leaves all have n rows.
        key: PRNG key; resample b uses ``fold_in(key, b)``.
        scheme: ``"multinomial"`` (the classic bootstrap: n rows drawn with replacement)
            or ``"poisson"`` (each row counted Poisson(1) times, independently; the
            resample size varies around n — the usual large-n approximation, and
            elementwise, so faster on CPU). Poisson needs ``data`` to be ``Rows``.
    """
    if scheme not in ("multinomial", "poisson"):
        raise ValueError(f"scheme must be 'multinomial' or 'poisson', got {scheme!r}")
    from estimators.ope import Rows

    if scheme == "poisson" and not isinstance(data, Rows):
        raise ValueError("the Poisson bootstrap needs estimators.ope.Rows data")
    n = jax.tree_util.tree_leaves(data)[0].shape[0]

    def counts(b):
        k = jax.random.fold_in(key, b)
        if scheme == "poisson":
            return poisson_counts(k, n, data.reward.dtype)
        return multinomial_counts(k, n, data.reward.dtype)

    def batch(bs):  # (batch_size,) resample numbers -> their statistics
        if isinstance(data, Rows):
            # counts one resample at a time (their rare branches stay branches), the
            # statistic vectorised over the batch (count-weighted sums become mat-vecs)
            c = jax.lax.map(counts, bs)
            if data.count is not None:
                c = c * data.count
            return jax.vmap(lambda ci: statistic(data._replace(count=ci)))(c)

        def gathered(b):
            idx = resample_indices(jax.random.fold_in(key, b), n)
            return statistic(jax.tree_util.tree_map(lambda x: x[idx], data))

        return jax.vmap(gathered)(bs)

    devices = jax.local_devices()
    n_dev = len(devices) if n_boot >= len(devices) * batch_size else 1
    step = n_dev * batch_size
    n_pad = -(-n_boot // step) * step  # extra resamples are computed and dropped
    ids = jnp.arange(n_pad).reshape(-1, batch_size)

    def run_batches(ids):
        out = jax.lax.map(batch, ids)
        return out.reshape((-1,) + out.shape[2:])

    if n_dev == 1:
        return run_batches(ids)[:n_boot]
    # one lax.map runs on about one core: split the resamples over the host's devices
    mesh = Mesh(np.array(devices), ("boot",))
    run = jax.shard_map(run_batches, mesh=mesh, in_specs=P("boot"), out_specs=P("boot"),
                        check_vma=False)
    return run(ids)[:n_boot]


def percentile_interval(estimate: Array, replicates: Array, alpha: float = 0.05) -> Interval:
    lo, hi = jnp.quantile(replicates, jnp.array([alpha / 2, 1 - alpha / 2]), axis=0)
    return Interval(estimate, lo, hi, jnp.std(replicates, axis=0, ddof=1), replicates)


def bootstrap(statistic: Callable[[Any], Array], data: Any, key: Array,
              n_boot: int = 1000, alpha: float = 0.05, batch_size: int = 10,
              scheme: str = "multinomial") -> Interval:
    """Percentile bootstrap interval of ``statistic`` (see :func:`bootstrap_replicates`)."""
    reps = bootstrap_replicates(statistic, data, key, n_boot, batch_size, scheme)
    return percentile_interval(statistic(data), reps, alpha)


def normal_interval(terms: Array, alpha: float = 0.05) -> Interval:
    """mean(terms) ± z_{1-α/2} · sd(terms)/√n, from an estimator's per-row terms."""
    n = terms.shape[0]
    est = jnp.mean(terms)
    se = jnp.std(terms, ddof=1) / jnp.sqrt(n)
    z = ndtri(1 - alpha / 2)
    return Interval(est, est - z * se, est + z * se, se, jnp.zeros((0,), terms.dtype))


class PairedTest(NamedTuple):
    difference: Array  # () estimate(a) − estimate(b) on the full data
    lower: Array
    upper: Array
    p_value: Array  # two-sided bootstrap p-value of "no difference"


def paired_bootstrap(statistic_a: Callable, statistic_b: Callable, data: Any, key: Array,
                     n_boot: int = 1000, alpha: float = 0.05,
                     batch_size: int = 10) -> PairedTest:
    """Difference of two estimates on the same resamples, with a two-sided p-value.

    The p-value is 2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0)) over the bootstrap replicates Δ*
    (capped at 1), the usual percentile-bootstrap test of a zero difference.
    """
    both = lambda d: jnp.stack([statistic_a(d), statistic_b(d)])
    reps = bootstrap_replicates(both, data, key, n_boot, batch_size)
    diff = reps[:, 0] - reps[:, 1]
    full = both(data)
    lo, hi = jnp.quantile(diff, jnp.array([alpha / 2, 1 - alpha / 2]))
    p = jnp.minimum(1.0, 2 * jnp.minimum(jnp.mean(diff <= 0), jnp.mean(diff >= 0)))
    return PairedTest(full[0] - full[1], lo, hi, p)
