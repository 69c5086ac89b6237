"""Every estimator as sums over rows, so a log split into partitions is estimated by
adding the partitions' sums.

Each estimator's value is Σ_j (Σ_i c_i num_ij) / (Σ_i c_i den_ij) over one or more
(numerator, denominator) pairs of per-row vectors, with c_i a row's count (1, or its
multiplicity in a bootstrap resample). An estimator that is a mean of per-row terms
(IPW, DM, DR, Switch-DR, DRos, the sub-Gaussian ones) is the one pair (terms, 1), its
terms those of :mod:`estimators.ope`; the self-normalised ones and replay have their
own pairs. The logging policy's value is the pair (reward, 1).

:func:`columns` stacks every pair's vectors into one (n, S) matrix of a :class:`Layout`;
:func:`values` turns the column sums (or a (B, S) matrix of per-resample sums) into
values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from estimators import ope
from estimators import registry as est_registry

LOGGING = "logging"  # the layout's name for the logging policy's mean reward


def _replay(r: ope.Rows, **_) -> list:
    match = (r.target_prob == 1.0).astype(r.reward.dtype)
    return [(match * r.reward, match)]


def _snipw(r: ope.Rows, **_) -> list:
    w = ope.importance_weights(r)
    return [(w * r.reward, w)]


def _sndr(r: ope.Rows, **_) -> list:
    w = ope.importance_weights(r)
    return [(r.q_target, None), (w * (r.reward - r.q_factual), w)]


# estimators that are not a plain mean of per-row terms; None stands for 1 (the count)
RATIOS = {"replay": _replay, "snipw": _snipw, "sndr": _sndr}
EMPTY_IS_ZERO = {"replay"}  # no matching row: 0 (obp's convention), not 0/0


class Layout(NamedTuple):
    """Which columns of the (n, S) matrix hold each estimator's pairs: ``pairs[name]``
    is a tuple of (numerator column, denominator column); column 0 is the count."""

    names: tuple[str, ...]
    pairs: tuple[tuple[tuple[int, int], ...], ...]
    width: int


def _pairs_of(name: str, hyper: Mapping[str, float], rows: ope.Rows) -> list:
    """The (numerator, denominator or None) vectors of one estimator on ``rows``."""
    if name == LOGGING:
        return [(rows.reward, None)]
    if name in RATIOS:
        return RATIOS[name](rows, **hyper)
    return [(est_registry.bind(name, **hyper)(rows).terms, None)]


def columns(estimators: Mapping[str, Mapping[str, float]], rows: ope.Rows
            ) -> tuple[jnp.ndarray, Layout]:
    """(n, S) the per-row vectors of every estimator's pairs (and the logging value's,
    under ``LOGGING``), column 0 the count of each row (1), and their :class:`Layout`.

    ``rows`` must have no counts (the counts multiply the columns when they are summed).
    """
    cols = [jnp.ones_like(rows.reward)]
    names, pairs = [], []
    for name, hyper in [*estimators.items(), (LOGGING, {})]:
        mine = []
        for num, den in _pairs_of(name, dict(hyper), rows):
            cols.append(num)
            if den is None:
                mine.append((len(cols) - 1, 0))
            else:
                cols.append(den)
                mine.append((len(cols) - 2, len(cols) - 1))
        names.append(name)
        pairs.append(tuple(mine))
    return jnp.stack(cols, 1), Layout(tuple(names), tuple(pairs), len(cols))


def values(sums: np.ndarray, layout: Layout) -> np.ndarray:
    """(..., E + 1) every estimator's value, then the logging policy's, from (..., S)
    column sums (float64; a denominator of 0 gives NaN, or 0 for replay)."""
    sums = np.asarray(sums, np.float64)
    out = []
    for name, pairs in zip(layout.names, layout.pairs):
        total = 0.0
        for num, den in pairs:
            d = sums[..., den]
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = sums[..., num] / d
            if name in EMPTY_IS_ZERO:
                ratio = np.where(d > 0, ratio, 0.0)
            total = total + ratio
        out.append(total)
    return np.stack(out, -1)


def layout(estimators: Mapping[str, Mapping[str, float]]) -> Layout:
    """The :class:`Layout` of :func:`columns` for these estimators (no data needed)."""
    one = jnp.ones(1, jnp.float32)
    return columns(estimators, ope.Rows(one, one, one, one, one))[1]
