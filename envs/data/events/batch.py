"""One batch of a log as it is judged: every column in its canonical Arrow type, the cells
that did not parse, the null cells, and NumPy views of the columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.data.events.arrow import as_bytes, fill, is_text, lengths, np_bool, text
from envs.data.events.cells import NUM_RE, canonical, cast_locate
from envs.data.events.schema import FIELDS, KINDS, NAT


class Batch:
    """One batch of b rows in canonical Arrow types and in NumPy.

    Attributes:
        n: b.
        arrow: field -> (b,) Arrow column in its canonical type (fields the file holds).
        typebad: field -> ((b,) bool cells that did not parse, (b,) their text).
        list_text: list fields that arrived as text -> the (b,) text as it was.
        null: field -> (b,) bool null cells (all True for a field the file lacks).
    """

    def __init__(self, raw: pa.RecordBatch, bad: dict, ctx_cols: list[str]):
        self.n = raw.num_rows
        self.arrow: dict[str, pa.Array] = {}
        self.typebad: dict[str, tuple[np.ndarray, pa.Array]] = {}
        self.list_text: dict[str, pa.Array] = {}
        names = raw.schema.names
        for f in FIELDS:
            if f == "context" and ctx_cols:
                self._csv_context(raw, ctx_cols)
            elif f in names:
                self._add_column(f, raw.column(f))
            if f in bad:
                m, t = bad[f]
                if m.any():
                    self.typebad[f] = (m, t)
        self.null = {f: np_bool(a.is_null()) for f, a in self.arrow.items()}
        for f in FIELDS:
            if f not in self.arrow:
                self.null[f] = np.ones(self.n, bool)

    def _add_column(self, f: str, col: pa.Array) -> None:
        arr, b = canonical(f, col)
        self.arrow[f] = arr
        if KINDS[f].endswith("_list") and is_text(col.type):
            self.list_text[f] = col
        if b is not None and b.any():
            self.typebad[f] = (b, col.cast(pa.string()))

    def _csv_context(self, raw: pa.RecordBatch, ctx_cols: list[str]) -> None:
        """The CSV columns ``context_0..`` as one fixed-size list column; a row with a
        cell that does not parse is a type error naming that cell."""
        n = raw.num_rows
        ctx = np.empty((n, len(ctx_cols)), np.float64)
        nulls = np.ones(n, bool)
        bad = np.zeros(n, bool)
        cells = pa.nulls(n, pa.string())
        for j in reversed(range(len(ctx_cols))):
            col = raw.column(ctx_cols[j])
            vals, b = cast_locate(col, pa.float64(), NUM_RE["float"])
            nulls &= np_bool(col.is_null())
            ctx[:, j] = vals.fill_null(np.nan).to_numpy()
            if b is not None:
                bad |= b
                cells = pc.if_else(pa.array(b), pc.binary_join_element_wise(
                    f"{ctx_cols[j]}=", col, ""), cells)
        self.arrow["context"] = pa.FixedSizeListArray.from_arrays(
            pa.array(ctx.ravel()), len(ctx_cols), mask=pa.array(nulls & ~bad))
        if bad.any():
            self.typebad["context"] = (bad, cells)

    def floats(self, f) -> np.ndarray:
        """(b,) float64, NaN where null."""
        return fill(self.arrow[f], np.nan).to_numpy() if f in self.arrow \
            else np.full(self.n, np.nan)

    def ints(self, f) -> np.ndarray:
        """(b,) int64, 0 where null."""
        return fill(self.arrow[f], 0).to_numpy() if f in self.arrow \
            else np.zeros(self.n, np.int64)

    def times(self, f) -> np.ndarray:
        """(b,) int64 microseconds since the epoch, ``NAT`` where null."""
        if f not in self.arrow:
            return np.full(self.n, NAT, np.int64)
        return fill(self.arrow[f].cast(pa.int64()), NAT).to_numpy()

    def cell(self, f, r) -> str:
        """A list cell as the file held it: the text of a text cell, else as Arrow
        writes the list."""
        if f in self.list_text:
            return repr(self.list_text[f][r].as_py())
        return text(self.arrow[f].slice(r, 1))[0].as_py()

    def texts(self, f) -> np.ndarray | None:
        """(b,) bytes, b"" where null; None when the file lacks the field."""
        return as_bytes(self.arrow[f]) if f in self.arrow else None

    def listed(self, f, dtype):
        """(flat values, (b,) per-row lengths) of a list column; null items as NaN (or
        -1 for integers)."""
        a = self.arrow[f]
        vals = a.flatten()
        null_item = np.nan if np.dtype(dtype).kind == "f" else -1
        return fill(vals, null_item).to_numpy().astype(dtype, copy=False), lengths(a)
