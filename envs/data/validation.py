"""The checks logged data passes on entry: shapes, arm ids, finite values, propensities in
(0, 1], distributions that sum to 1 and match the logged propensity, eligible logged arms.

Every check raises ``DataError`` (a ``ValueError``) naming the field, the bad value and the
first bad row; a wrong setting raises ``ConfigError``. Nothing is dropped or clipped.
"""

from __future__ import annotations

import numpy as np

from common.errors import ConfigError, DataError
from common.formatting import plain
from common.validation import check_int

PROB_TOL = 1e-4  # rows of a distribution sum to 1 within this
# A logged propensity matches its distribution within this relative tolerance (float32
# rounding is ~6e-8 relative), with an absolute floor only for exact zeros.
REL_TOL = 1e-4
ABS_FLOOR = 1e-12


def check_count(where: str, value, error: type[ValueError] = ConfigError) -> int:
    """``value`` as an ``int`` >= 1 (``True`` is not a count).

    Raises:
        error: naming ``where`` and the value, ``"<where> must be an integer >= 1, got
            <value>"``.
    """
    try:
        return check_int(where, value)
    except ValueError:
        raise error(f"{where} must be an integer >= 1, got {value!r}") from None


def check_arm_features(arm_features, n_arms: int, dim: int,
                       source: str = "arm_features") -> int:
    """``arm_features`` as an ``int``: 0 (one context shared by the arms) or d >= 1 with
    K·d equal to the context's width ``dim``.

    Raises:
        ConfigError: not an integer >= 0, named as ``source``.
        DataError: K·d differs from ``dim``.
    """
    if isinstance(arm_features, bool) or not isinstance(arm_features, (int, np.integer)) \
            or arm_features < 0:
        raise ConfigError(f"{source} must be an integer >= 0 (0: one context for every "
                          f"arm), got {arm_features!r}")
    d = int(arm_features)
    if d and d * n_arms != dim:
        raise DataError(f"{source}={d} needs contexts of n_arms·d = {n_arms}·{d} = "
                        f"{n_arms * d} features (each arm's d, arm-major), but the context "
                        f"has {dim}")
    return d


def first_bad_row(bad: np.ndarray) -> int:
    """The first row of ``bad`` (n, ...) bool holding a True."""
    return int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))



def parse_timestamp(name: str, value) -> np.datetime64:
    """``value`` (a datetime64 or ISO text, not a number) as datetime64[us]; the error
    names ``name`` and the value."""
    try:
        if isinstance(value, (bool, int, float, np.number)):
            raise TypeError
        t = np.datetime64(value, "us")
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a datetime64 or ISO text, got {value!r}") from None
    if np.isnat(t):
        raise ValueError(f"{name} must not be NaT")
    return t


def check_probabilities(name: str, p: np.ndarray) -> None:
    """Every entry of ``p`` is a probability a logged action can have, in (0, 1]; the
    error names the first row outside and how many are."""
    bad = (p <= 0) | (p > 1)
    if bad.any():
        row = first_bad_row(bad)
        raise DataError(f"{name} must be in (0, 1]; row {row} has {plain(p[row])} "
                        f"({int(bad.sum())} rows outside)")

def check_finite(name: str, x: np.ndarray) -> None:
    """Raises naming the first row with a NaN or infinite value."""
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"{name} must be numeric, got dtype {x.dtype}")
    bad = ~np.isfinite(x)
    if bad.any():
        row = first_bad_row(bad)
        raise DataError(f"{name} must be finite; row {row} has {plain(x[row])} "
                        f"({int(bad.reshape(len(x), -1).any(1).sum())} bad rows)")


def _check_shapes(context, action, reward, pscore, n_arms, action_dist, mask) -> None:
    if action.ndim != 1:
        raise DataError(f"action must be 1-D (n,), got shape {action.shape}")
    n = action.shape[0]
    if n == 0:
        raise DataError("logged data is empty: action has 0 rows")
    for name, x, ndim in (("context", context, 2), ("reward", reward, 1),
                          ("pscore", pscore, 1)):
        if x.ndim != ndim or x.shape[0] != n:
            want = "(n, d)" if ndim == 2 else "(n,)"
            raise DataError(f"{name} must have shape {want} with n={n} rows (from action), "
                            f"got {x.shape}")
    for name, x in (("action_dist", action_dist), ("mask", mask)):
        if x is not None and x.shape != (n, n_arms):
            raise DataError(f"{name} must have shape (n, n_arms)=({n}, {n_arms}), "
                            f"got {x.shape}")


def _check_actions(action, n_arms) -> None:
    n = action.shape[0]
    if not np.issubdtype(action.dtype, np.integer):
        floating = np.issubdtype(action.dtype, np.floating)
        bad = ~np.isfinite(action) | (action != np.round(action)) if floating \
            else np.ones(n, bool)
        if bad.any():
            row = first_bad_row(bad)
            raise DataError(f"action must hold integers; row {row} has {plain(action[row])}")
    out = (action < 0) | (action >= n_arms)
    if out.any():
        row = first_bad_row(out)
        raise DataError(f"action must be in [0, {n_arms - 1}]; row {row} has "
                        f"{plain(action[row])} ({int(out.sum())} rows out of range)")


def _check_distribution(action, pscore, action_dist) -> None:
    """The logging distribution: finite, non-negative, rows summing to 1, and giving the
    logged arm the logged propensity within a relative ``REL_TOL``."""
    check_finite("action_dist", action_dist)
    neg = action_dist < 0
    if neg.any():
        row = first_bad_row(neg)
        raise DataError(f"action_dist must be non-negative; row {row} has "
                        f"{action_dist[row].tolist()}")
    off = np.abs(action_dist.sum(1) - 1) > PROB_TOL
    if off.any():
        row = first_bad_row(off)
        raise DataError(f"action_dist rows must sum to 1; row {row} sums to "
                        f"{plain(action_dist[row].sum())}")
    logged = action_dist[np.arange(len(action)), action.astype(int)].astype(np.float64)
    p = pscore.astype(np.float64)
    mism = np.abs(logged - p) > REL_TOL * np.maximum(logged, p) + ABS_FLOOR
    if mism.any():
        row = first_bad_row(mism)
        raise DataError(f"pscore must equal action_dist[row, action] within a relative "
                        f"{REL_TOL:g}; row {row} has pscore {plain(pscore[row])} but "
                        f"action_dist gives {plain(logged[row])} ({int(mism.sum())} rows "
                        f"differ)")


def _check_mask(action, action_dist, mask) -> None:
    m = mask.astype(bool)
    inel = ~m[np.arange(len(action)), action.astype(int)]
    if inel.any():
        row = first_bad_row(inel)
        raise DataError(f"the logged action must be eligible; row {row} logs action "
                        f"{int(action[row])} but mask is {m[row].astype(int).tolist()}")
    if action_dist is not None:
        leak = (action_dist > 0) & ~m
        if leak.any():
            row = first_bad_row(leak)
            raise DataError(f"action_dist puts probability on an ineligible arm; row "
                            f"{row}: {action_dist[row].tolist()} with mask "
                            f"{m[row].astype(int).tolist()}")


def validate(*, context, action, reward, pscore, n_arms, action_dist=None, mask=None) -> None:
    """Checks logged arrays: context (n, d), action (n,), reward (n,), pscore (n,),
    action_dist (n, K) or None, mask (n, K) or None, with K = ``n_arms``.

    Raises:
        ConfigError: ``n_arms`` is not an integer >= 1.
        DataError: naming the field, the bad value and the first bad row.
    """
    check_count("n_arms", n_arms)
    _check_shapes(context, action, reward, pscore, n_arms, action_dist, mask)
    _check_actions(action, n_arms)
    check_finite("context", context)
    check_finite("reward", reward)
    check_finite("pscore", pscore)
    check_probabilities("pscore", pscore)
    if action_dist is not None:
        _check_distribution(action, pscore, action_dist)
    if mask is not None:
        _check_mask(action, action_dist, mask)


def check_target(action_dist, n_rows: int, n_arms: int, name: str = "action_dist") -> None:
    """Checks a target policy's (n, K) probabilities before estimation."""
    x = np.asarray(action_dist)
    if x.shape != (n_rows, n_arms):
        raise DataError(f"{name} must have shape ({n_rows}, {n_arms}), got {x.shape}")
    check_finite(name, x)
    if (x < 0).any():
        row = first_bad_row(x < 0)
        raise DataError(f"{name} must be non-negative; row {row} has {x[row].tolist()}")
    off = np.abs(x.sum(1) - 1) > PROB_TOL
    if off.any():
        row = first_bad_row(off)
        raise DataError(f"{name} rows must sum to 1; row {row} sums to {plain(x[row].sum())}")
