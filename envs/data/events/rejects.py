"""The rejects file of a log read with ``on_invalid="reject"``: every field of each bad
row in its canonical type, plus ``reject_reason``, ``reject_value`` (the offending value
as text) and ``source_row`` (the row's 0-based position among the log's data rows)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.data.events.arrow import text
from envs.data.events.batch import Batch
from envs.data.events.files import Sink
from envs.data.events.formats import open_sink, open_source
from envs.data.events.schema import KINDS, REASON_CODE, REASONS, rejects_schema


def _reject_values(b: Batch, reason: np.ndarray, rows: np.ndarray) -> pa.Array:
    """(b,) text of each rejected row's offending value (the cell as the file held it
    when it did not parse), null elsewhere."""
    value = pa.nulls(b.n, pa.string())
    for code in np.unique(reason[rows]):
        field = REASONS[code - 1].split(":")[0]
        here = reason == code
        if field in b.typebad:
            cells = b.typebad[field][1]
        elif REASONS[code - 1] == "eligible_actions:empty" and field in b.list_text:
            cells = b.list_text[field]  # the blank cell as it was
        elif field in b.arrow:
            cells = text(b.arrow[field])
        else:
            continue
        value = pc.if_else(pa.array(here), cells.fill_null("null"), value)
    return value


class Rejects:
    """Writes rejected rows to ``path`` (.parquet, .csv or .jsonl), opened at the first
    reject (or at the end, so that an empty file says "nothing rejected")."""

    def __init__(self, path: str):
        self.path = path
        self.sink: Sink | None = None

    def open(self, with_scores: bool, dim: int | None) -> Sink:
        """The sink, opened once: with a ``scores`` column when the log has one."""
        if self.sink is None:
            self.sink = open_sink(self.path, rejects_schema(with_scores), dim or 0)
        return self.sink

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    def write(self, b: Batch, rows: np.ndarray, reason: np.ndarray, row0: int) -> None:
        """Writes the rows ``rows`` (b,) bool of a batch whose first row is file row
        ``row0``, with their ``reason`` (b,) codes; the sink must be open."""
        sink = self.sink
        sel = pa.array(rows)
        cols = []
        for f in sink.schema:
            if f.name in b.arrow:
                cols.append(b.arrow[f.name].filter(sel).cast(f.type))
            elif f.name in KINDS:
                cols.append(pa.nulls(int(rows.sum()), f.type))
        names = np.array([""] + list(REASONS), dtype=object)
        cols.append(pa.array(names[reason[rows]].astype(str)))
        cols.append(_reject_values(b, reason, rows).filter(sel))
        cols.append(pa.array(np.flatnonzero(rows) + row0))
        sink.write_batch(pa.RecordBatch.from_arrays(cols, schema=sink.schema))

    def write_duplicates(self, path: str, batch_rows: int, ctx_cols: list[str],
                         dups: np.ndarray) -> None:
        """Reads the log ``path`` again up to its last repeated event id and writes the
        rows ``dups`` (sorted file rows) with the reason ``event_id:duplicate``."""
        row0 = 0
        for raw, bad in open_source(path, batch_rows).batches():
            n = raw.num_rows
            lo, hi = np.searchsorted(dups, [row0, row0 + n])
            if hi > lo:
                b = Batch(raw, bad, ctx_cols)
                rows = np.zeros(n, bool)
                rows[dups[lo:hi] - row0] = True
                reason = np.where(rows, REASON_CODE["event_id:duplicate"], 0)
                self.write(b, rows, reason, row0)
            row0 += n
            if row0 > dups[-1]:
                break
