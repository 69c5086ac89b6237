"""Bootstrap replicates of a statistic, and the intervals and paired test built on them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from envs.engine import backend
from estimators.bootstrap.counts import Counts, resample_indices
from estimators.bootstrap.linear import linear_in_count


class Interval(NamedTuple):
    estimate: Array  # () the estimate on the full data
    lower: Array  # ()
    upper: Array  # ()
    std_error: Array  # () standard deviation of the bootstrap replicates
    replicates: Array  # (n_boot,) or (n_boot, m) the bootstrap estimates


def bootstrap_replicates(statistic: Callable[[Any], Array], data: Any, key: Array,
                         n_boot: int = 1000, batch_size: int | None = None,
                         scheme: str = "multinomial") -> Array:
    """``statistic`` recomputed on ``n_boot`` row resamples of ``data``.

    Args:
        statistic: maps a pytree of (n, ...) arrays to an array (a scalar or a vector of
            several estimates, which then share each resample).
        data: pytree whose leaves all have n rows.
        key: PRNG key; resample b uses ``fold_in(key, b)``, so the replicates do not
            depend on ``batch_size`` or on the number of devices.
        batch_size: resamples per batch; None: the backend's
            (:func:`envs.engine.backend.bootstrap_batch`: 10 on CPU, by memory on an
            accelerator).
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
    if batch_size is None:
        n = jax.tree_util.tree_leaves(data)[0].shape[0]
        batch_size = backend.bootstrap_batch(backend.backend_of(jax.local_devices()), n)
    return _replicates(statistic, data, key, n_boot, batch_size, scheme)


@partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _replicates(statistic: Callable, data: Any, key: Array, n_boot: int, batch_size: int,
                scheme: str) -> Array:
    """:func:`bootstrap_replicates`, compiled as one program when called eagerly."""
    from estimators.ope import Rows

    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    if isinstance(data, Rows):
        run = _counted(statistic, data, key, Counts.make(n, scheme))
    else:
        run = _gathered(statistic, data, key, n)
    return _over_devices(run, n_boot, batch_size)


def _gathered(statistic: Callable, data: Any, key: Array, n: int) -> Callable:
    """Batches of resamples as gathered rows: (n_batches, B) resample numbers -> stats."""

    def one(b):
        idx = resample_indices(jax.random.fold_in(key, b), n)
        return statistic(jax.tree_util.tree_map(lambda x: x[idx], data))

    return lambda ids: jax.lax.map(jax.vmap(one), ids)


def _counted(statistic: Callable, data: Any, key: Array, plan: Counts) -> Callable:
    """Batches of resamples as count vectors: (n_batches, B) resample numbers -> stats.

    When the statistic reads the counts only through count-weighted sums
    (:func:`linear_in_count`), a batch is two matrix products of its packed counts with
    the summed vectors, and its counts are never formed; otherwise the statistic is
    vectorised over the batch's count vectors. A batch's counts are drawn in the
    previous step of the loop and carried: XLA:CPU would otherwise fuse the hash into
    each reader of its packed counts and compute it once per reader.
    """
    dtype = data.reward.dtype
    linear = linear_in_count(statistic, data)
    if linear is None:
        def stats(keys, drawn):
            c = plan.batch(keys, drawn, dtype)
            c = c if data.count is None else c * data.count
            return jax.vmap(lambda ci: statistic(data._replace(count=ci)))(c)
    else:
        X, finish = linear
        X = X if data.count is None else X * data.count[:, None]
        X = jnp.concatenate([X, jnp.ones((plan.n, 1), dtype)], 1)
        halves = plan.halves(X)
        stats = lambda keys, drawn: jax.vmap(finish)(
            plan.weighted(keys, drawn, X, halves)[:, :-1])

    def run(ids):
        keys = jax.vmap(jax.vmap(lambda b: jax.random.fold_in(key, b)))(ids)
        draw = jax.vmap(plan.draw)

        def step(drawn, i):
            nxt = draw(keys[jnp.minimum(i + 1, len(ids) - 1)])
            return nxt, stats(keys[i], drawn)

        return jax.lax.scan(step, draw(keys[0]), jnp.arange(len(ids)))[1]

    return run


def _over_devices(run: Callable[[Array], Array], n_boot: int, batch_size: int) -> Array:
    """``run`` over resamples 0..n_boot−1 in batches, the batches split over devices."""
    devices = jax.local_devices()
    n_dev = len(devices) if n_boot >= len(devices) * batch_size else 1
    step = n_dev * batch_size
    n_pad = -(-n_boot // step) * step  # extra resamples are computed and dropped
    ids = jnp.arange(n_pad).reshape(-1, batch_size)

    def run_batches(ids):
        out = run(ids)
        return out.reshape((-1,) + out.shape[2:])

    if n_dev == 1:
        return run_batches(ids)[:n_boot]
    # one loop runs on about one core: split the resamples over the host's devices
    mesh = Mesh(np.array(devices), ("boot",))
    sharded = jax.shard_map(run_batches, mesh=mesh, in_specs=P("boot"), out_specs=P("boot"),
                            check_vma=False)
    return sharded(ids)[:n_boot]


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
    return PairedTest(full[0] - full[1], lo, hi, paired_p_value(diff))


def paired_p_value(differences: Array, xp=jnp) -> Array:
    """Two-sided bootstrap p-value of "no difference": 2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0)),
    capped at 1.

    Args:
        differences: (n_boot,) paired bootstrap replicates Δ* of a difference.
        xp: the array namespace computing it: ``jax.numpy`` (traceable) or ``numpy``
            (host arrays, in float64).
    """
    return xp.minimum(1.0, 2 * xp.minimum(xp.mean(differences <= 0),
                                          xp.mean(differences >= 0)))
