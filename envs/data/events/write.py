"""Writing decision logs: ``EventWriter`` streams batches of NumPy columns to a file,
``write_events`` cuts a whole log into such batches, ``write_partitioned`` into one file
per day (a hive-partitioned dataset)."""

from __future__ import annotations

import os

import numpy as np

from common.errors import DataError
from envs.data.events.columns import columns_to_batch, declared_arm_features, declared_arms
from envs.data.events.files import Sink
from envs.data.events.formats import file_format, open_sink
from envs.data.events.schema import event_schema
from envs.data.validation import check_count


class EventWriter:
    """Streams decision events to ``path`` (.parquet, .csv or .jsonl), one batch at a time.

    >>> with EventWriter("log.parquet", dim=20, n_arms=5) as w:       # doctest: +SKIP
    ...     for cols in batches:
    ...         w.write(cols)

    ``write`` takes a dict of equal-length NumPy arrays keyed by field name; optional
    fields may be left out (written as null). String fields may also be one scalar, and an
    ``n_arms`` entry (an int) states the number of arms. The number of arms is declared in
    a Parquet file's metadata (``bandax.n_arms``) when it is known at the first write: from
    ``n_arms`` here, or the first batch's ``n_arms``, eligible_actions width or scores
    width. Every batch must agree with it. A context made of every arm's own d features
    (K·d, arm-major) is declared likewise (``bandax.arm_features``), from ``arm_features``
    here or the first batch's ``arm_features`` entry.
    """

    def __init__(self, path, dim, with_scores=False, n_arms: int | None = None,
                 arm_features: int | None = None):
        self.path = str(path)
        self.dim = check_count("dim", dim)
        self.with_scores = bool(with_scores)
        self.n_arms = None if n_arms is None else check_count("n_arms", n_arms)
        self.arm_features = check_count("arm_features", arm_features) if arm_features \
            else None
        self.schema = event_schema(self.dim, self.with_scores, self.n_arms, self.arm_features)
        self.rows = 0
        file_format(self.path)
        self._sink: Sink | None = None
        self._closed = False

    def _open(self) -> Sink:
        if self._sink is None:  # opened at the first write, once K may be known
            self._sink = open_sink(self.path, self.schema, self.dim)
        return self._sink

    def write(self, columns: dict[str, np.ndarray]) -> None:
        """Writes one batch: equal-length (n, ...) NumPy columns keyed by field name."""
        if self._closed:
            raise ValueError(f"EventWriter for {self.path!r} is closed")
        k = declared_arms(columns, self.n_arms)
        d = declared_arm_features(columns, self.arm_features)
        declare = self._sink is None
        schema = event_schema(self.dim, self.with_scores, k, d) if declare else self.schema
        batch = columns_to_batch(columns, schema, self.dim)
        if declare:  # only once the batch is known to be good
            self.schema, self.n_arms, self.arm_features = schema, k, d
        self._open().write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        if not self._closed:
            self._open().close()  # a log with no rows is still a file with its schema
            self._closed = True

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_events(path, columns: dict[str, np.ndarray], batch_rows=65536,
                 n_arms: int | None = None, arm_features: int | None = None) -> None:
    """Writes a whole log, ``batch_rows`` rows per batch (a Parquet row group each).

    ``n_arms`` (or an ``n_arms`` entry of ``columns``, as ``events_from_logged`` gives)
    is declared in a Parquet file's metadata; without either, the width of the
    eligible_actions mask or of scores is, when given. ``arm_features`` (or the columns'
    entry) is declared with it.
    """
    batch_rows = check_count("batch_rows", batch_rows)
    for f in ("context", "action"):
        if columns.get(f) is None:
            raise DataError(f"missing required columns: {f}")
    ctx = np.asarray(columns["context"])
    if ctx.ndim != 2:
        raise DataError(f"context must be 2-D (n, d), got shape {ctx.shape}")
    n = np.asarray(columns["action"]).shape[0]
    with EventWriter(path, ctx.shape[1], with_scores=columns.get("scores") is not None,
                     n_arms=n_arms, arm_features=arm_features) as w:
        for lo in range(0, max(n, 1), batch_rows):
            w.write({k: (v[lo:lo + batch_rows] if np.ndim(v) >= 1 else v)
                     for k, v in columns.items()})


PARTITIONS = {"day": ("date", "D"), "hour": ("hour", "h")}  # by -> (hive key, unit)


def write_partitioned(directory, columns: dict[str, np.ndarray], batch_rows=65536,
                      n_arms: int | None = None, arm_features: int | None = None,
                      by: str = "day") -> list[str]:
    """Writes a log as a hive-partitioned Parquet dataset, one directory per UTC day (or
    hour) of the decisions' timestamps: ``<directory>/date=2026-01-01/part-0.parquet``
    (``hour=2026-01-01T05/`` by hour); each file declares K (and d) as
    :func:`write_events` does. Returns the files written.

    ``columns`` must be in time order (the rows of a partition stay in their order)."""
    if by not in PARTITIONS:
        raise ValueError(f"partitions are by {' or '.join(PARTITIONS)}, got {by!r}")
    key, unit = PARTITIONS[by]
    part = np.asarray(columns["timestamp"], f"datetime64[{unit}]")
    if np.any(part[1:] < part[:-1]):
        raise DataError("timestamp must be in time order to write a partitioned log")
    bounds = np.r_[np.flatnonzero(np.r_[True, part[1:] != part[:-1]]), len(part)]
    files = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # one file per partition
        sub = os.path.join(str(directory), f"{key}={part[lo]}")
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, "part-0.parquet")
        write_events(path, {k: (v[lo:hi] if np.ndim(v) >= 1 else v)
                            for k, v in columns.items()}, batch_rows, n_arms, arm_features)
        files.append(path)
    return files
