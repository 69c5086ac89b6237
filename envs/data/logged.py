"""Logged bandit feedback: the arrays off-policy evaluation reads, and their conversions.

``LoggedData`` is one dataset, validated on entry: ``LoggedData.from_arrays`` checks
everything in plain Python/NumPy (:mod:`envs.data.validation`) before any estimator is
compiled and raises ``DataError`` (a ``ValueError``) naming the field, the bad value and
the first bad row. ``LoggedBatch`` is M datasets of n rows, arrays (M, n, ...), as
simulated studies draw them inside compiled programs.

Every conversion lives here: from arrays, ``.npz`` files, engine rollouts, batches, Open
Bandit Pipeline ``bandit_feedback`` dicts and decision-event columns, and back to obp dicts
(:meth:`LoggedData.to_obp`) and decision-event columns (:func:`events_from_logged`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from common.errors import ConfigError, DataError
from common.formatting import json_default, plain
from common.validation import check_int
from envs.data.validation import (
    check_arm_features,
    check_count,
    check_finite,
    check_target,
    first_bad_row,
    validate,
)

__all__ = ["OBP_REQUIRED", "LoggedBatch", "LoggedData", "events_from_logged", "check_finite",
           "check_target", "validate"]

Array = np.ndarray  # or a jax.Array: the batch is built and read inside compiled programs

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

    @classmethod
    def from_rollout(cls, rollout, grid_point: int = 0, warmup: int = 0) -> LoggedBatch:
        """The logs of every seed of one grid point of a simulated run, one dataset per
        seed, without the first ``warmup`` rounds: arrays (S, T - warmup, ...).

        ``rollout`` comes from ``envs.engine.driver.simulate(..., record="logs")``; every
        row holds the context the policy saw, the arms it could choose, its full action
        distribution at that round (so ``pscore`` is the probability it actually used),
        the reward it observed and the world's mean rewards.
        """
        t = rollout.trajectories
        if t is None or "context" not in t:
            raise ConfigError("this rollout holds no logs: run simulate(..., "
                              "record='logs')")
        g, w = grid_point, warmup
        return cls(t["context"][g, :, w:], t["mask"][g, :, w:],
                   t["action"][g, :, w:].astype(np.int32), t["reward"][g, :, w:],
                   t["propensity"][g, :, w:], t["action_dist"][g, :, w:],
                   t["expected_reward"][g, :, w:])

    @classmethod
    def concat_rows(cls, parts: Sequence[LoggedBatch]) -> LoggedBatch:
        """Batches of the same M datasets, rows (M, n_i, ...) one after the other, as one
        batch of rows (M, Σ n_i, ...) (NumPy arrays)."""
        return cls(*(np.concatenate([np.asarray(x) for x in field], axis=1)
                     for field in zip(*parts)))


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
        arm_features: d > 0 when every arm has its own d features (the context is the K
            vectors flattened arm-major, (n, K·d), as ``World.arm_features`` gives them);
            0, the default: one context shared by the arms.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    n_arms: int
    action_dist: np.ndarray | None = None
    mask: np.ndarray | None = None
    arm_features: int = 0

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
                          pick(self.mask), self.arm_features)

    @classmethod
    def from_arrays(cls, *, context, action, reward, pscore, n_arms: int | None = None,
                    action_dist=None, mask=None, arm_features: int = 0) -> LoggedData:
        """Builds validated logged data (see :func:`envs.data.validation.validate`); K is
        ``n_arms``, else the width of ``action_dist`` or of ``mask``; ``arm_features``
        (d > 0: per-arm features) must give K·d = the context's width."""
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
        arm_features = check_arm_features(arm_features, int(n_arms),
                                          arrays["context"].shape[1])
        arrays["action"] = arrays["action"].astype(np.int32)
        if arrays["mask"] is not None:
            arrays["mask"] = arrays["mask"].astype(bool)
        return cls(n_arms=int(n_arms), arm_features=arm_features, **arrays)

    def to_npz(self, path: str) -> None:
        data = {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}
        np.savez_compressed(path, **data)

    @classmethod
    def from_npz(cls, path: str) -> LoggedData:
        with np.load(path) as z:
            kw = {k: z[k] for k in z.files}
        kw["n_arms"] = int(kw["n_arms"])
        kw["arm_features"] = int(kw.get("arm_features", 0))
        return cls.from_arrays(**kw)

    @classmethod
    def from_batch(cls, batch: LoggedBatch, dataset: int = 0,
                   arm_features: int = 0) -> LoggedData:
        """Dataset ``dataset`` of a batch (its mean rewards are not kept), validated;
        ``arm_features`` as the world that drew it gives them."""
        m = dataset
        return cls.from_arrays(context=batch.context[m], action=batch.action[m],
                               reward=batch.reward[m], pscore=batch.pscore[m],
                               action_dist=batch.action_dist[m], mask=batch.mask[m],
                               arm_features=arm_features)

    @classmethod
    def from_rollout(cls, rollout, seed: int = 0, grid_point: int = 0,
                     arm_features: int = 0) -> LoggedData:
        """The log of one simulated run, a policy logged as it learns: seed ``seed`` of
        :meth:`LoggedBatch.from_rollout` (``arm_features``: the world's)."""
        return cls.from_batch(LoggedBatch.from_rollout(rollout, grid_point), seed,
                              arm_features)

    @classmethod
    def from_events(cls, columns: Mapping[str, np.ndarray], n_arms: int,
                    mask: np.ndarray | None = None, arm_features: int = 0) -> LoggedData:
        """Logged data from decision-event columns (the fields of ``docs/events.md``):
        ``context`` (n, d), ``action`` (n,), ``reward`` (n,) and ``propensity`` (n,), with
        ``mask`` (n, K) the rows' eligible arms and ``arm_features`` the log's declared
        features per arm (0: a shared context)."""
        return cls.from_arrays(context=columns["context"], action=columns["action"],
                               reward=columns["reward"], pscore=columns["propensity"],
                               n_arms=n_arms, mask=mask, arm_features=arm_features)

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
                :func:`envs.data.validation.validate`, naming the key, the value and the
                row.
        """
        fb = bandit_feedback
        missing = [k for k in OBP_REQUIRED if k not in fb or fb[k] is None]
        if missing:
            raise DataError(f"bandit_feedback lacks the keys {', '.join(missing)} (found: "
                            f"{', '.join(map(str, fb)) or 'none'})")
        action = np.asarray(fb["action"])
        n = action.shape[0] if action.ndim else 0
        try:
            check_int("n_rounds", fb["n_rounds"], n, n)
        except ValueError:
            raise DataError(f"n_rounds must equal the number of rows of action ({n}), got "
                            f"{fb['n_rounds']!r}") from None
        k = check_count("n_actions", fb["n_actions"], DataError)
        slot = _obp_slot(fb.get("position"), n)
        return cls.from_arrays(context=fb["context"], action=action, reward=fb["reward"],
                               pscore=fb["pscore"], n_arms=k,
                               action_dist=_obp_action_dist(fb.get("pi_b"), n, k, slot),
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
        row = first_bad_row(bad)
        raise DataError(f"position must hold slots >= 0; row {row} has {plain(pos[row])}")
    slots = np.unique(pos)
    if len(slots) > 1:
        row = int(np.argmax(pos != pos[0]))
        raise DataError(
            f"position holds {len(slots)} slots ({plain(slots[:10])}): row 0 is in slot "
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


def _event_times(n: int, start, interval_s: float, reward_delay_s):
    """``(timestamp, reward_timestamp)`` (n,) datetime64[us]: decision i at ``start + i *
    interval_s``, its reward ``reward_delay_s`` later (one number, or one per row)."""
    if not np.isfinite(interval_s) or interval_s < 0:
        raise ConfigError(f"interval_s must be finite and >= 0, got {interval_s!r}")
    delay = np.asarray(reward_delay_s, np.float64)
    if delay.ndim not in (0, 1) or (delay.ndim == 1 and delay.shape != (n,)):
        raise ConfigError(f"reward_delay_s must be one number or one per row ({n},), got "
                          f"shape {delay.shape}")
    bad = np.flatnonzero(~np.isfinite(delay.reshape(-1)) | (delay.reshape(-1) < 0))
    if bad.size:
        where = f" (row {bad[0]})" if delay.ndim else ""
        raise ConfigError(f"reward_delay_s must be finite and >= 0, got "
                          f"{plain(delay.reshape(-1)[bad[0]])}{where}")
    start = np.datetime64(start, "us")
    if np.isnat(start):
        raise ConfigError("start must be a timestamp, got NaT")
    ts = start + np.round(np.arange(n) * (interval_s * 1e6)).astype("timedelta64[us]")
    return ts, ts + np.round(delay * 1e6).astype("timedelta64[us]")


def _optional_event_columns(cols: dict, n: int, n_arms: int, user_id, position,
                            scores) -> None:
    """Adds ``user_id`` (n,), ``position`` (n,) (scalars repeated) and ``scores``
    (n, K) to ``cols`` when given."""
    for name, x in (("user_id", user_id), ("position", position)):
        if x is not None:
            x = np.asarray(x)
            x = np.full(n, x[()]) if x.ndim == 0 else x
            if x.shape != (n,):
                raise DataError(f"{name} must have shape ({n},), got {x.shape}")
            cols[name] = x
    if scores is not None:
        s = np.asarray(scores)
        if s.shape != (n, n_arms):
            raise DataError(f"scores must have shape (n, n_arms)=({n}, {n_arms}), got "
                            f"{s.shape}")
        cols["scores"] = s


def events_from_logged(data: LoggedData, *, policy_version: str, algorithm: str,
                       exploration: dict, start: np.datetime64, interval_s: float = 1.0,
                       user_id=None, position=None, scores=None, reward_delay_s=0.0,
                       event_prefix: str = "ev") -> dict[str, np.ndarray]:
    """The decision-event columns of a simulated deployment that logged ``data``.

    Event ids are ``event_prefix`` + the row number in 7 (or more) digits, decision ``i``
    happens at ``start + i * interval_s`` and its reward arrives ``reward_delay_s`` later
    (seconds: one number, or (n,) for delays that vary, e.g. a delayed run's
    ``trajectories["delay"]`` times ``interval_s``);
    ``eligible_actions`` is ``data.mask`` (left out when the data has none: every arm is
    eligible). ``exploration`` is stored as its JSON text (keys sorted; NumPy and JAX
    numbers and arrays as numbers). The entries ``n_arms`` and ``arm_features`` (ints,
    ``data``'s) are not columns: the writers declare them in the file (Parquet metadata
    ``bandax.n_arms``, and ``bandax.arm_features`` for per-arm features).
    """
    if not isinstance(exploration, dict):
        raise ConfigError(f"exploration must be a dict (a JSON object), got "
                          f"{type(exploration).__name__}")
    n = data.n_rows
    ts, reward_ts = _event_times(n, start, interval_s, reward_delay_s)
    digits = max(7, len(str(max(n - 1, 0))))
    ids = np.char.add(event_prefix.encode(),
                      np.char.zfill(np.arange(n).astype(f"S{digits}"), digits))
    exploration_text = json.dumps(exploration, sort_keys=True,
                                  default=lambda x: json_default(np.asarray(x)))
    cols = {
        "event_id": ids, "timestamp": ts, "context": np.asarray(data.context),
        "action": np.asarray(data.action), "propensity": np.asarray(data.pscore, np.float64),
        "policy_version": np.full(n, str(policy_version).encode()),
        "algorithm": np.full(n, str(algorithm).encode()),
        "exploration": np.full(n, exploration_text.encode()),
        "reward": np.asarray(data.reward, np.float64), "reward_timestamp": reward_ts,
        "n_arms": int(data.n_arms), "arm_features": int(data.arm_features),
    }
    if data.mask is not None:
        cols["eligible_actions"] = np.asarray(data.mask, bool)
    _optional_event_columns(cols, n, data.n_arms, user_id, position, scores)
    return cols
