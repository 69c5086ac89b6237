"""The monitor's per-round inputs, in time order, checked on entry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import DataError
from common.formatting import plain


@dataclass(frozen=True)
class MonitorInputs:
    """n rounds in time order: what the monitor's KPIs read.

    Attributes:
        reward: (n,) float.
        action: (n,) int arms in [0, n_arms).
        propensity: (n,) the probability of the chosen arm.
        context: (n, d) float features (float32 stays float32; sums are float64).
        n_arms: K (the width of ``probs`` when given).
        probs: (n, K) the policy's full action distribution, or None.
        regret: (n,) per-round regret (known in simulation), or None.
        failed: (n,) bool, a decision that failed validation, or None (none failed).
        fallback: (n,) bool, a decision served by the safety layer's fallback, or None
            (not known).
    """

    reward: np.ndarray
    action: np.ndarray
    propensity: np.ndarray
    context: np.ndarray
    n_arms: int
    probs: np.ndarray | None = None
    regret: np.ndarray | None = None
    failed: np.ndarray | None = None
    fallback: np.ndarray | None = None

    @property
    def n_rounds(self) -> int:
        return int(self.action.shape[0])

    @property
    def available(self) -> frozenset[str]:
        """The optional inputs present (``probs``, ``regret``, ``failed``,
        ``fallback``)."""
        return frozenset(k for k in ("probs", "regret", "failed", "fallback")
                         if getattr(self, k) is not None)

    @classmethod
    def from_arrays(cls, *, reward, action, propensity, context, n_arms=None, probs=None,
                    regret=None, failed=None, fallback=None) -> MonitorInputs:
        """Checked inputs as NumPy arrays (float64, int64, bool); ``n_arms`` defaults to
        the width of ``probs``, else 1 + the largest arm. Raises ``DataError`` naming the
        input, its shape or its first bad row."""
        action = np.asarray(action)
        if action.ndim != 1 or action.size == 0:
            raise DataError(f"action must be a non-empty (n,) array, got shape {action.shape}")
        if not np.issubdtype(action.dtype, np.integer):
            raise DataError(f"action must hold integer arms, got dtype {action.dtype}")
        n = action.shape[0]
        rows = {name: _vector(name, x, n) for name, x in
                (("reward", reward), ("propensity", propensity), ("regret", regret))}
        context = np.asarray(context)
        if not np.issubdtype(context.dtype, np.floating):
            context = context.astype(np.float64)
        context = context.reshape(n, -1) if context.ndim == 1 and context.size == n else context
        if context.ndim != 2 or context.shape[0] != n:
            raise DataError(f"context must have shape ({n}, d), got {context.shape}")
        _first_bad("context", context, ~np.isfinite(context).all(axis=1), "must be finite")
        failed, fallback = (_flags(name, x, n) for name, x in (("failed", failed),
                                                                ("fallback", fallback)))
        if probs is not None:
            probs = np.asarray(probs, np.float64)
            if probs.ndim != 2 or probs.shape[0] != n:
                raise DataError(f"probs must have shape ({n}, K), got {probs.shape}")
            n_arms = probs.shape[1] if n_arms is None else n_arms
            _first_bad("probs", probs, ~(np.isfinite(probs) & (probs >= 0)).all(axis=1),
                       "must be finite and >= 0")
            if probs.shape[1] != n_arms:
                raise DataError(f"probs must have n_arms={n_arms} columns, got {probs.shape}")
        n_arms = int(action.max()) + 1 if n_arms is None else int(n_arms)
        bad = np.flatnonzero((action < 0) | (action >= n_arms))
        if bad.size:
            raise DataError(f"action must be in [0, {n_arms - 1}]; row {bad[0]} has "
                            f"{action[bad[0]]}")
        return cls(rows["reward"], action.astype(np.int64), rows["propensity"], context,
                   n_arms, probs, rows["regret"], failed, fallback)


def _flags(name: str, x, n: int) -> np.ndarray | None:
    """An optional (n,) bool input, checked."""
    if x is None:
        return None
    x = np.asarray(x)
    if x.shape != (n,) or x.dtype != bool:
        raise DataError(f"{name} must be a ({n},) bool array, got {x.dtype} {x.shape}")
    return x


def _vector(name: str, x, n: int) -> np.ndarray | None:
    """``x`` as a finite (n,) float64 array (None stays None where ``name`` is optional)."""
    if x is None:
        if name in ("reward", "propensity"):
            raise DataError(f"{name} is required: ({n},) numbers")
        return None
    x = np.asarray(x, np.float64)
    if x.shape != (n,):
        raise DataError(f"{name} must have shape ({n},), got {x.shape}")
    _first_bad(name, x, ~np.isfinite(x), "must be finite")
    return x


def _first_bad(name: str, values: np.ndarray, bad_rows: np.ndarray, rule: str) -> None:
    """Raises ``DataError`` naming the first row of ``bad_rows`` (n,) bool and its value,
    if any."""
    bad = np.flatnonzero(bad_rows)
    if bad.size:
        raise DataError(f"{name} {rule}; row {bad[0]} has {plain(values[bad[0]])} "
                        f"({bad.size:,} bad rows)")
