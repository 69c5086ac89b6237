"""Logged bandit feedback: the arrays off-policy evaluation reads, validated on entry.

``LoggedData.from_arrays`` checks everything in plain Python/NumPy before any estimator
is compiled and raises ``ValueError`` naming the field, the bad value and the first bad
row. Nothing is dropped or clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

_PROB_TOL = 1e-4


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
                raise ValueError("n_arms is required when neither action_dist nor mask is "
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

        ``rollout`` comes from ``envs.rollout.simulate(..., record_logs=True)``; every
        row holds the context the policy saw, the arms it could choose, its full action
        distribution at that round (so ``pscore`` is the probability it actually used)
        and the reward it observed.
        """
        t = rollout.trajectories
        if t is None or "context" not in t:
            raise ValueError("this rollout holds no logs: run simulate(..., record_logs=True)")
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


def _fmt(x) -> str:
    """A value as plain Python would print it (no ``np.float64(...)`` wrapper)."""
    return repr(np.asarray(x).tolist())


def _first_bad(bad: np.ndarray) -> int:
    return int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))


def check_finite(name: str, x: np.ndarray) -> None:
    """Raises naming the first row with a NaN or infinite value."""
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    bad = ~np.isfinite(x)
    if bad.any():
        row = _first_bad(bad)
        raise ValueError(f"{name} must be finite; row {row} has {_fmt(x[row])} "
                         f"({int(bad.reshape(len(x), -1).any(1).sum())} bad rows)")


def validate(*, context, action, reward, pscore, n_arms, action_dist=None, mask=None) -> None:
    """Checks logged arrays; raises ``ValueError`` naming field, value and first row."""
    if not isinstance(n_arms, (int, np.integer)) or isinstance(n_arms, bool) or n_arms < 1:
        raise ValueError(f"n_arms must be an integer >= 1, got {n_arms!r}")
    if action.ndim != 1:
        raise ValueError(f"action must be 1-D (n,), got shape {action.shape}")
    n = action.shape[0]
    if n == 0:
        raise ValueError("logged data is empty: action has 0 rows")
    expect = {"context": 2, "reward": 1, "pscore": 1}
    for name, ndim in expect.items():
        x = {"context": context, "reward": reward, "pscore": pscore}[name]
        if x.ndim != ndim or x.shape[0] != n:
            want = "(n, d)" if ndim == 2 else "(n,)"
            raise ValueError(f"{name} must have shape {want} with n={n} rows (from action), "
                             f"got {x.shape}")
    for name, x in (("action_dist", action_dist), ("mask", mask)):
        if x is not None and x.shape != (n, n_arms):
            raise ValueError(f"{name} must have shape (n, n_arms)=({n}, {n_arms}), "
                             f"got {x.shape}")
    if not np.issubdtype(action.dtype, np.integer):
        if np.issubdtype(action.dtype, np.floating) and np.all(np.isfinite(action)) and \
                np.all(action == np.round(action)):
            pass
        else:
            bad = ~np.isfinite(action) | (action != np.round(action)) \
                if np.issubdtype(action.dtype, np.floating) else np.ones(n, bool)
            row = _first_bad(bad)
            raise ValueError(f"action must hold integers; row {row} has {_fmt(action[row])}")
    out = (action < 0) | (action >= n_arms)
    if out.any():
        row = _first_bad(out)
        raise ValueError(f"action must be in [0, {n_arms - 1}]; row {row} has "
                         f"{_fmt(action[row])} ({int(out.sum())} rows out of range)")
    check_finite("context", context)
    check_finite("reward", reward)
    check_finite("pscore", pscore)
    bad = (pscore <= 0) | (pscore > 1)
    if bad.any():
        row = _first_bad(bad)
        raise ValueError(f"pscore must be in (0, 1]; row {row} has {_fmt(pscore[row])} "
                         f"({int(bad.sum())} rows outside)")
    if action_dist is not None:
        check_finite("action_dist", action_dist)
        neg = action_dist < 0
        if neg.any():
            row = _first_bad(neg)
            raise ValueError(f"action_dist must be non-negative; row {row} has "
                             f"{action_dist[row].tolist()}")
        off = np.abs(action_dist.sum(1) - 1) > _PROB_TOL
        if off.any():
            row = _first_bad(off)
            raise ValueError(f"action_dist rows must sum to 1; row {row} sums to "
                             f"{_fmt(action_dist[row].sum())}")
        logged = action_dist[np.arange(n), action.astype(int)]
        mism = np.abs(logged - pscore) > _PROB_TOL * np.maximum(1, pscore)
        if mism.any():
            row = _first_bad(mism)
            raise ValueError(f"pscore must equal action_dist[row, action]; row {row} has "
                             f"pscore {_fmt(pscore[row])} but action_dist gives "
                             f"{_fmt(logged[row])}")
    if mask is not None:
        m = mask.astype(bool)
        inel = ~m[np.arange(n), action.astype(int)]
        if inel.any():
            row = _first_bad(inel)
            raise ValueError(f"the logged action must be eligible; row {row} logs action "
                             f"{int(action[row])} but mask is {m[row].astype(int).tolist()}")
        if action_dist is not None:
            leak = (action_dist > 0) & ~m
            if leak.any():
                row = _first_bad(leak)
                raise ValueError(f"action_dist puts probability on an ineligible arm; row "
                                 f"{row}: {action_dist[row].tolist()} with mask "
                                 f"{m[row].astype(int).tolist()}")


def check_target(action_dist, n_rows: int, n_arms: int, name: str = "action_dist") -> None:
    """Checks a target policy's (n, K) probabilities before estimation."""
    x = np.asarray(action_dist)
    if x.shape != (n_rows, n_arms):
        raise ValueError(f"{name} must have shape ({n_rows}, {n_arms}), got {x.shape}")
    check_finite(name, x)
    if (x < 0).any():
        row = _first_bad(x < 0)
        raise ValueError(f"{name} must be non-negative; row {row} has {x[row].tolist()}")
    off = np.abs(x.sum(1) - 1) > _PROB_TOL
    if off.any():
        row = _first_bad(off)
        raise ValueError(f"{name} rows must sum to 1; row {row} sums to {_fmt(x[row].sum())}")
