"""Decision logs in Parquet: read in row groups of typed columns, written by pyarrow's
writer; the number of arms and the features per arm travel in the schema metadata
(``bandax.n_arms``, ``bandax.arm_features``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import DataError
from envs.data.events.cells import check_column_type
from envs.data.events.files import Sink, Source, present_fields
from envs.data.events.schema import ARM_FEATURES_KEY, N_ARMS_KEY


def declared_count(path: str, schema: pa.Schema, key: bytes, what: str) -> int | None:
    """The count under the schema metadata ``key`` (``bandax.n_arms``: K,
    ``bandax.arm_features``: d), or None when it is not there."""
    declared = (schema.metadata or {}).get(key)
    if declared is None:
        return None
    text = declared.decode(errors="replace")
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise DataError(f"{path}: the metadata {key.decode()} must be "
                        f"an integer >= 1 ({what}), found {text!r}")
    return int(text)


class ParquetSource(Source):
    """A Parquet log: its columns are checked for type before any row is read."""

    fmt = "parquet"

    def open(self) -> None:
        try:
            pf = pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{self.path}: not a readable Parquet file ({err})") from None
        schema, self.num_rows = pf.schema_arrow, pf.metadata.num_rows
        self.declared_arms = declared_count(self.path, schema, N_ARMS_KEY, "the number of arms")
        self.declared_arm_features = declared_count(self.path, schema, ARM_FEATURES_KEY,
                                               "features per arm")
        self.present = present_fields(schema.names)
        self.note_ignored(schema.names)
        self.check_required(self.present)
        for f in self.present:
            check_column_type(f, schema.field(f).type)
        t = schema.field("context").type
        if pa.types.is_fixed_size_list(t):
            self.dim_hint = t.list_size

    def raw(self):
        # pre_buffer would hold the whole file in Arrow's pool while we read it
        pf = pq.ParquetFile(self.path, pre_buffer=False)
        for b in pf.iter_batches(batch_size=self.batch_rows, columns=self.present):
            yield b, {}


class ParquetSink(Sink):
    def open(self):
        return pq.ParquetWriter(self.path, self.schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)


def read_table(path: str, string_columns: Sequence[str] = ()) -> pa.Table:
    """A whole Parquet file as a table (its columns keep their stored types)."""
    return pq.read_table(path)
