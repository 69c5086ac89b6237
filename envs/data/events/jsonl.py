"""Decision logs in JSON Lines: one JSON object per line.

Reading goes in blocks of whole lines parsed by ``pyarrow.json.read_json`` with every
field's type given -- blocks rather than ``open_json`` so that a block that fails to parse
can be re-examined line by line and the bad cells named. pyarrow has no JSON writer, so
lines are assembled with Arrow string kernels: each column becomes its JSON fragments, one
element-wise join makes the lines, and the joined buffer is written as is -- no loop over
rows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from common.errors import DataError
from envs.data.events.arrow import is_list, is_text, np_bool, null_where, relist
from envs.data.events.files import Sink, Source, present_fields
from envs.data.events.schema import CANON, FIELDS, ISO, KINDS

# JSON Lines are read with every field's type given: numbers and lists typed, timestamps
# as text (parsed like CSV cells, so a bad one is a bad cell, not a failed block).
_JSON_SCHEMA = pa.schema([(f, pa.string() if k == "ts" else CANON[k])
                          for f, k in KINDS.items()])
_JSON_BLOCK = 1 << 24
_PARSE = pj.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="infer")
_READ = pj.ReadOptions(block_size=1 << 22)


def _json_quote(s: pa.Array) -> pa.Array:
    s = pc.replace_substring(pc.replace_substring(s, "\\", "\\\\"), '"', '\\"')
    if pc.any(pc.match_substring_regex(s, r"[\x00-\x1f]")).as_py():
        for c in range(32):
            s = pc.replace_substring(s, chr(c), f"\\u{c:04x}")
    return pc.binary_join_element_wise('"', s, '"', "")


def json_values(a: pa.Array) -> pa.Array:
    """Each value as a JSON fragment; null (and a non-finite float) as ``null``."""
    t = a.type
    if is_text(t):
        out = _json_quote(a.cast(pa.string()))
    elif pa.types.is_timestamp(t):
        out = _json_quote(pc.strftime(a, format=ISO))
    elif pa.types.is_floating(t):
        out = null_where(a.cast(pa.string()), ~np_bool(pc.is_finite(a).fill_null(True)))
    elif is_list(t):
        inner = relist(a, json_values(a.flatten()))
        out = pc.binary_join_element_wise("[", pc.binary_join(inner, ", "), "]", "")
    elif pa.types.is_null(t):
        out = pa.nulls(len(a), pa.string())
    else:
        out = a.cast(pa.string())
    return out.fill_null("null")


def _json_ok(v, kind: str) -> bool:
    """Whether a JSON value fits a field's kind (only for lines Arrow refused)."""
    if v is None:
        return True
    if kind in ("str", "ts"):
        return isinstance(v, str)
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63
    if kind == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e308
    elem = "int" if kind == "int_list" else "float"
    return isinstance(v, list) and all(_json_ok(x, elem) for x in v)  # null items as Arrow


class JsonlSource(Source):
    """A JSON Lines log: the first line names the fields; a key missing from a line is
    null there, and later lines may add keys that are not event fields."""

    fmt = "jsonl"

    def open(self) -> None:
        with open(self.path, "rb") as fh:
            first = next((ln for ln in fh if ln.strip()), None)
        if first is None:
            self.present = []
            return
        try:
            rec = json.loads(first)
        except ValueError as err:
            raise DataError(f"{self.path}: row 0 is not valid JSON ({err})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{self.path}: row 0 is not a JSON object")
        self.present = present_fields(rec)
        self.note_ignored(rec)  # later lines may add more (see _parse)
        self.check_required(self.present)
        self.present = list(FIELDS)  # a key missing from one line is null there

    def raw(self):
        row0 = 0
        with open(self.path, "rb") as fh:
            carry = b""
            while True:  # blocks of whole lines
                chunk = fh.read(_JSON_BLOCK)
                data = carry + chunk
                cut = data.rfind(b"\n") + 1 if chunk else len(data)
                block, carry = data[:cut], data[cut:]
                if block and not block.isspace():
                    table, bad = self._parse(block, row0)
                    row0 += table.num_rows
                    for b in table.to_batches():  # one: the table is combined
                        yield b, bad
                if not chunk:
                    return

    def _parse(self, block: bytes, row0: int):
        """A block of lines as a table of the event fields, and its unparseable cells.
        Unknown keys are parsed by inference only to be named in ``ignored``."""
        try:
            table = pj.read_json(io.BytesIO(block), read_options=_READ, parse_options=_PARSE)
            self.note_ignored(table.column_names)
            return table.select(list(FIELDS)).combine_chunks(), {}
        except pa.ArrowInvalid:
            return self._reparse_lines(block, row0)

    def _reparse_lines(self, block: bytes, row0: int):
        """A block Arrow refused, line by line: each value that does not fit its field is
        set aside as text and the block parsed again without it."""
        lines = [ln for ln in block.split(b"\n") if ln.strip()]
        texts: dict[str, list] = {}
        fixed = []
        for i, ln in enumerate(lines):
            rec = self._json_object(ln, row0 + i)
            self.note_ignored(rec)
            rec = {k: v for k, v in rec.items() if k in KINDS}
            for f, kind in KINDS.items():
                if f in rec and not _json_ok(rec[f], kind):
                    texts.setdefault(f, [None] * len(lines))[i] = json.dumps(rec[f])
                    rec[f] = None
            fixed.append(json.dumps(rec).encode())
        try:
            table = pj.read_json(io.BytesIO(b"\n".join(fixed)), read_options=_READ,
                                 parse_options=_PARSE).combine_chunks()
        except pa.ArrowInvalid as err:
            raise DataError(f"{self.path}: rows {row0}..{row0 + len(lines) - 1} do not "
                            f"parse: {err}") from None
        bad = {f: (np.array([x is not None for x in t]), pa.array(t, pa.string()))
               for f, t in texts.items()}
        return table.select(list(FIELDS)), bad

    def _json_object(self, line: bytes, row: int) -> dict:
        try:
            rec = json.loads(line)
        except ValueError as err:
            raise DataError(f"{self.path}: row {row} is not valid JSON ({err}): "
                            f"{line[:120]!r}") from None
        if not isinstance(rec, dict):
            raise DataError(f"{self.path}: row {row} is not a JSON object: {line[:120]!r}")
        return rec


class JsonlSink(Sink):
    def open(self):
        return open(self.path, "wb")  # closed by close()

    def write(self, batch: pa.RecordBatch) -> None:
        pieces: list = []
        for i, (name, a) in enumerate(zip(batch.schema.names, batch.columns)):
            pieces += [("{" if i == 0 else ", ") + json.dumps(name) + ": ", json_values(a)]
        lines = pc.binary_join_element_wise(*pieces, "}\n", "").cast(pa.large_string())
        off = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1, lines.offset * 8)
        self.writer.write(memoryview(lines.buffers()[2])[int(off[0]):int(off[-1])])


def read_table(path: str, string_columns: Sequence[str] = ()) -> pa.Table:
    """A whole JSON Lines file as a table (types as Arrow infers them)."""
    return pj.read_json(path)
