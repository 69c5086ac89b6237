"""Reading a decision log: ``read_events`` streams record batches, judges every row, keeps
the good ones (or stops at the first bad one) and assembles validated ``LoggedData`` with
the event fields.

Every batch is first brought to one set of Arrow types whatever the format held
(:mod:`.batch`), then to NumPy through flattened values and offsets; no step loops over
rows in Python. The assembled arrays still go through ``LoggedData.from_arrays``, so the
result meets the same contract as any other logged data. Row numbers in messages and in
the rejects file are 0-based positions of the data rows in the file (the CSV header and
blank JSON lines do not count).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from common.errors import ConfigError, DataError
from envs.data.events.arms import ArmCount, arms_line
from envs.data.events.arrow import as_bytes
from envs.data.events.batch import Batch
from envs.data.events.checks import duplicate_ids, judge
from envs.data.events.files import Source
from envs.data.events.formats import file_format, open_source
from envs.data.events.messages import message
from envs.data.events.rejects import Rejects
from envs.data.events.schema import ARM_FEATURES_KEY, REASON_CODE, REASONS
from envs.data.events.store import KeptRows
from envs.data.logged import LoggedData
from envs.data.validation import check_arm_features, check_count


@dataclass(frozen=True)
class EventLog:
    """A decision log read by :func:`read_events`: the logged data plus the event fields.

    Attributes:
        data: the rows kept, as validated ``LoggedData`` (context float32 (n, d), action
            int32, reward float32 with pending rewards filled, pscore float64, mask (n, K)
            bool, all True where the log gives no eligible set).
        event_id: (n,) bytes.
        timestamp: (n,) datetime64[us], UTC.
        user_id: (n,) bytes, b"" where null; None if no row has one.
        position: (n,) int32, -1 where null; None if no row has one.
        policy_version, algorithm, exploration: (n,) bytes, b"" where null.
        scores: (n, K) float32, NaN rows where null; None if no row has scores.
        reward_timestamp: (n,) datetime64[us], NaT where null.
        has_reward: (n,) bool, False where the reward was pending and filled.
        report: what happened on load (see :func:`read_events`).
    """

    data: LoggedData
    event_id: np.ndarray
    timestamp: np.ndarray
    user_id: np.ndarray | None
    position: np.ndarray | None
    policy_version: np.ndarray
    algorithm: np.ndarray
    exploration: np.ndarray
    scores: np.ndarray | None
    reward_timestamp: np.ndarray
    has_reward: np.ndarray
    report: dict

    @property
    def n_rows(self) -> int:
        return self.data.n_rows


_KEPT_FIELDS = ("context", "action", "propensity", "reward", "has_reward", "timestamp",
                "reward_timestamp", "policy_version", "algorithm", "exploration", "user_id",
                "position")


class Reader:
    """The state of one read: sizes learned so far, kept rows, counts, rejects."""

    def __init__(self, src: Source, n_arms, missing_reward, on_invalid, rejects_path,
                 arm_features=None, first_row: int = 0):
        self.src = src
        self.first_row = first_row  # the file row of the source's first row
        self.arm_features = arm_features
        self.missing_reward = missing_reward
        self.reject = on_invalid == "reject"
        self.rejects_path = rejects_path
        self.rejects = Rejects(rejects_path)
        self.dim = src.dim_hint
        self.arms = ArmCount(n_arms, src.declared_arms)
        self.rows = first_row
        self.n_batches = 0
        self.kept = KeptRows(src.num_rows, missing_reward)
        self.ids: list[np.ndarray] = []
        self.id_null: list[np.ndarray] = []
        self.counts = np.zeros(len(REASONS) + 1, np.int64)
        self.dup_rows = np.zeros(0, np.int64)

    def _open_rejects(self):
        return self.rejects.open("scores" in self.src.present, self.dim)

    def batch(self, raw: pa.RecordBatch, bad: dict) -> None:
        """Judges one batch by every rule, then raises, or sets aside its bad rows and
        keeps the rest."""
        b = Batch(raw, bad, self.src.ctx_cols)
        row0 = self.rows
        self.n_batches += 1
        v = judge(b, self.arms, self.dim, self.missing_reward, row0)
        self.dim = v.dim
        self.ids.append(as_bytes(b.arrow["event_id"]))
        self.id_null.append(b.null["event_id"])
        self.rows += b.n
        bad_rows = v.reason > 0
        if bad_rows.any():
            if not self.reject:
                r = int(np.argmax(bad_rows))
                name = REASONS[v.reason[r] - 1]
                raise DataError(message(self.src.path, name, b, r, row0,
                                        int(v.rules[name].sum()), self.arms, self.dim))
            self.counts += np.bincount(v.reason, minlength=len(self.counts))
            self._open_rejects()
            self.rejects.write(b, bad_rows, v.reason, row0)
        keep = ~bad_rows
        self.kept.add(b, v, keep, row0)
        if "scores" in b.arrow:  # JSON Lines always have both list columns
            self.kept.add_scores(b, keep, *v.lists.get("scores", (None, None)),
                                 self.arms.scores_len)
        if "eligible_actions" in b.arrow:
            self.kept.add_eligible(b, keep, *v.lists.get("eligible_actions", (None, None)),
                                   self.arms.n_arms)

    def read_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Reads every batch; returns the kept rows' positions in the source (file row −
        ``first_row``) and, over them, the mask
        of those that survive the duplicate check."""
        try:
            for raw, bad in self.src.batches():
                self.batch(raw, bad)
            if self.rows == self.first_row:
                raise DataError(f"{self.src.path}: the log holds no events")
            self.duplicates()
            kept_rows = self.kept.store.pop("row", np.int64) - self.first_row
            keep = self.drop_duplicates(kept_rows) if self.reject else \
                np.ones(len(kept_rows), bool)
            if self.reject:
                self._open_rejects()  # an empty rejects file says "nothing rejected"
        finally:
            self.rejects.close()
        return kept_rows, keep

    def duplicates(self) -> None:
        """Rows whose event_id already appeared earlier in the file (first one kept)."""
        ids = np.concatenate(self.ids) if self.ids else np.zeros(0, "S1")
        nul = np.concatenate(self.id_null) if self.id_null else np.zeros(0, bool)
        self.ids = [ids]
        later, first_of = duplicate_ids(ids, nul)
        self.dup_rows = np.sort(later)
        if len(later) and not self.reject:
            i = int(np.argmin(later))
            raise DataError(f"{self.src.path}: event_id must be unique; "
                            f"{ids[later[i]].decode(errors='replace')!r} is in rows "
                            f"{int(first_of[i]) + self.first_row} and "
                            f"{int(later[i]) + self.first_row} ({len(later)} "
                            f"{'row repeats' if len(later) == 1 else 'rows repeat'} an "
                            f"earlier event_id)")

    def drop_duplicates(self, kept_rows: np.ndarray) -> np.ndarray:
        """Sets kept rows with a repeated id aside; returns the keep mask over kept rows."""
        keep = ~np.isin(kept_rows, self.dup_rows)
        dups = kept_rows[~keep]  # already-rejected repeats keep their first reason
        if len(dups):
            self.counts[REASON_CODE["event_id:duplicate"]] += len(dups)
            self._open_rejects()
            self.rejects.write_duplicates(self.src.path, self.src.batch_rows,
                                          self.src.ctx_cols, dups)
        return keep

    def assemble(self, kept_rows: np.ndarray, keep: np.ndarray, report: dict) -> EventLog:
        """The EventLog of the kept rows; fills the report's counts and arm facts."""
        sel = (lambda x: x) if keep.all() else (lambda x: x[keep])
        out: dict = {"event_id": sel(self.ids.pop()[kept_rows])}
        for f in _KEPT_FIELDS:
            out[f] = sel(self.kept.store.pop(f))
        report["rewards_filled"] = int(np.sum(~out["has_reward"]))
        elig = self.kept.store.chunks.pop("eligible_actions", [])
        present = self.kept.present
        k = self.arms.final(self.src.path, out["action"],
                            max([c[1].shape[1] for c in elig], default=0),
                            "scores" in present)
        report.update(n_arms=k, n_arms_source=self.arms.k_source,
                      n_arms_from=self.arms.k_from,
                      n_arms_inferred=self.arms.k_source == "inferred",
                      arms_without_rows=np.flatnonzero(
                          np.bincount(out["action"], minlength=k) == 0).tolist())
        mask = self.kept.mask(k, len(out["action"]), self.arms.n_arms, elig, sel)
        scores = sel(self.kept.store.pop_blocks("scores", k, np.nan)) \
            if "scores" in present else None
        d = self.features_per_arm(k, report)
        return EventLog(
            data=LoggedData.from_events(out, k, mask, d), event_id=out["event_id"],
            timestamp=out["timestamp"].view("datetime64[us]"),
            user_id=out["user_id"] if "user_id" in present else None,
            position=out["position"] if "position" in present else None,
            policy_version=out["policy_version"], algorithm=out["algorithm"],
            exploration=out["exploration"], scores=scores,
            reward_timestamp=out["reward_timestamp"].view("datetime64[us]"),
            has_reward=out["has_reward"], report=report)

    def features_per_arm(self, k: int, report: dict) -> int:
        """d, the features per arm (``load.arm_features``, else the file's metadata, else
        0: a shared context), checked against K and the context's width; reported."""
        d, source = self.arm_features, "load.arm_features"
        if d is None:
            d = self.src.declared_arm_features or 0
            source = f"{ARM_FEATURES_KEY.decode()} in the file's metadata"
        if d:
            check_arm_features(d, k, self.dim, f"{self.src.path}: {source}")
        report.update(arm_features=int(d), arm_features_source=source if d else None)
        return int(d)

    def report(self, n_kept: int, counts: dict) -> dict:
        """The load report before assembly (the arm facts are filled by ``assemble``)."""
        return {"path": self.src.path, "format": self.src.fmt,
                "rows_read": self.rows - self.first_row,
                "rows_kept": n_kept, "rows_rejected": int(sum(counts.values())),
                "rejected": counts, "rewards_filled": 0, "n_arms": None,
                "n_arms_source": None, "n_arms_from": None, "n_arms_inferred": None,
                "arms_without_rows": None, "dim": self.dim, "batches": self.n_batches,
                "ignored_columns": list(self.src.ignored), "rejects_path": self.rejects_path}


def _check_read_args(path: str, n_arms, missing_reward, on_invalid, rejects_path,
                     batch_rows, arm_features=None) -> None:
    """Raises ConfigError for a setting of ``read_events`` (spelt as the gate's load.*)."""
    if on_invalid not in ("raise", "reject"):
        raise ConfigError(f"load.on_invalid must be 'raise' or 'reject', got {on_invalid!r}")
    if on_invalid == "reject" and not rejects_path:
        raise ConfigError("load.on_invalid=reject needs load.rejects_path: where the invalid "
                          "rows go")
    if rejects_path is not None:
        file_format(rejects_path, "load.rejects_path")
        if os.path.abspath(str(rejects_path)) == os.path.abspath(path):
            raise ConfigError("load.rejects_path must not be the log itself")
    if n_arms is not None:
        check_count("load.n_arms", n_arms)
    if arm_features is not None and (isinstance(arm_features, bool) or not isinstance(
            arm_features, (int, np.integer)) or arm_features < 0):
        raise ConfigError(f"load.arm_features must be an integer >= 0 or null, got "
                          f"{arm_features!r}")
    if missing_reward is not None and (
            isinstance(missing_reward, bool) or not isinstance(missing_reward, (
                int, float, np.number)) or not np.isfinite(missing_reward)):
        raise ConfigError(f"load.missing_reward must be a finite number or null, got "
                          f"{missing_reward!r}")
    check_count("batch_rows", batch_rows)


def read_events(path, *, n_arms: int | None = None, missing_reward: float | None = None,
                on_invalid: str = "raise", rejects_path: str | None = None,
                batch_rows: int = 65536, arm_features: int | None = None) -> EventLog:
    """Reads and validates a decision log (.parquet, .csv or .jsonl), streaming batches.

    Args:
        path: the log file; the format is chosen by its extension.
        n_arms: K (the gate's ``load.n_arms``). When None, K is the file's declared count
            (Parquet metadata ``bandax.n_arms``), else the length of ``scores``, else
            inferred as 1 + the largest arm id in ``action`` and ``eligible_actions`` of
            the rows kept; how it was found is reported and an inferred K is printed.
        missing_reward: the reward given to pending rows (null reward); they are counted in
            ``report["rewards_filled"]`` and ``has_reward`` is False there. None: a pending
            reward is an error.
        on_invalid: ``"raise"`` stops at the first batch holding an invalid row and names
            its first bad row; ``"reject"`` sets every invalid row aside in
            ``rejects_path`` (same fields, plus ``reject_reason``, ``reject_value`` and
            ``source_row``) and keeps the rest. The first occurrence of an event id is kept.
        rejects_path: where the rejects go (.parquet, .csv or .jsonl); required with
            ``"reject"``.
        batch_rows: rows per batch.
        arm_features: d when every arm has its own d features (the context holds the K
            vectors arm-major, K·d numbers; the gate's ``load.arm_features``); 0: one
            context shared by the arms. When None, the file's declared d (Parquet
            metadata ``bandax.arm_features``), else 0.

    Returns:
        An :class:`EventLog`; ``report`` holds ``rows_read``, ``rows_kept``,
        ``rows_rejected``, ``rejected`` (counts by reason), ``rewards_filled``,
        ``n_arms``, ``n_arms_source`` (``"config"``, ``"file metadata"`` or
        ``"inferred"``), ``n_arms_from`` (where K came from, in words),
        ``n_arms_inferred``, ``arms_without_rows`` (ids in [0, K) that no kept row logs as
        its action), ``arm_features`` and ``arm_features_source`` (None for a shared
        context), ``dim``, ``format``, ``batches``, ``ignored_columns`` (columns or
        JSON keys of the file that are not event fields).

    Raises:
        ConfigError: a setting is wrong.
        DataError: naming the field, the bad value and the row (see ``docs/events.md``).
    """
    path = str(path)
    _check_read_args(path, n_arms, missing_reward, on_invalid, rejects_path, batch_rows,
                     arm_features)
    src = open_source(path, int(batch_rows))
    rd = Reader(src, None if n_arms is None else int(n_arms), missing_reward, on_invalid,
                 None if rejects_path is None else str(rejects_path),
                 None if arm_features is None else int(arm_features))
    return _read(rd, path)


def _read(rd: Reader, path: str) -> EventLog:
    """Reads every batch, reports the rejects, and assembles the kept rows."""
    kept_rows, keep = rd.read_all()
    counts = {r: int(c) for r, c in zip(REASONS, rd.counts[1:]) if c}
    report = rd.report(int(keep.sum()), counts)
    if rd.reject:
        detail = ", ".join(f"{r}: {c:,}" for r, c in counts.items()) or "none"
        print(f"read_events {path}: kept {report['rows_kept']:,} of {rd.rows:,} rows; "
              f"rejected {report['rows_rejected']:,} ({detail}) -> {rd.rejects_path}")
    if report["rows_kept"] == 0:
        raise DataError(f"{path}: no valid rows: all {rd.rows:,} rows were rejected (see "
                        f"{rd.rejects_path}; counts {counts})")
    log = rd.assemble(kept_rows, keep, report)
    line = arms_line(report, rd.src.declared_arms)
    if line is not None:
        print(f"read_events {path}: {line}")
    return log
