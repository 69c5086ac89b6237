"""What every log format provides: a ``Source`` that reads a file as record batches and a
``Sink`` that writes batches of one schema. The formats are :mod:`.parquet`, :mod:`.csv`
and :mod:`.jsonl`; :mod:`.formats` picks one by the file extension."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa

from common.errors import DataError
from envs.data.events.schema import FIELDS, KINDS, REQUIRED


class Source:
    """The record batches of one log file, of at most ``batch_rows`` rows, each with the
    cells found unparseable while reading (a dict field -> ((b,) bool mask, (b,) text);
    only JSON Lines fill it: a typed JSON parse fails per block).

    Attributes set on opening: ``present`` (the event fields the file holds),
    ``ignored`` (its columns that are not event fields, first seen first), ``dim_hint``
    (d when the file states it), ``ctx_cols`` (CSV: the ``context_j`` columns),
    ``declared_arms`` and ``declared_arm_features`` (K and the features per arm d from the
    file's metadata, Parquet only) and ``num_rows`` (known up front for Parquet only).
    """

    fmt = ""

    def __init__(self, path: str, batch_rows: int):
        self.path, self.batch_rows = path, batch_rows
        self.dim_hint = None
        self.ctx_cols: list[str] = []
        self.ignored: list[str] = []
        self.present: list[str] = []
        self.declared_arms = None
        self.declared_arm_features = None
        self.num_rows = None
        if not os.path.exists(path):
            raise DataError(f"no such log file: {path!r}")
        self.open()

    def open(self) -> None:
        """Reads what the file says about itself (columns, sizes) before any row."""
        raise NotImplementedError

    def raw(self) -> Iterator[tuple[pa.RecordBatch, dict]]:
        """The file's record batches as the format's reader cuts them."""
        raise NotImplementedError

    def check_required(self, present) -> None:
        """Raises naming the required fields missing from ``present``."""
        missing = [f for f in REQUIRED if f not in present]
        if missing:
            raise DataError(f"{self.path}: missing required columns: {', '.join(missing)} "
                            f"(found: {', '.join(present) or 'none'})")

    def note_ignored(self, names) -> None:
        """Adds the names that are not event fields to ``ignored`` (first seen first)."""
        self.ignored += [c for c in names if c not in KINDS and c not in self.ignored
                         and c not in self.ctx_cols]

    def batches(self) -> Iterator[tuple[pa.RecordBatch, dict]]:
        """Batches of at most ``batch_rows`` rows, with their unparseable cells."""
        for batch, bad in self.raw():
            for lo in range(0, batch.num_rows, self.batch_rows):
                sl = {f: (m[lo:lo + self.batch_rows], t.slice(lo, self.batch_rows))
                      for f, (m, t) in bad.items()}
                yield batch.slice(lo, self.batch_rows), sl


class Sink:
    """Writes Arrow batches of ``schema`` (a log with ``dim`` context features) to a file;
    ``close`` finishes it (a sink closed with no rows leaves a file with its schema)."""

    def __init__(self, path, schema: pa.Schema, dim: int):
        self.path, self.schema, self.dim = str(path), schema, dim
        self.writer = self.open()

    def open(self):
        """The format's writer of ``path``; it has ``close()``."""
        raise NotImplementedError

    def write(self, batch: pa.RecordBatch) -> None:
        """Writes one batch of at least one row."""
        raise NotImplementedError

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.write(batch)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def present_fields(names) -> list[str]:
    """The event fields among ``names``, in field order."""
    return [f for f in FIELDS if f in names]
