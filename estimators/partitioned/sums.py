"""What a partition contributes to one candidate's evaluation, and how contributions
merge: the column sums of :mod:`.parts` on the rows and on every keyed resample, and the
sums, maximum and per-arm masses the diagnostics need. Everything is float64 and merges by
addition (the maximum weight by maximum), so the order of partitions changes the result
only by float64 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from estimators import ope

RESAMPLE_CHUNK = 64  # resamples per float64 matrix product (bounds its memory)


@dataclass
class CandidateSums:
    """One candidate's sums over some rows (see the module doc).

    Attributes:
        point: (S,) column sums; boot: (B, S) the same under each resample's counts.
        n_rows, w_sum, w2_sum, w_max, nonzero: rows, Σw, Σw², max w and #(w > 0) of the
            importance weights w = π(a|x) / p.
        prob: (K,) Σ π(a|x) per arm; prob_ineligible: (K,) the same over rows where the
            arm was not eligible; prob_unlogged: (K,) over rows where the logging policy
            gave it probability 0 or it was not eligible (only when the logs carry the
            logging distribution, else NaN); logged: (K,) rows logging each arm.
    """

    point: np.ndarray
    boot: np.ndarray
    n_rows: int
    w_sum: float
    w2_sum: float
    w_max: float
    nonzero: int
    prob: np.ndarray
    prob_ineligible: np.ndarray
    prob_unlogged: np.ndarray
    logged: np.ndarray

    def merge(self, other: CandidateSums) -> CandidateSums:
        """The sums over both sets of rows."""
        out = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        out["w_max"] = max(self.w_max, other.w_max)
        return CandidateSums(**out)


def resample_sums(counts: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(B, T) Σ_i counts[b, i] · cols[i, t] in float64, for (B, n) uint8 counts and
    (n, T) float64 columns, a chunk of resamples per matrix product."""
    out = np.empty((counts.shape[0], cols.shape[1]))
    for lo in range(0, counts.shape[0], RESAMPLE_CHUNK):  # chunks bound the memory
        out[lo:lo + RESAMPLE_CHUNK] = counts[lo:lo + RESAMPLE_CHUNK].astype(np.float64) @ cols
    return out


def support_sums(data, target_probs: np.ndarray) -> dict[str, np.ndarray]:
    """The per-arm masses of :class:`CandidateSums` on one batch of held-out rows."""
    tp = np.asarray(target_probs, np.float64)
    ineligible = ~np.asarray(data.mask) if data.mask is not None else np.zeros(tp.shape, bool)
    if data.action_dist is not None:
        unlogged = (tp * ((np.asarray(data.action_dist) <= 0) | ineligible)).sum(0)
    else:
        unlogged = np.full(tp.shape[1], np.nan)
    return {"prob": tp.sum(0), "prob_ineligible": (tp * ineligible).sum(0),
            "prob_unlogged": unlogged,
            "logged": np.bincount(data.action, minlength=tp.shape[1]).astype(np.int64)}


def candidate_sums(cols: np.ndarray, boot: np.ndarray, data, rows: ope.Rows,
                   target_probs: np.ndarray) -> CandidateSums:
    """One batch's :class:`CandidateSums`: ``cols`` (n, S) its parts' columns, ``boot``
    (B, S) their resample sums, ``rows`` its :class:`ope.Rows` under the candidate."""
    w = np.asarray(ope.importance_weights(rows), np.float64)
    return CandidateSums(point=cols.sum(0), boot=boot, n_rows=int(w.size),
                         w_sum=float(w.sum()), w2_sum=float((w * w).sum()),
                         w_max=float(w.max()), nonzero=int((w > 0).sum()),
                         **support_sums(data, target_probs))


def diagnostics(s: CandidateSums) -> dict:
    """The gate's diagnostics entry (as :func:`estimators.gate.statistics.diagnostics`
    reports it for rows in memory) from merged sums."""
    diag = {"ess": s.w_sum**2 / s.w2_sum if s.nonzero > 0 else 0.0,
            "max_weight": s.w_max, "nonzero_fraction": s.nonzero / s.n_rows,
            "n_rows": s.n_rows}
    diag["ess_fraction"] = diag["ess"] / diag["n_rows"]
    if np.all(np.isfinite(s.prob_unlogged)):
        mass, diag["support_basis"] = s.prob_unlogged / s.n_rows, "logging distribution"
    else:
        unseen = s.logged == 0
        mass = np.where(unseen, s.prob, s.prob_ineligible) / s.n_rows
        diag["support_basis"] = "arms present in the held-out logs"
    diag["support_violation"] = float(mass.sum())
    diag["unsupported_arms"] = [int(a) for a in np.flatnonzero(mass > 0)]
    return diag
