"""Bootstrap: each replicate is the estimator recomputed on an explicit row resample."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # noqa: F401
from estimators import bootstrap as bs
from estimators import ope
from estimators.bootstrap import counts as bs_counts
from estimators.bootstrap import linear as bs_linear


def _rows(n=2000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    pi_b = rng.dirichlet(np.ones(k), n)
    a = (rng.random(n)[:, None] > np.cumsum(pi_b, 1)).sum(1).clip(0, k - 1)
    r = rng.random(n) < 0.3
    return ope.rows(r.astype(np.float32), a, pi_b[np.arange(n), a].astype(np.float32),
                    rng.dirichlet(np.ones(k), n).astype(np.float32),
                    rng.random((n, k)).astype(np.float32))


def test_replicates_recompute_the_whole_estimator():
    """Replicate b is the estimator on the rows that resample b drew (row i repeated
    count_i times), self-normalisation included."""
    rows = _rows()
    key = jax.random.key(7)
    stat = lambda r: jnp.stack([ope.snipw(r).value, ope.sndr(r).value])
    reps = bs.bootstrap_replicates(stat, rows, key, n_boot=6, batch_size=4)
    draws = jax.jit(jax.vmap(lambda b: bs.multinomial_counts(jax.random.fold_in(key, b), 2000)))
    for b, counts in enumerate(np.asarray(draws(jnp.arange(6)))):
        idx = np.repeat(np.arange(2000), counts.astype(int))
        assert len(idx) == 2000
        sub = jax.tree_util.tree_map(lambda x: x[idx], rows)
        np.testing.assert_allclose(reps[b], stat(sub), rtol=1e-5)


@pytest.mark.parametrize("n, lam", [(3, 1.0), (4, 0.5)])
def test_multinomial_counts_are_exactly_multinomial(n, lam):
    """All three construction paths (Poisson + added draws, Poisson − removed draws, and
    the plain scatter) together give Multinomial(n, 1/n): a chi-square test over every
    possible count vector (20,000 draws; fails with probability 1e-4 if correct)."""
    import itertools
    import math

    from scipy import stats

    keys = jax.random.split(jax.random.key(n), 20_000)
    c = np.asarray(jax.jit(jax.vmap(lambda k: bs.multinomial_counts(k, n, lam=lam)))(keys))
    assert (c.sum(1) == n).all()
    vectors = [v for v in itertools.product(range(n + 1), repeat=n) if sum(v) == n]
    pmf = np.array([math.factorial(n) / np.prod([math.factorial(x) for x in v]) / n**n
                    for v in vectors])
    seen = {v: 0 for v in vectors}
    for row in c.astype(int):
        seen[tuple(row)] += 1
    observed = np.array([seen[v] for v in vectors])
    assert stats.chisquare(observed, pmf * len(c)).pvalue > 1e-4


def test_multinomial_counts_large_n_and_fallback():
    """At n = 5,000 (λ = 1 − 8/√n) and with λ forcing the full-scatter fallback, counts sum
    to n and a cell's count follows Binomial(n, 1/n) (chi-square over 0..4+)."""
    from scipy import stats

    n = 5000
    for lam in (None, 0.01):
        keys = jax.random.split(jax.random.key(3), 40)
        c = np.asarray(jax.jit(jax.vmap(lambda k: bs.multinomial_counts(k, n, lam=lam)))(keys))
        assert (c.sum(1) == n).all()
        observed = np.bincount(np.minimum(c.astype(int).ravel(), 4), minlength=5)
        p = stats.binom.pmf(np.arange(4), n, 1 / n)
        expected = np.append(p, 1 - p.sum()) * c.size
        assert stats.chisquare(observed, expected).pvalue > 1e-4, (lam, observed, expected)


@pytest.mark.parametrize("scheme", ["multinomial", "poisson"])
def test_batch_size_does_not_change_replicates(scheme):
    rows = _rows()
    stat = lambda r: ope.dr(r).value
    a = bs.bootstrap_replicates(stat, rows, jax.random.key(1), 20, batch_size=1, scheme=scheme)
    b = bs.bootstrap_replicates(stat, rows, jax.random.key(1), 20, batch_size=10,
                                scheme=scheme)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_interval_width_matches_normal_theory():
    """For IPW (a plain mean) the bootstrap std error approaches sd/√n."""
    rows = _rows(n=4000)
    iv = bs.bootstrap(lambda r: ope.ipw(r).value, rows, jax.random.key(0), n_boot=1000)
    nv = bs.normal_interval(ope.ipw(rows).terms)
    # the bootstrap SE of a mean has relative MC error ≈ 1/√(2·1000) ≈ 2.2%
    assert float(iv.std_error) == pytest.approx(float(nv.std_error), rel=0.1)
    assert float(iv.lower) < float(iv.estimate) < float(iv.upper)


def test_paired_bootstrap_detects_a_real_difference():
    rows = _rows(n=4000)
    lifted = rows._replace(reward=rows.reward + 0.05)
    same = bs.paired_bootstrap(lambda r: ope.ipw(r).value, lambda r: ope.ipw(r).value, rows,
                               jax.random.key(0), n_boot=200)
    assert float(same.difference) == 0.0 and float(same.p_value) == 1.0
    data = (rows, lifted)
    diff = bs.paired_bootstrap(lambda d: ope.dm(d[1]).value + jnp.mean(d[1].reward),
                               lambda d: ope.dm(d[0]).value + jnp.mean(d[0].reward), data,
                               jax.random.key(0), n_boot=200)
    assert float(diff.difference) == pytest.approx(0.05, rel=1e-4)
    assert float(diff.p_value) < 0.01 and float(diff.lower) > 0


def test_poisson_scheme_counts_and_agrees_with_multinomial():
    c = np.asarray(bs.poisson_counts(jax.random.key(0), 200_000))
    assert abs(c.mean() - 1) < 0.01 and abs(c.var() - 1) < 0.02  # Poisson(1)
    assert abs((c == 0).mean() - np.exp(-1)) < 0.005
    rows = _rows(n=4000)
    stat = lambda r: ope.snipw(r).value
    multi = bs.bootstrap(stat, rows, jax.random.key(1), n_boot=1000)
    pois = bs.bootstrap(stat, rows, jax.random.key(1), n_boot=1000, scheme="poisson")
    assert float(pois.std_error) == pytest.approx(float(multi.std_error), rel=0.12)
    with pytest.raises(ValueError, match="scheme"):
        bs.bootstrap(stat, rows, jax.random.key(1), scheme="wild")


def test_poisson_table_is_the_poisson_pmf():
    """The inverse-CDF table's implied probabilities are the Poisson pmf to within 2⁻³²
    (each threshold is rounded to the nearest multiple of 2⁻³²; the last count takes the
    whole upper tail, whose remainder is below 2⁻³³)."""
    import math

    from scipy import stats

    for lam in (1.0, 1 - 6 / math.sqrt(100_000), 0.3):
        t = np.array([0, *bs_counts.poisson_thresholds(lam), 2**32], dtype=float)
        p = np.diff(t) / 2**32  # P(count = j), j = 0..len(table)
        j = np.arange(len(p))
        exact = stats.poisson.pmf(j, lam)
        exact[-1] = stats.poisson.sf(j[-1] - 1, lam)
        assert np.abs(p - exact).max() <= 1.01 * 2**-32, lam


def test_count_above_matches_unsigned_comparisons():
    """The sign-flipped int32 comparisons count exactly the thresholds ≤ bits, at the
    edges of the uint32 range and on either side of every threshold."""
    th = bs_counts.poisson_thresholds(1.0)
    edges = [0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1]
    bits = np.array(edges + [t + d for t in th for d in (-1, 0, 1)], np.int64).clip(0, 2**32 - 1)
    expect = (bits[:, None] >= np.array(th)[None]).sum(1)
    got = jax.jit(lambda b: bs_counts.count_above(b, th))(jnp.asarray(bits.astype(np.uint32)))
    np.testing.assert_array_equal(np.asarray(got), expect)


def test_poisson_counts_distribution():
    """2,000,001 counts (odd n: the last word's high half is not a row): mean 1 and
    variance 1 within 5 standard errors (sd of the mean 1/√n, of the variance √(3/n) for
    Poisson(1)), and the frequencies of 0..5 and 6+ by chi-square (fails with
    probability 1e-4 if the counts are Poisson(1))."""
    from scipy import stats

    n = 2_000_001
    c = np.asarray(jax.jit(lambda k: bs.poisson_counts(k, n))(jax.random.key(11)))
    assert c.shape == (n,) and c.dtype == np.float32
    assert abs(c.mean() - 1) < 5 / np.sqrt(n)
    assert abs(c.var() - 1) < 5 * np.sqrt(3 / n)
    observed = np.bincount(np.minimum(c.astype(int), 6), minlength=7)
    p = stats.poisson.pmf(np.arange(6), 1.0)
    assert stats.chisquare(observed, np.append(p, 1 - p.sum()) * n).pvalue > 1e-4


def test_multinomial_counts_moments_and_sum():
    """20 vectorised resamples of n = 100,001 rows: each sums to exactly n, and a cell's
    count follows Binomial(n, 1/n): variance 1 − 1/n within 5 standard errors (√(3/N)
    over the N = 20n cells; it cannot tell 1 − 1/n from 1) and frequencies of 0..4, 5+
    by chi-square (fails with probability 1e-4 if correct)."""
    from scipy import stats

    n = 100_001
    keys = jax.random.split(jax.random.key(5), 20)
    c = np.asarray(jax.jit(lambda k: bs.multinomial_counts_batch(k, n))(keys))
    assert (c.sum(1) == n).all()
    assert abs(c.var() - (1 - 1 / n)) < 5 * np.sqrt(3 / c.size)
    observed = np.bincount(np.minimum(c.astype(int).ravel(), 5), minlength=6)
    p = stats.binom.pmf(np.arange(5), n, 1 / n)
    assert stats.chisquare(observed, np.append(p, 1 - p.sum()) * c.size).pvalue > 1e-4


@pytest.mark.parametrize("n, lam", [(4, 1.0), (1001, None), (1001, 1.0), (1000, 0.01)])
def test_vectorised_paths_equal_the_exact_path(n, lam):
    """The vectorised completion, its redo of the resamples it does not fit (λ = 1: S > n
    half the time; λ = 0.01: a shortfall above the budget) and the weighted sums that
    never form the counts all give the counts of the one-resample exact path."""
    plan = bs_counts.Counts.make(n, "multinomial", lam)
    keys = jax.random.split(jax.random.key(n), 200)
    X = jnp.concatenate([jax.random.normal(jax.random.key(1), (n, 3)), jnp.ones((n, 1))], 1)

    @jax.jit
    def run(keys):
        drawn = jax.vmap(plan.draw)(keys)
        return (plan.batch(keys, drawn, jnp.float32),
                plan.weighted(keys, drawn, X, plan.halves(X)),
                jax.vmap(lambda k: plan.one(k, jnp.float32))(keys))

    batch, weighted, one = (np.asarray(a) for a in run(keys))
    np.testing.assert_array_equal(batch, one)
    assert (batch.sum(1) == n).all()
    np.testing.assert_allclose(weighted, batch @ np.asarray(X), rtol=1e-5, atol=1e-4)


def test_every_registered_estimator_takes_the_weighted_path():
    """Every estimator of the registry reads the counts only through weighted sums (so
    studies and the gate never form count vectors); a statistic that does not is
    recognised and takes the vectorised path."""
    from estimators import registry

    rows = _rows(n=300)
    for name in registry.names():
        f = registry.make(name)
        assert bs_linear.linear_in_count(lambda r, f=f: f(r).value, rows) is not None, name
    assert bs_linear.linear_in_count(lambda r: jnp.sum(r.count**2), rows) is None
    assert bs_linear.linear_in_count(lambda r: jnp.mean(r.reward), rows) is None


@pytest.mark.parametrize("scheme", ["multinomial", "poisson"])
def test_both_paths_recompute_the_estimator_on_the_counts(scheme):
    """Replicate b equals the statistic on resample b's counts, on the weighted path and
    on the vectorised one (a statistic squaring the counts), with frequency weights in
    the data and an odd number of rows."""
    n = 1001
    rows = _rows(n=n)._replace(count=jnp.asarray(np.random.default_rng(1).integers(1, 3, n),
                                                 jnp.float32))
    key = jax.random.key(9)
    linear = lambda r: jnp.stack([ope.snipw(r).value, ope.dr(r).value])
    other = lambda r: jnp.stack([ope.ipw(r).value, jnp.sum(r.count**2) / n])
    plan = bs_counts.Counts.make(n, scheme)
    counts = jax.jit(jax.vmap(lambda b: plan.one(jax.random.fold_in(key, b), jnp.float32)))(
        jnp.arange(8))
    for stat in (linear, other):
        reps = bs.bootstrap_replicates(stat, rows, key, 8, batch_size=3, scheme=scheme)
        want = jax.vmap(lambda c, s=stat: s(rows._replace(count=c * rows.count)))(counts)
        np.testing.assert_allclose(reps, want, rtol=2e-5)
