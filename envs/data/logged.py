"""Logged bandit feedback: the arrays off-policy evaluation reads, validated on entry.

``LoggedData.from_arrays`` checks everything in plain Python/NumPy before any estimator
is compiled and raises ``DataError`` (a ``ValueError``) naming the field, the bad value
and the first bad row. Nothing is dropped or clipped. ``LoggedData.from_obp`` and
``LoggedData.to_obp`` convert from and to Open Bandit Pipeline's ``bandit_feedback`` dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from common.errors import ConfigError, DataError

Array = np.ndarray  # or a jax.Array: the batch is built and read inside compiled programs

_PROB_TOL = 1e-4  # rows of a distribution sum to 1 within this
# A logged propensity matches its distribution within this relative tolerance (float32
# rounding is ~6e-8 relative), with an absolute floor only for exact zeros.
_REL_TOL = 1e-4
_ABS_FLOOR = 1e-12
# The keys every Open Bandit Pipeline bandit_feedback dict has, and those read if present.
OBP_REQUIRED = ("n_rounds", "n_actions", "action", "reward", "pscore", "context")


class LoggedBatch(NamedTuple):
    """M logged datasets of n rows, arrays (M, n, ...): what simulated studies draw and
    estimate on in one compiled program (``LoggedData`` is one dataset, checked on entry)."""

    context: Array  # (M, n, d)
    mask: Array  # (M, n, K)
    action: Array  # (M, n)
    reward: Array  # (M, n)
    pscore: Array  # (M, n)
    action_dist: Array  # (M, n, K) the logging policy's probabilities
    expected_reward: Array  # (M, n, K) μ(x, a), for oracle checks


@dataclass(frozen=True)
class LoggedData:
    """n logged rounds over K arms.

    Attributes:
        context: (n, d) float features.
        action: (n,) int logged arms.
        reward: (n,) float observed rewards.
        pscore: (n,) the logging policy's probability of the logged arm, in (0, 1].
        action_dist: (n, K) the logging policy's full distribution, or None.
        mask: (n, K) bool eligible arms, or None (all eligible).
        n_arms: K.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    n_arms: int
    action_dist: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.action.shape[0])

    @property
    def dim(self) -> int:
        return int(self.context.shape[1])

    def take(self, rows) -> LoggedData:
        """The rows ``rows`` (indices or a boolean mask), as a new dataset."""
        pick = lambda x: None if x is None else x[rows]
        return LoggedData(self.context[rows], self.action[rows], self.reward[rows],
                          self.pscore[rows], self.n_arms, pick(self.action_dist),
                          pick(self.mask))

    @classmethod
    def from_arrays(cls, *, context, action, reward, pscore, n_arms: int | None = None,
                    action_dist=None, mask=None) -> LoggedData:
        """Builds validated logged data (see :func:`validate`)."""
        arrays = {
            "context": np.asarray(context, dtype=np.float64 if np.asarray(context).dtype
                                  == np.float64 else np.float32),
            "action": np.asarray(action),
            "reward": np.asarray(reward),
            "pscore": np.asarray(pscore),
            "action_dist": None if action_dist is None else np.asarray(action_dist),
            "mask": None if mask is None else np.asarray(mask),
        }
        if n_arms is None:
            if arrays["action_dist"] is not None:
                n_arms = arrays["action_dist"].shape[-1]
            elif arrays["mask"] is not None:
                n_arms = arrays["mask"].shape[-1]
            else:
                raise ConfigError("n_arms is required when neither action_dist nor mask is "
                                  "given")
        validate(n_arms=n_arms, **arrays)
        arrays["action"] = arrays["action"].astype(np.int32)
        if arrays["mask"] is not None:
            arrays["mask"] = arrays["mask"].astype(bool)
        return cls(n_arms=int(n_arms), **arrays)

    def to_npz(self, path: str) -> None:
        data = {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}
        np.savez_compressed(path, **data)

    @classmethod
    def from_rollout(cls, rollout, seed: int = 0, grid_point: int = 0) -> LoggedData:
        """The log of one simulated run: a policy logged as it learns.

        ``rollout`` comes from ``envs.engine.driver.simulate(..., record="logs")``; every
        row holds the context the policy saw, the arms it could choose, its full action
        distribution at that round (so ``pscore`` is the probability it actually used)
        and the reward it observed.
        """
        t = rollout.trajectories
        if t is None or "context" not in t:
            raise ConfigError("this rollout holds no logs: run simulate(..., "
                              "record='logs')")
        g, s = grid_point, seed
        return cls.from_arrays(context=t["context"][g, s], action=t["action"][g, s],
                               reward=t["reward"][g, s], pscore=t["propensity"][g, s],
                               action_dist=t["action_dist"][g, s], mask=t["mask"][g, s])

    @classmethod
    def from_npz(cls, path: str) -> LoggedData:
        with np.load(path) as z:
            kw = {k: z[k] for k in z.files}
        kw["n_arms"] = int(kw["n_arms"])
        return cls.from_arrays(**kw)

    @classmethod
    def from_obp(cls, bandit_feedback: Mapping) -> LoggedData:
        """Logged data from an Open Bandit Pipeline ``bandit_feedback`` dict.

        Mapped keys: ``n_actions`` -> ``n_arms``; ``context``, ``action``, ``reward``,
        ``pscore`` as they are; ``pi_b`` (n, K, len_list), or (n, K), -> ``action_dist``,
        its slice at the rows' slot; ``mask`` (n, K) bool, not an obp key, as
        :meth:`to_obp` writes it. ``n_rounds`` must equal the number of rows.

        bandax evaluates single-slot decisions: ``position`` may be absent, None, or one
        slot for every row; a log whose rows are in several slots is refused (select one
        slot first). ``action_context`` and ``expected_reward`` are not held (no
        estimator here reads them); give ``action_context`` back to :meth:`to_obp`.

        Raises:
            DataError: a required key is missing, or a value breaks a rule of
                :func:`validate`, naming the key, the value and the row.
        """
        fb = bandit_feedback
        missing = [k for k in OBP_REQUIRED if k not in fb or fb[k] is None]
        if missing:
            raise DataError(f"bandit_feedback lacks the keys {', '.join(missing)} (found: "
                            f"{', '.join(map(str, fb)) or 'none'})")
        action = np.asarray(fb["action"])
        n = action.shape[0] if action.ndim else 0
        n_rounds = fb["n_rounds"]
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, (int, np.integer)) or \
                n_rounds != n:
            raise DataError(f"n_rounds must equal the number of rows of action ({n}), got "
                            f"{n_rounds!r}")
        k = fb["n_actions"]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"n_actions must be an integer >= 1, got {k!r}")
        slot = _obp_slot(fb.get("position"), n)
        return cls.from_arrays(context=fb["context"], action=action, reward=fb["reward"],
                               pscore=fb["pscore"], n_arms=int(k),
                               action_dist=_obp_action_dist(fb.get("pi_b"), n, int(k), slot),
                               mask=fb.get("mask"))

    def to_obp(self, action_context=None) -> dict:
        """This data as an Open Bandit Pipeline ``bandit_feedback`` dict.

        Keys: ``n_rounds``, ``n_actions``, ``action`` (int64), ``reward``, ``pscore``,
        ``context``, ``position`` (None: one slot), ``action_context`` (``action_context``
        if given, else obp's default, the (K, K) identity), ``pi_b`` (n, K, 1) when the
        logging distribution is known, and ``mask`` (n, K) bool when some arm is
        ineligible in some row (not an obp key; obp ignores it, :meth:`from_obp` reads
        it). The arrays are this data's own, not copies.
        """
        k = self.n_arms
        if action_context is None:
            action_context = np.eye(k, dtype=int)
        action_context = np.asarray(action_context)
        if action_context.ndim != 2 or action_context.shape[0] != k:
            raise DataError(f"action_context must have shape (n_actions, d_a) with "
                            f"n_actions={k}, got {action_context.shape}")
        out = {"n_rounds": self.n_rows, "n_actions": k,
               "action": self.action.astype(np.int64), "position": None,
               "reward": self.reward, "pscore": self.pscore, "context": self.context,
               "action_context": action_context}
        if self.action_dist is not None:
            out["pi_b"] = self.action_dist[:, :, None]
        if self.mask is not None and not self.mask.all():
            out["mask"] = self.mask
        return out


def _obp_slot(position, n: int) -> int | None:
    """The one slot of an obp log's rows (None when ``position`` is None); refuses rows
    in several slots."""
    if position is None:
        return None
    pos = np.asarray(position)
    if pos.shape != (n,):
        raise DataError(f"position must have shape (n_rounds,)=({n},) or be None, got "
                        f"{pos.shape}")
    if not np.issubdtype(pos.dtype, np.integer) or (pos < 0).any():
        bad = np.ones(n, bool) if not np.issubdtype(pos.dtype, np.integer) else pos < 0
        row = _first_bad(bad)
        raise DataError(f"position must hold slots >= 0; row {row} has {_fmt(pos[row])}")
    slots = np.unique(pos)
    if len(slots) > 1:
        row = int(np.argmax(pos != pos[0]))
        raise DataError(
            f"position holds {len(slots)} slots ({_fmt(slots[:10])}): row 0 is in slot "
            f"{int(pos[0])}, row {row} in slot {int(pos[row])}. bandax evaluates "
            f"single-slot decisions; evaluate one slot at a time: keep the rows with "
            f"position == p (and pi_b[:, :, p])")
    return int(slots[0]) if len(slots) else None


def _obp_action_dist(pi_b, n: int, k: int, slot: int | None):
    """obp's ``pi_b`` (n, K, len_list) or (n, K) as the (n, K) distribution at ``slot``."""
    if pi_b is None:
        return None
    pi_b = np.asarray(pi_b)
    if pi_b.ndim == 2:
        pi_b = pi_b[:, :, None]
    if pi_b.ndim != 3 or pi_b.shape[:2] != (n, k):
        raise DataError(f"pi_b must have shape (n_rounds, n_actions, len_list) with "
                        f"n_rounds={n}, n_actions={k}, got {pi_b.shape}")
    if slot is None and pi_b.shape[2] > 1:
        raise DataError(f"pi_b holds {pi_b.shape[2]} slots (len_list) but position is "
                        f"None: bandax evaluates single-slot decisions; give the rows' "
                        f"slot in position, or pass pi_b[:, :, p] for slot p")
    slot = slot or 0
    if slot >= pi_b.shape[2]:
        raise DataError(f"position says every row is in slot {slot} but pi_b has "
                        f"len_list={pi_b.shape[2]}")
    return pi_b[:, :, slot]


def _fmt(x) -> str:
    """A value as plain Python would print it (no ``np.float64(...)`` wrapper)."""
    return repr(np.asarray(x).tolist())


def _first_bad(bad: np.ndarray) -> int:
    return int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))


def check_finite(name: str, x: np.ndarray) -> None:
    """Raises naming the first row with a NaN or infinite value."""
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"{name} must be numeric, got dtype {x.dtype}")
    bad = ~np.isfinite(x)
    if bad.any():
        row = _first_bad(bad)
        raise DataError(f"{name} must be finite; row {row} has {_fmt(x[row])} "
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
            row = _first_bad(bad)
            raise DataError(f"action must hold integers; row {row} has {_fmt(action[row])}")
    out = (action < 0) | (action >= n_arms)
    if out.any():
        row = _first_bad(out)
        raise DataError(f"action must be in [0, {n_arms - 1}]; row {row} has "
                        f"{_fmt(action[row])} ({int(out.sum())} rows out of range)")


def _check_distribution(action, pscore, action_dist) -> None:
    """The logging distribution: finite, non-negative, rows summing to 1, and giving the
    logged arm the logged propensity within a relative ``_REL_TOL``."""
    check_finite("action_dist", action_dist)
    neg = action_dist < 0
    if neg.any():
        row = _first_bad(neg)
        raise DataError(f"action_dist must be non-negative; row {row} has "
                        f"{action_dist[row].tolist()}")
    off = np.abs(action_dist.sum(1) - 1) > _PROB_TOL
    if off.any():
        row = _first_bad(off)
        raise DataError(f"action_dist rows must sum to 1; row {row} sums to "
                        f"{_fmt(action_dist[row].sum())}")
    logged = action_dist[np.arange(len(action)), action.astype(int)].astype(np.float64)
    p = pscore.astype(np.float64)
    mism = np.abs(logged - p) > _REL_TOL * np.maximum(logged, p) + _ABS_FLOOR
    if mism.any():
        row = _first_bad(mism)
        raise DataError(f"pscore must equal action_dist[row, action] within a relative "
                        f"{_REL_TOL:g}; row {row} has pscore {_fmt(pscore[row])} but "
                        f"action_dist gives {_fmt(logged[row])} ({int(mism.sum())} rows "
                        f"differ)")


def _check_mask(action, action_dist, mask) -> None:
    m = mask.astype(bool)
    inel = ~m[np.arange(len(action)), action.astype(int)]
    if inel.any():
        row = _first_bad(inel)
        raise DataError(f"the logged action must be eligible; row {row} logs action "
                        f"{int(action[row])} but mask is {m[row].astype(int).tolist()}")
    if action_dist is not None:
        leak = (action_dist > 0) & ~m
        if leak.any():
            row = _first_bad(leak)
            raise DataError(f"action_dist puts probability on an ineligible arm; row "
                            f"{row}: {action_dist[row].tolist()} with mask "
                            f"{m[row].astype(int).tolist()}")


def validate(*, context, action, reward, pscore, n_arms, action_dist=None, mask=None) -> None:
    """Checks logged arrays.

    Raises:
        ConfigError: ``n_arms`` is not an integer >= 1.
        DataError: naming the field, the bad value and the first bad row.
    """
    if not isinstance(n_arms, (int, np.integer)) or isinstance(n_arms, bool) or n_arms < 1:
        raise ConfigError(f"n_arms must be an integer >= 1, got {n_arms!r}")
    _check_shapes(context, action, reward, pscore, n_arms, action_dist, mask)
    _check_actions(action, n_arms)
    check_finite("context", context)
    check_finite("reward", reward)
    check_finite("pscore", pscore)
    bad = (pscore <= 0) | (pscore > 1)
    if bad.any():
        row = _first_bad(bad)
        raise DataError(f"pscore must be in (0, 1]; row {row} has {_fmt(pscore[row])} "
                        f"({int(bad.sum())} rows outside)")
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
        row = _first_bad(x < 0)
        raise DataError(f"{name} must be non-negative; row {row} has {x[row].tolist()}")
    off = np.abs(x.sum(1) - 1) > _PROB_TOL
    if off.any():
        row = _first_bad(off)
        raise DataError(f"{name} rows must sum to 1; row {row} sums to {_fmt(x[row].sum())}")
