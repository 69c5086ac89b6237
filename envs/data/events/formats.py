"""The one choice of file format, by extension: ``.parquet``, ``.csv`` or ``.jsonl``, and
the readers and writers of each."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pyarrow as pa

from common.errors import ConfigError
from envs.data.events import csv, jsonl, parquet
from envs.data.events.files import Sink, Source

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}
_MODULES = {"parquet": parquet, "csv": csv, "jsonl": jsonl}
_SOURCES = {"parquet": parquet.ParquetSource, "csv": csv.CsvSource,
            "jsonl": jsonl.JsonlSource}
_SINKS = {"parquet": parquet.ParquetSink, "csv": csv.CsvSink, "jsonl": jsonl.JsonlSink}


def file_format(path, setting: str | None = None) -> str:
    """``"parquet"``, ``"csv"`` or ``"jsonl"`` by the extension of ``path``.

    Raises:
        ConfigError: another extension, naming ``setting`` (the option that gave the path)
            when given.
    """
    ext = os.path.splitext(str(path))[1].lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        where = f"{setting}: " if setting else ""
        raise ConfigError(f"{where}unknown log format {ext or '(none)'!r} for {str(path)!r}: "
                          "use .parquet, .csv or .jsonl")
    return fmt


def open_source(path: str, batch_rows: int) -> Source:
    """The record batches of a log file, of at most ``batch_rows`` rows."""
    return _SOURCES[file_format(path)](path, batch_rows)


def open_sink(path, schema: pa.Schema, dim: int) -> Sink:
    """A writer of batches of ``schema`` to ``path`` (``dim`` context features)."""
    return _SINKS[file_format(path)](path, schema, dim)


def read_table(path: str, string_columns: Sequence[str] = (),
               setting: str | None = None) -> pa.Table:
    """A whole (small) file as one table: ``string_columns`` read as text where the format
    stores text (CSV), every other column as the format gives it."""
    return _MODULES[file_format(path, setting)].read_table(path, string_columns)
