"""How often each row is drawn in a bootstrap resample, without drawing n indices.

Counts are Poisson draws by inverse CDF on 32-bit words, two per Threefry hash;
multinomial counts (:func:`multinomial_counts`) complete Poisson counts to exactly n
draws, so only a few thousand indices are drawn per resample instead of n. Row indices
are ``random.bits % n`` (the modulo bias is below n / 2³² and negligible).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.extend.random import threefry2x32_p


def resample_indices(key: Array, n: int, size: int | None = None) -> Array:
    """``size`` (default n) row indices in [0, n) drawn uniformly with replacement."""
    return (jax.random.bits(key, (n if size is None else size,)) % jnp.uint32(n)
            ).astype(jnp.int32)


def poisson_thresholds(lam: float) -> tuple[int, ...]:
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


def count_above(bits: Array, thresholds: tuple[int, ...]) -> Array:
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
    th = poisson_thresholds(lam)
    high = count_above(y, th)
    if n % 2:  # the last word's high half is not a row
        high = jnp.where(i < m - 1, high, 0)
    return count_above(x, th) | (high << 16)


def _unpack(packed: Array, n: int, dtype) -> Array:
    """The n counts of :func:`_packed_poisson` (row 2i: low half of word i, 2i+1: high)."""
    lo, hi = (packed & 0xFFFF).astype(dtype), (packed >> 16).astype(dtype)
    return jnp.stack([lo, hi], -1).reshape(packed.shape[:-1] + (-1,))[..., :n]


def _packed_total(packed: Array) -> Array:
    """The sum of the counts in :func:`_packed_poisson` words (int32, exact)."""
    return jnp.sum((packed & 0xFFFF) + (packed >> 16), axis=-1)


def _exact_total(dtype, n: int) -> bool:
    """Whether a float sum of n counts is exact in ``dtype``: a count is at most 12
    (:func:`poisson_thresholds`), so every partial sum is an integer below 16n."""
    d = jnp.dtype(dtype)
    return jnp.issubdtype(d, jnp.floating) and 16 * n < 2 ** (jnp.finfo(d).nmant + 1)


def poisson_counts(key: Array, n: int, dtype=jnp.float32, lam: float = 1.0) -> Array:
    """n i.i.d. Poisson(lam) multiplicities by inverse CDF on 32-bit random integers."""
    return _unpack(_packed_poisson(key, n, lam), n, dtype)


class Drawn(NamedTuple):
    """The random part of a batch of resamples (drawn a loop step ahead)."""

    packed: Array  # (B, ⌈n/2⌉) Poisson counts, two per word (:func:`_packed_poisson`)
    extra: Array  # (B, budget) row indices of the draws that complete a multinomial


class Counts(NamedTuple):
    """How one resample's counts are drawn (static).

    Poisson: i.i.d. Poisson(1). Multinomial: i.i.d. Poisson(λ) counts, λ = 1 − 6/√n,
    completed to exactly n draws (see :func:`multinomial_counts`).
    """

    n: int
    lam: float
    multinomial: bool
    budget: int  # most extra draws the vectorised completion adds

    @staticmethod
    def make(n: int, scheme: str = "multinomial", lam: float | None = None) -> Counts:
        if scheme == "poisson":
            return Counts(n, 1.0 if lam is None else lam, False, 0)
        lam = max(0.0, 1.0 - 6.0 / math.sqrt(n)) if lam is None else lam
        return Counts(n, lam, True, min(n, math.ceil(12 * math.sqrt(n)) + 64))

    def draw(self, key: Array) -> Drawn:
        """The random numbers of resample ``key``."""
        k_pois, k_add, _ = jax.random.split(key, 3)
        return Drawn(_packed_poisson(k_pois, self.n, self.lam),
                      resample_indices(k_add, self.n, self.budget))

    def batch(self, keys: Array, drawn: Drawn, dtype) -> Array:
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

    def weighted(self, keys: Array, drawn: Drawn, X: Array, halves: tuple[Array, Array]
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

    def exact(self, key: Array, drawn: Drawn, dtype) -> Array:
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
    return Counts.make(n, "multinomial", lam).one(key, dtype)


def multinomial_counts_batch(keys: Array, n: int, dtype=jnp.float32,
                             lam: float | None = None) -> Array:
    """:func:`multinomial_counts` of each key in ``keys`` (B,), as (B, n), vectorised.

    Resamples whose Poisson total the vectorised completion does not fit (~1e-9 of
    them) are recomputed one at a time; a resample's counts are the same either way.
    """
    plan = Counts.make(n, "multinomial", lam)
    return plan.batch(keys, jax.vmap(plan.draw)(keys), dtype)
