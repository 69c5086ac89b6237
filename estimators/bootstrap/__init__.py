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

Modules: :mod:`~estimators.bootstrap.counts` (resample counts),
:mod:`~estimators.bootstrap.linear` (statistics linear in the counts),
:mod:`~estimators.bootstrap.replicates` (replicates, intervals, the paired test).
"""

from estimators.bootstrap.counts import (
    multinomial_counts,
    multinomial_counts_batch,
    poisson_counts,
    resample_indices,
)
from estimators.bootstrap.replicates import (
    Interval,
    PairedTest,
    bootstrap,
    bootstrap_replicates,
    normal_interval,
    paired_bootstrap,
    paired_p_value,
    percentile_interval,
)

__all__ = [
    "Interval", "PairedTest", "bootstrap", "bootstrap_replicates", "multinomial_counts",
    "multinomial_counts_batch", "normal_interval", "paired_bootstrap", "paired_p_value",
    "percentile_interval", "poisson_counts", "resample_indices",
]
