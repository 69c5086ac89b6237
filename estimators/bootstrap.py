"""Confidence intervals for off-policy estimates: vectorised bootstrap and normal approx.

The bootstrap resamples *rows* (with replacement) and recomputes the whole estimator on
each resample, self-normalisation included. Resamples run in batches (default 10 at a
time) in a loop split over the host's devices, so memory is O(batch · n) rather than
O(n_boot · n); row indices are ``random.bits % n`` (the modulo bias is below n / 2³² and
negligible).

For :class:`estimators.ope.Rows` the resample is applied as counts that every estimator
honours as frequency weights: the same resample as gathering the rows, without XLA:CPU's
slow gathers. Counts are Poisson draws by inverse CDF on 32-bit words, two per Threefry
hash; multinomial counts (:func:`multinomial_counts`) complete Poisson counts to exactly
n draws, so only a few thousand indices are drawn per resample instead of n. When the
statistic reads the counts only through count-weighted sums (every estimator of
:mod:`estimators.ope` does), a batch of resamples is two matrix products with the summed
vectors and its count vectors are never formed. Other pytrees are gathered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.extend import core as jcore
from jax.extend.core import primitives as prims
from jax.extend.random import threefry2x32_p
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

    Counts whose probability is below 2⁻³² (above 12 for lam ≤ 1) cannot occur, the
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


def _count_above(bits: Array, thresholds: tuple[int, ...]) -> Array:
    """#{t : bits ≥ t} for uint32 ``bits``, as int32.

    Compared as int32 after flipping the sign bit (an order-preserving map of uint32
    onto int32) and summed in int32: XLA:CPU vectorises these (6× faster here than
    float sums of unsigned comparisons).
    """
    s = jax.lax.bitcast_convert_type(bits ^ jnp.uint32(2**31), jnp.int32)
    count = jnp.zeros(bits.shape, jnp.int32)
    for t in thresholds:
        count = count + (s >= jnp.int32(t - 2**31)).astype(jnp.int32)
    return count


def _packed_poisson(key: Array, n: int, lam: float) -> Array:
    """n i.i.d. Poisson(lam) counts, two per int32 (bits 0–15 and 16–31), (⌈n/2⌉,).

    One Threefry-2x32 hash gives two 32-bit words, each turned into a count by inverse
    CDF; the hash key is two words drawn from ``key`` (any PRNG implementation) and hash
    i encrypts the counter (0, i). Both counts go into one output word because XLA
    computes a fusion per output element: a hash feeding two output elements would be
    computed twice.
    """
    m = -(-n // 2)
    if lam <= 0:
        return jnp.zeros((m,), jnp.int32)
    k = jax.random.bits(key, (2,), jnp.uint32)
    i = jnp.arange(m, dtype=jnp.uint32)
    x, y = threefry2x32_p.bind(jnp.broadcast_to(k[0], (m,)), jnp.broadcast_to(k[1], (m,)),
                               jnp.zeros_like(i), i)
    th = _poisson_thresholds(lam)
    high = _count_above(y, th)
    if n % 2:  # the last word's high half is not a row
        high = jnp.where(i < m - 1, high, 0)
    return _count_above(x, th) | (high << 16)


def _unpack(packed: Array, n: int, dtype) -> Array:
    """The n counts of :func:`_packed_poisson` (row 2i: low half of word i, 2i+1: high)."""
    lo, hi = (packed & 0xFFFF).astype(dtype), (packed >> 16).astype(dtype)
    return jnp.stack([lo, hi], -1).reshape(packed.shape[:-1] + (-1,))[..., :n]


def _packed_total(packed: Array) -> Array:
    """The sum of the counts in :func:`_packed_poisson` words (int32, exact)."""
    return jnp.sum((packed & 0xFFFF) + (packed >> 16), axis=-1)


def _exact_total(dtype, n: int) -> bool:
    """Whether a float sum of n counts is exact in ``dtype``: a count is at most 12
    (:func:`_poisson_thresholds`), so every partial sum is an integer below 16n."""
    d = jnp.dtype(dtype)
    return jnp.issubdtype(d, jnp.floating) and 16 * n < 2 ** (jnp.finfo(d).nmant + 1)


def poisson_counts(key: Array, n: int, dtype=jnp.float32, lam: float = 1.0) -> Array:
    """n i.i.d. Poisson(lam) multiplicities by inverse CDF on 32-bit random integers."""
    return _unpack(_packed_poisson(key, n, lam), n, dtype)


class _Drawn(NamedTuple):
    """The random part of a batch of resamples (drawn a loop step ahead)."""

    packed: Array  # (B, ⌈n/2⌉) Poisson counts, two per word (:func:`_packed_poisson`)
    extra: Array  # (B, budget) row indices of the draws that complete a multinomial


class _Counts(NamedTuple):
    """How one resample's counts are drawn (static).

    Poisson: i.i.d. Poisson(1). Multinomial: i.i.d. Poisson(λ) counts, λ = 1 − 6/√n,
    completed to exactly n draws (see :func:`multinomial_counts`).
    """

    n: int
    lam: float
    multinomial: bool
    budget: int  # most extra draws the vectorised completion adds

    @staticmethod
    def make(n: int, scheme: str = "multinomial", lam: float | None = None) -> _Counts:
        if scheme == "poisson":
            return _Counts(n, 1.0 if lam is None else lam, False, 0)
        lam = max(0.0, 1.0 - 6.0 / math.sqrt(n)) if lam is None else lam
        return _Counts(n, lam, True, min(n, math.ceil(12 * math.sqrt(n)) + 64))

    def draw(self, key: Array) -> _Drawn:
        """The random numbers of resample ``key``."""
        k_pois, k_add, _ = jax.random.split(key, 3)
        return _Drawn(_packed_poisson(k_pois, self.n, self.lam),
                      resample_indices(k_add, self.n, self.budget))

    def batch(self, keys: Array, drawn: _Drawn, dtype) -> Array:
        """(B, n) counts of resamples ``keys`` (B,) from their ``draw``s."""
        base = _unpack(drawn.packed, self.n, dtype)
        if not self.multinomial:
            return base
        if _exact_total(dtype, self.n):  # a mat-vec: one pass, unlike XLA:CPU's reductions
            total = jnp.dot(base, jnp.ones(self.n, dtype)).astype(jnp.int32)
        else:
            total = _packed_total(drawn.packed)
        counts = jax.vmap(self._add)(base, drawn.extra, total)
        return self._redo(keys, drawn, total, counts, lambda c: c)

    def halves(self, X: Array) -> tuple[Array, Array]:
        """X's rows that the low and the high halves of the packed words count."""
        pairs = jnp.pad(X, ((0, 2 * (-(-self.n // 2)) - self.n), (0, 0)))
        pairs = pairs.reshape(-1, 2, X.shape[1])
        return pairs[:, 0], pairs[:, 1]

    def weighted(self, keys: Array, drawn: _Drawn, X: Array, halves: tuple[Array, Array]
                 ) -> Array:
        """(B, k) ``counts @ X`` of resamples ``keys`` without forming their counts.

        ``X`` (n, k) must end with a column of ones (it gives the Poisson totals);
        ``halves`` is ``self.halves(X)``. The low and high halves of the packed words
        multiply X's even and odd rows; a multinomial resample's extra draws add their
        rows of X.
        """
        dtype = X.dtype
        lo, hi = ((drawn.packed & 0xFFFF).astype(dtype), (drawn.packed >> 16).astype(dtype))
        y = lo @ halves[0] + hi @ halves[1]
        if not self.multinomial:
            return y
        exact = _exact_total(dtype, self.n)
        total = y[:, -1].astype(jnp.int32) if exact else _packed_total(drawn.packed)
        live = jnp.arange(self.budget) < (self.n - total)[:, None]
        y = y + jnp.sum(jnp.where(live[..., None], X[drawn.extra], 0), 1)
        return self._redo(keys, drawn, total, y, lambda c: c @ X)

    def _redo(self, keys, drawn, total, out, of_counts):
        """``out`` with the resamples the vectorised completion did not fit (S > n, or a
        shortfall above the budget: ~1e-9 each) recomputed one at a time."""

        def redo(state):
            out, bad = state
            i = jnp.argmax(bad)
            c = self.exact(keys[i], jax.tree_util.tree_map(lambda x: x[i], drawn), out.dtype)
            return out.at[i].set(of_counts(c)), bad.at[i].set(False)

        ok = (total <= self.n) & (self.n - total <= self.budget)
        return jax.lax.while_loop(lambda s: jnp.any(s[1]), redo, (out, ~ok))[0]

    def _add(self, base: Array, extra: Array, total: Array) -> Array:
        """``base`` plus the first n − total ``extra`` draws (needs n − total ≤ budget)."""
        live = (jnp.arange(self.budget) < self.n - total).astype(base.dtype)
        return base.at[extra].add(live)

    def one(self, key: Array, dtype) -> Array:
        """The counts of resample ``key`` whatever its Poisson total (the exact path)."""
        return self.exact(key, self.draw(key), dtype)

    def exact(self, key: Array, drawn: _Drawn, dtype) -> Array:
        """:meth:`one` given the resample's ``draw``."""
        base, total = _unpack(drawn.packed, self.n, dtype), _packed_total(drawn.packed)
        if not self.multinomial:
            return base
        _, k_add, k_cut = jax.random.split(key, 3)
        n = self.n

        def scatter_all(c):
            return jnp.zeros(n, dtype).at[resample_indices(k_add, n)].add(1)

        def remove(c):
            def drop(j, c):  # remove one of the remaining draws, uniformly
                cum = jnp.cumsum(c.astype(jnp.int32))
                u = jax.random.bits(jax.random.fold_in(k_cut, j), (), jnp.uint32)
                r = (u % cum[-1].astype(jnp.uint32)).astype(jnp.int32)
                return c.at[jnp.searchsorted(cum, r, side="right")].add(-1)

            return jax.lax.fori_loop(0, total - n, drop, c)

        branch = jnp.where(total > n, 2, jnp.where(n - total > self.budget, 0, 1))
        return jax.lax.switch(branch, [scatter_all,
                                       lambda c: self._add(c, drawn.extra, total), remove],
                              base)


def multinomial_counts(key: Array, n: int, dtype=jnp.float32, lam: float | None = None
                       ) -> Array:
    """How often each of n rows is drawn in n draws with replacement: Multinomial(n, 1/n).

    Scattering n drawn indices is slow on CPU, so the counts are built from i.i.d.
    Poisson(λ) counts, λ = 1 − 6/√n: given their total S they are Multinomial(S, 1/n), so
    adding n − S more uniform draws (~6√n indices) gives exactly Multinomial(n, 1/n).
    S > n (probability ~1e-9) removes S − n of the S draws uniformly at random, one at a
    time, which is exact too; a shortfall above the static budget of 12√n + 64 draws
    (probability ~1e-9) scatters n fresh draws instead. The Poisson draws are exact to
    the 2⁻³² resolution of their inverse-CDF table. ``lam`` overrides λ (for tests).
    """
    return _Counts.make(n, "multinomial", lam).one(key, dtype)


def multinomial_counts_batch(keys: Array, n: int, dtype=jnp.float32,
                             lam: float | None = None) -> Array:
    """:func:`multinomial_counts` of each key in ``keys`` (B,), as (B, n), vectorised.

    Resamples whose Poisson total the vectorised completion does not fit (~1e-9 of
    them) are recomputed one at a time; a resample's counts are the same either way.
    """
    plan = _Counts.make(n, "multinomial", lam)
    return plan.batch(keys, jax.vmap(plan.draw)(keys), dtype)


def bootstrap_replicates(statistic: Callable[[Any], Array], data: Any, key: Array,
                         n_boot: int = 1000, batch_size: int = 10,
                         scheme: str = "multinomial") -> Array:
    """``statistic`` recomputed on ``n_boot`` row resamples of ``data``.

    Args:
        statistic: maps a pytree of (n, ...) arrays to an array (a scalar or a vector of
            several estimates, which then share each resample).
        data: pytree whose leaves all have n rows.
        key: PRNG key; resample b uses ``fold_in(key, b)``, so the replicates do not
            depend on ``batch_size`` or on the number of devices.
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
    return _replicates(statistic, data, key, n_boot, batch_size, scheme)


@partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _replicates(statistic: Callable, data: Any, key: Array, n_boot: int, batch_size: int,
                scheme: str) -> Array:
    """:func:`bootstrap_replicates`, compiled as one program when called eagerly."""
    from estimators.ope import Rows

    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    if isinstance(data, Rows):
        run = _counted(statistic, data, key, _Counts.make(n, scheme))
    else:
        run = _gathered(statistic, data, key, n)
    return _over_devices(run, n_boot, batch_size)


def _gathered(statistic: Callable, data: Any, key: Array, n: int) -> Callable:
    """Batches of resamples as gathered rows: (n_batches, B) resample numbers -> stats."""

    def one(b):
        idx = resample_indices(jax.random.fold_in(key, b), n)
        return statistic(jax.tree_util.tree_map(lambda x: x[idx], data))

    return lambda ids: jax.lax.map(jax.vmap(one), ids)


def _counted(statistic: Callable, data: Any, key: Array, plan: _Counts) -> Callable:
    """Batches of resamples as count vectors: (n_batches, B) resample numbers -> stats.

    When the statistic reads the counts only through count-weighted sums
    (:func:`_linear_in_count`), a batch is two matrix products of its packed counts with
    the summed vectors, and its counts are never formed; otherwise the statistic is
    vectorised over the batch's count vectors. A batch's counts are drawn in the
    previous step of the loop and carried: XLA:CPU would otherwise fuse the hash into
    each reader of its packed counts and compute it once per reader.
    """
    dtype = data.reward.dtype
    linear = _linear_in_count(statistic, data)
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


def _linear_in_count(statistic: Callable, data: Any) -> tuple[Array, Callable] | None:
    """``(X, finish)`` with ``statistic(data with count c) == finish(c @ X)`` for every c.

    Holds when the statistic's traced program reads the count only through sums and
    dot products with vectors that do not depend on it (as :func:`estimators.ope.wmean`
    does): X (n, k) stacks those vectors, computed once, and a batch of resamples needs
    one matrix product instead of one pass over its counts per sum. Returns None for
    any other use of the count.
    """
    n, dtype = data.reward.shape[0], data.reward.dtype
    closed, out_shape = jax.make_jaxpr(lambda c: statistic(data._replace(count=c)),
                                       return_shape=True)(jnp.zeros(n, dtype))
    jaxpr = closed.jaxpr
    (count,) = jaxpr.invars
    env = dict(zip(jaxpr.constvars, closed.consts))
    columns, column_of, late, derived = [], {}, [], set()
    for eqn in jaxpr.eqns:
        ins = [v for v in eqn.invars if not isinstance(v, jcore.Literal)]
        if any(v is count for v in ins):
            vector = _summed_against(eqn, count, env)
            if vector is None:
                return None
            if not any(c is vector for c in columns):  # one column per distinct vector
                columns.append(vector)
            column_of[eqn.outvars[0]] = next(j for j, c in enumerate(columns) if c is vector)
            derived.add(eqn.outvars[0])
        elif any(v in derived for v in ins):
            late.append(eqn)
            derived.update(eqn.outvars)
        else:
            env.update(zip(eqn.outvars, _bind(eqn, [_read(env, v) for v in eqn.invars])))
    if any(v is count for v in jaxpr.outvars) or not columns:
        return None
    X = jnp.stack([jnp.ones(n, dtype) if c is _ONES else env[c].astype(dtype) for c in columns],
                  1)

    def finish(y):
        local = dict(env)
        for v, j in column_of.items():
            local[v] = y[j].astype(v.aval.dtype)
        for eqn in late:
            local.update(zip(eqn.outvars, _bind(eqn, [_read(local, v) for v in eqn.invars])))
        outs = [_read(local, v) for v in jaxpr.outvars]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), outs)

    return X, finish


_ONES = object()  # the column of ones: Σ count


def _summed_against(eqn, count, env) -> Any:
    """For an equation reading the count: ``_ONES`` for Σ count, the vector var x for
    count · x (x not depending on the count), else None."""
    if eqn.primitive is prims.reduce_sum_p and tuple(eqn.params["axes"]) == (0,):
        return _ONES
    if eqn.primitive is not prims.dot_general_p:
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    a, b = eqn.invars
    other = b if a is count else a
    if (a is count) == (b is count) or lb or rb or tuple(lc) != (0,) or tuple(rc) != (0,):
        return None
    if isinstance(other, jcore.Literal) or other not in env or other.aval.ndim != 1:
        return None
    return other


def _read(env: dict, v) -> Any:
    return v.val if isinstance(v, jcore.Literal) else env[v]


def _bind(eqn, args: list) -> list:
    """Evaluates one jaxpr equation on ``args``; its outputs as a list."""
    params = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = params if isinstance(params, tuple) else ((), params)
    out = eqn.primitive.bind(*subfuns, *args, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


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
    p = jnp.minimum(1.0, 2 * jnp.minimum(jnp.mean(diff <= 0), jnp.mean(diff >= 0)))
    return PairedTest(full[0] - full[1], lo, hi, p)
