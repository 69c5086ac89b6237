"""Decision logs bigger than memory: a Parquet file or a directory of them (hive
partitions such as ``date=2026-01-03/``), opened through ``pyarrow.dataset`` and read
one record batch at a time.

Each batch goes through the reader of :mod:`.read` as a small log of its own, so it is
judged by the same rules and assembled into the same validated ``LoggedData``; messages
name the file and the row in it. What a streamed read cannot do, it refuses up front:
the number of arms must be known before the first row (``load.n_arms`` or the files'
``bandax.n_arms``), every file must declare the same sizes, and invalid rows stop the
read (setting them aside needs the whole file, see :func:`read_events`). Event ids are
checked for repeats within each batch; a repeat across batches is not detected (that
would need every id in memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from common.errors import ConfigError, DataError
from envs.data.events.cells import check_column_type
from envs.data.events.files import Source, present_fields
from envs.data.events.parquet import declared_count
from envs.data.events.read import EventLog, Reader
from envs.data.events.schema import ARM_FEATURES_KEY, KINDS, N_ARMS_KEY, REQUIRED
from envs.data.validation import check_arm_features, check_count


@dataclass(frozen=True)
class Dataset:
    """A partitioned Parquet log, opened: its files (in path order), the event fields
    they hold, and its sizes.

    Attributes:
        path: the directory (or the one file).
        files: every Parquet file, sorted by path (the order rows are read in).
        present: the event fields the files hold, in field order.
        partitions: the hive partition keys (directory names ``key=value``).
        n_arms: K, from ``load.n_arms`` or the files' ``bandax.n_arms``.
        arm_features: d per arm (0: a shared context).
        n_rows: the rows in all files (from their footers).
        time_ranges: each file's earliest and latest timestamp from its footer's
            statistics (None where a file has none).
    """

    path: str
    files: tuple[str, ...]
    present: tuple[str, ...]
    partitions: tuple[str, ...]
    n_arms: int
    arm_features: int
    n_rows: int
    time_ranges: tuple = ()

    def files_from(self, time: np.datetime64) -> tuple[str, ...]:
        """The files that may hold rows at or after ``time`` (by their statistics)."""
        return tuple(f for f, r in zip(self.files, self._ranges()) if r is None or r[1] >= time)

    def files_before(self, time: np.datetime64) -> tuple[str, ...]:
        """The files that may hold rows before ``time``."""
        return tuple(f for f, r in zip(self.files, self._ranges()) if r is None or r[0] < time)

    def _ranges(self) -> tuple:
        return self.time_ranges or (None,) * len(self.files)


def _time_range(meta) -> tuple[np.datetime64, np.datetime64] | None:
    """The earliest and latest ``timestamp`` of a Parquet file from its row groups'
    statistics, or None when a row group has none."""
    cols = [j for j in range(meta.num_columns) if meta.schema.column(j).path == "timestamp"]
    if not cols or meta.num_row_groups == 0:
        return None
    lows, highs = [], []
    for g in range(meta.num_row_groups):  # over row groups, not rows
        st = meta.row_group(g).column(cols[0]).statistics
        if st is None or not st.has_min_max:
            return None
        lows.append(np.datetime64(st.min.replace(tzinfo=None), "us"))
        highs.append(np.datetime64(st.max.replace(tzinfo=None), "us"))
    return min(lows), max(highs)


def _files(path: str) -> tuple[ds.Dataset, tuple[str, ...]]:
    """The pyarrow dataset at ``path`` and its files in path order."""
    if not os.path.exists(path):
        raise DataError(f"no such log file or directory: {path!r}")
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet dataset ({err})") from None
    files = tuple(sorted(dataset.files))
    if not files:
        raise DataError(f"{path}: the directory holds no Parquet files")
    return dataset, files


def _declared_sizes(files: tuple[str, ...]) -> tuple[int | None, int | None]:
    """``(K, d)`` the files declare in their metadata (None where none does); every file
    that declares one must declare the same."""
    seen: dict[bytes, tuple[int, str]] = {}
    for f in files:
        schema = pq.read_schema(f)
        for key, what in ((N_ARMS_KEY, "the number of arms"),
                          (ARM_FEATURES_KEY, "features per arm")):
            value = declared_count(f, schema, key, what)
            if value is None:
                continue
            first = seen.setdefault(key, (value, f))
            if first[0] != value:
                raise DataError(f"the files disagree on {key.decode()}: {first[1]} declares "
                                f"{first[0]}, {f} declares {value}")
    return (seen.get(N_ARMS_KEY, (None,))[0], seen.get(ARM_FEATURES_KEY, (None,))[0])


def _checked_fields(path: str, schema: pa.Schema, partitions) -> tuple[str, ...]:
    """The event fields of ``schema`` after checking the required ones are there and
    every one has a type the reader takes."""
    present = present_fields(schema.names)
    missing = [f for f in REQUIRED if f not in present]
    if missing:
        raise DataError(f"{path}: missing required columns: {', '.join(missing)} "
                        f"(found: {', '.join(schema.names)})")
    clash = [p for p in partitions if p in KINDS]
    if clash:
        raise DataError(f"{path}: the partition key {clash[0]!r} is an event field")
    for f in present:
        check_column_type(f, schema.field(f).type)
    return tuple(present)


def open_dataset(path, *, n_arms: int | None = None,
                 arm_features: int | None = None) -> Dataset:
    """Opens a Parquet file or a (hive-partitioned) directory of them for streaming.

    Args:
        n_arms: K (``load.n_arms``); None: the files' ``bandax.n_arms``.
        arm_features: d per arm (``load.arm_features``); None: the files'
            ``bandax.arm_features``, else 0.

    Raises:
        ConfigError: K is neither given nor declared.
        DataError: no files, a missing or mistyped column, files that disagree.
    """
    path = str(path)
    dataset, files = _files(path)
    partitions = tuple(n for n in dataset.schema.names
                       if n not in pq.read_schema(files[0]).names)
    present = _checked_fields(path, dataset.schema, partitions)
    declared_k, declared_d = _declared_sizes(files)
    k = declared_k if n_arms is None else check_count("load.n_arms", n_arms)
    if k is None:
        raise ConfigError(f"{path}: a streamed log needs its number of arms before the "
                          f"first row: give load.n_arms=K or write {N_ARMS_KEY.decode()} "
                          "into the files' metadata")
    d = (declared_d or 0) if arm_features is None else int(arm_features)
    t = dataset.schema.field("context").type
    if d and pa.types.is_fixed_size_list(t):
        check_arm_features(d, k, t.list_size, f"{path}: arm_features")
    metas = [pq.ParquetFile(f).metadata for f in files]
    return Dataset(path, files, present, partitions, int(k), int(d),
                   sum(m.num_rows for m in metas), tuple(_time_range(m) for m in metas))


class _BatchSource(Source):
    """One record batch of a dataset file, as the reader's source."""

    fmt = "parquet"

    def __init__(self, path: str, batch: pa.RecordBatch, data: Dataset):
        self.path, self.batch_rows, self.batch = path, max(batch.num_rows, 1), batch
        self.present, self.ignored, self.ctx_cols = list(data.present), [], []
        self.declared_arms, self.declared_arm_features = data.n_arms, data.arm_features
        self.num_rows = batch.num_rows
        t = batch.schema.field("context").type
        self.dim_hint = t.list_size if pa.types.is_fixed_size_list(t) else None

    def raw(self):
        yield self.batch, {}


def _batch_log(data: Dataset, path: str, batch: pa.RecordBatch, first_row: int,
               missing_reward) -> EventLog:
    """The validated rows of one batch (file rows ``first_row`` on) as an EventLog."""
    rd = Reader(_BatchSource(path, batch, data), data.n_arms, missing_reward, "raise",
                 None, data.arm_features, first_row)
    kept_rows, keep = rd.read_all()
    report = rd.report(int(keep.sum()), {})
    return rd.assemble(kept_rows, keep, report)


def stream_events(data: Dataset, files=None, *, batch_rows: int = 262_144,
                  missing_reward: float | None = None) -> Iterator[tuple[str, EventLog]]:
    """``(file, rows)`` for every record batch of ``files`` (default: all of the
    dataset's, in path order), at most ``batch_rows`` rows each, validated as
    :func:`envs.data.events.read.read_events` validates a file.

    Raises:
        DataError: the first invalid row, naming its file, row and value.
    """
    check_count("batch_rows", batch_rows)
    for f in data.files if files is None else files:
        first = 0
        pf = pq.ParquetFile(f, pre_buffer=False)
        for batch in pf.iter_batches(batch_size=int(batch_rows), columns=list(data.present)):
            if batch.num_rows:
                yield f, _batch_log(data, f, batch, first, missing_reward)
            first += batch.num_rows
