"""Bootstrap: each replicate is the estimator recomputed on an explicit row resample."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # noqa: F401
from estimators import bootstrap as bs
from estimators import ope


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
    for b in range(6):
        counts = np.asarray(bs.multinomial_counts(jax.random.fold_in(key, b), 2000))
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


def test_batch_size_does_not_change_replicates():
    rows = _rows()
    stat = lambda r: ope.dr(r).value
    a = bs.bootstrap_replicates(stat, rows, jax.random.key(1), 20, batch_size=1)
    b = bs.bootstrap_replicates(stat, rows, jax.random.key(1), 20, batch_size=10)
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
