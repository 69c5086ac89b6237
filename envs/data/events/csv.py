"""Decision logs in CSV: the context as columns ``context_0..context_{d-1}``, lists as
space-separated numbers (an empty list as one space: an empty cell is null), timestamps
as ISO-8601 text. Every cell is read as text and parsed by :mod:`.cells`."""

from __future__ import annotations

import csv as _csv
import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from common.errors import DataError
from envs.data.events.arrow import is_list, lengths, np_bool, null_where, relist, text
from envs.data.events.files import Sink, Source
from envs.data.events.schema import FIELDS, ISO

_CTX_COL = re.compile(r"context_(\d+)")


def _context_columns(a: pa.Array, dim: int) -> list[pa.Array]:
    """The (n,) fixed-size context lists as ``dim`` columns of numbers."""
    starts = np.zeros(len(a), np.int64)
    sizes = lengths(a)
    np.cumsum(sizes[:-1], out=starts[1:])
    vals = a.flatten()
    cols = []
    for j in range(dim):
        has = sizes > j
        col = vals.take(pa.array(np.where(has, starts + j, 0))) if len(vals) else \
            pa.nulls(len(a), a.type.value_type)
        cols.append(null_where(col, ~has))
    return cols


def _list_cells(field: pa.Field, a: pa.Array) -> pa.Array:
    """Lists as space-separated text; an empty list is one space (an empty cell is
    null), a null number in a list of floats is ``nan``."""
    inner = text(a.flatten())
    if pa.types.is_floating(field.type.value_type):
        inner = inner.fill_null("nan")
    cell = pc.binary_join(relist(a, inner), " ")
    empty = (lengths(a) == 0) & ~np_bool(a.is_null())
    if empty.any():
        cell = pc.if_else(pa.array(empty), " ", cell)
    return cell


def csv_cells(batch: pa.RecordBatch, dim: int) -> pa.RecordBatch:
    """A batch in the CSV layout: context as context_0.., lists as space-separated text,
    timestamps as ISO-8601 text."""
    names, cols = [], []
    for field, a in zip(batch.schema, batch.columns):
        if field.name == "context":
            names += [f"context_{j}" for j in range(dim)]
            cols += _context_columns(a, dim)
        elif is_list(field.type):
            names.append(field.name)
            cols.append(_list_cells(field, a))
        elif pa.types.is_timestamp(field.type):
            names.append(field.name)
            cols.append(pc.strftime(a, format=ISO))
        else:
            names.append(field.name)
            cols.append(a)
    return pa.RecordBatch.from_arrays(cols, names=names)


class CsvSource(Source):
    """A CSV log: the header names the columns, every cell is read as text."""

    fmt = "csv"

    def open(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as fh:
            header = next(_csv.reader(fh), [])
        ctx = sorted((int(m.group(1)), c) for c in header if (m := _CTX_COL.fullmatch(c)))
        if [i for i, _ in ctx] != list(range(len(ctx))):
            raise DataError(f"{self.path}: context columns must be context_0.."
                            f"context_{{d-1}}, found {[c for _, c in ctx]}")
        self.ctx_cols = [c for _, c in ctx]
        self.dim_hint = len(ctx) or None
        self.present = [f for f in FIELDS if f in header or (f == "context" and ctx)]
        self.note_ignored(header)
        self.check_required(self.present)

    def raw(self):
        cols = [f for f in self.present if f != "context" or not self.ctx_cols] + self.ctx_cols
        opts = pcsv.ConvertOptions(column_types={c: pa.string() for c in cols},
                                   include_columns=cols, null_values=[""],
                                   strings_can_be_null=True, quoted_strings_can_be_null=True)
        try:
            reader = pcsv.open_csv(self.path, read_options=pcsv.ReadOptions(block_size=1 << 24),
                                   parse_options=pcsv.ParseOptions(newlines_in_values=True),
                                   convert_options=opts)
            for b in reader:
                yield b, {}
        except pa.ArrowInvalid as err:
            raise DataError(f"{self.path}: malformed CSV: {err}") from None


class CsvSink(Sink):
    def open(self):
        empty = pa.RecordBatch.from_pylist([], schema=self.schema)
        return pcsv.CSVWriter(self.path, csv_cells(empty, self.dim).schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(csv_cells(batch, self.dim))


def read_table(path: str, string_columns: Sequence[str] = ()) -> pa.Table:
    """A whole CSV file as a table; ``string_columns`` are read as text, the others as
    Arrow infers them."""
    types = {c: pa.string() for c in string_columns}
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
