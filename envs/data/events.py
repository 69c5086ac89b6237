"""The logged decision event: one row per decision a deployed policy made.

A production log and a simulated deployment share this schema (``docs/events.md``), so
both reach the estimators through one reader and one set of checks. The module has three
parts:

* **Schema and writers.** ``event_schema`` is the Arrow schema; ``EventWriter`` streams
  batches of NumPy columns to Parquet, CSV or JSON Lines (chosen by the file extension)
  and ``write_events`` cuts a whole log into such batches. NumPy has no nulls, so the
  writer reads them from conventions: NaN reward and NaT ``reward_timestamp`` are
  *pending*, a negative ``position`` and an empty string are null, a scores row that is
  all NaN is null; ``eligible_actions`` is given as the (n, K) boolean mask. A known
  number of arms is declared in a Parquet file's metadata (``bandax.n_arms``).
* **Reader.** ``read_events`` streams record batches (``ParquetFile.iter_batches``,
  ``pyarrow.csv.open_csv``, and JSON Lines in blocks of whole lines parsed by
  ``pyarrow.json.read_json`` -- blocks rather than ``open_json`` so that a block that
  fails to parse can be re-examined line by line and the bad rows named). Every batch is
  first brought to one set of Arrow types whatever the format held (text cells are parsed
  by Arrow's own casts), then to NumPy through flattened values and offsets; no step
  loops over rows in Python. Only per-batch NumPy arrays of the rows kept are held, and
  they are concatenated once at the end, one column at a time.
* **Validation.** Every rule is a per-row boolean mask over the batch, because the
  ``reject`` mode must set aside *every* bad row with its reason while
  ``LoggedData.validate`` stops at the first. The assembled arrays still go through
  ``LoggedData.from_arrays``, so the result meets the same contract as any other logged
  data. A row's reason is the first rule it breaks in the order of ``REASONS``; duplicate
  event ids can only be seen once the whole file is read, so they are checked last.

Row numbers in messages and in the rejects file are 0-based positions of the data rows in
the file (the CSV header and blank JSON lines do not count).
"""

from __future__ import annotations

import csv as _csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq

from common.errors import ConfigError, DataError
from envs.data.logged import LoggedData

__all__ = ["FIELDS", "REQUIRED", "REASONS", "N_ARMS_KEY", "event_schema", "EventWriter",
           "write_events", "events_from_logged", "EventLog", "read_events"]

# Each field's kind; the order is the column order of every file this module writes.
_KINDS = {
    "event_id": "str", "timestamp": "ts", "user_id": "str", "context": "float_list",
    "eligible_actions": "int_list", "action": "int", "propensity": "float",
    "position": "int", "policy_version": "str", "algorithm": "str", "exploration": "str",
    "scores": "float_list", "reward": "float", "reward_timestamp": "ts",
}
FIELDS = tuple(_KINDS)
REQUIRED = ("event_id", "timestamp", "context", "action", "propensity")
_TS = pa.timestamp("us", tz="UTC")
_ISO = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S carries the microseconds of a timestamp[us]
_NAT = np.iinfo(np.int64).min
_EXPECTED = {"str": "a string", "ts": "an ISO-8601 UTC timestamp", "int": "an integer",
             "float": "a number", "float_list": "a list of numbers",
             "int_list": "a list of integers"}
# The types every batch is brought to before NumPy (and the types of a rejects file).
_CANON = {"str": pa.string(), "ts": _TS, "int": pa.int64(), "float": pa.float64(),
          "float_list": pa.list_(pa.float64()), "int_list": pa.list_(pa.int64())}
# What Arrow's casts accept, to find every bad cell of a column at once; a cell that
# passes but still fails the cast is found by bisection (see _cast_locate).
_NUM_RE = {"int": r"^-?[0-9]+$",
           "float": r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
                    r"|^[+-]?([Nn][Aa][Nn]|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?)$"}
_ZONE_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
_CTX_COL = re.compile(r"context_(\d+)")
# The schema metadata key under which a Parquet log declares its number of arms.
N_ARMS_KEY = b"bandax.n_arms"

# Rejection reasons, in the order a row is judged (its reason is the first it breaks).
REASONS = (
    *(f"{f}:type" for f in FIELDS),
    *(f"{f}:null" for f in REQUIRED),
    "context:length", "context:non_finite", "propensity:non_finite", "propensity:range",
    "action:range", "eligible_actions:empty", "eligible_actions:range", "action:ineligible",
    "position:range",
    "scores:length", "reward:non_finite", "reward:missing", "exploration:json",
    "event_id:duplicate",
)
_REASON_CODE = {r: i + 1 for i, r in enumerate(REASONS)}


def _fmt_for(path) -> str:
    ext = os.path.splitext(str(path))[1].lower()
    fmt = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}.get(ext)
    if fmt is None:
        raise ConfigError(f"unknown log format {ext or '(none)'!r} for {str(path)!r}: use "
                          ".parquet, .csv or .jsonl")
    return fmt


def _check_count(name: str, value, setting: str | None = None) -> int:
    """``value`` as an int >= 1, or a ConfigError naming ``setting`` (default ``name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{setting or name} must be an integer >= 1, got {value!r}")
    return int(value)


def event_schema(dim: int, with_scores: bool = False, n_arms: int | None = None) -> pa.Schema:
    """The Arrow schema of a decision log with ``dim`` context features.

    Required fields are declared non-nullable. ``context`` is a fixed-size list, so the
    file itself records ``dim``; ``scores`` is present only ``with_scores``. A known
    ``n_arms`` is declared in the schema metadata under ``bandax.n_arms`` (Parquet keeps
    it; ``read_events`` takes K from it when no ``n_arms`` is given).
    """
    dim = _check_count("dim", dim)
    req = set(REQUIRED)
    types = {"event_id": pa.string(), "timestamp": _TS, "user_id": pa.string(),
             "context": pa.list_(pa.float32(), dim),
             "eligible_actions": pa.list_(pa.int32()), "action": pa.int32(),
             "propensity": pa.float64(), "position": pa.int32(),
             "policy_version": pa.string(), "algorithm": pa.string(),
             "exploration": pa.string(), "scores": pa.list_(pa.float32()),
             "reward": pa.float64(), "reward_timestamp": _TS}
    meta = None if n_arms is None else {N_ARMS_KEY: str(_check_count("n_arms", n_arms))}
    return pa.schema([pa.field(f, types[f], nullable=f not in req) for f in FIELDS
                      if f != "scores" or with_scores], metadata=meta)


def _rejects_schema(with_scores: bool) -> pa.Schema:
    """Every field in its canonical type, all nullable (a reject may lack anything)."""
    fs = [pa.field(f, _CANON[k]) for f, k in _KINDS.items() if f != "scores" or with_scores]
    return pa.schema(fs + [pa.field("reject_reason", pa.string()),
                           pa.field("reject_value", pa.string()),
                           pa.field("source_row", pa.int64())])


# ------------------------------------------------------------------ Arrow helpers


def _is_list(t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _is_text(t) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _np_bool(a) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=bool)


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _fill(arr: pa.Array, value) -> pa.Array:
    return arr.fill_null(value) if arr.null_count else arr


def _lengths(arr: pa.Array) -> np.ndarray:
    """Per-row list lengths, 0 for a null list (matching ``flatten``, which skips them)."""
    return _fill(pc.list_value_length(arr), 0).to_numpy().astype(np.int64)


def _relist(arr: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` (one per element of ``arr``'s non-null lists) in ``arr``'s list shape."""
    off = np.zeros(len(arr) + 1, np.int32)
    np.cumsum(_lengths(arr), out=off[1:])
    return pa.ListArray.from_arrays(pa.array(off), values, mask=arr.is_null())


def _text(arr: pa.Array) -> pa.Array:
    """Each value as text (lists as ``[a, b]``, timestamps ISO-8601); null stays null."""
    t = arr.type
    if _is_text(t):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(t):
        return pc.strftime(arr.cast(_TS), format=_ISO)
    if _is_list(t):
        inner = _relist(arr, _text(arr.flatten()).fill_null("null"))
        return pc.binary_join_element_wise("[", pc.binary_join(inner, ", "), "]", "")
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    return arr.cast(pa.string())


def _bytes(arr: pa.Array) -> np.ndarray:
    """A string array as a NumPy ``S`` array (null -> b"") by one scatter of its bytes."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, "S1")
    arr = _fill(arr.cast(pa.large_string()), "")
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], np.int64, n + 1, arr.offset * 8)
    lengths = np.diff(off)
    width = max(int(lengths.max()) if n else 0, 1)
    total = int(off[-1] - off[0])
    if total == n * width:  # every string as wide as the widest: the bytes as they lie
        return np.frombuffer(bufs[2], np.uint8, total, int(off[0])).copy().view(f"S{width}")
    out = np.zeros(n * width, np.uint8)
    if total:
        data = np.frombuffer(bufs[2], np.uint8, total, int(off[0]))
        shift = np.arange(n, dtype=np.int64) * width - (off[:-1] - off[0])
        out[np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)] = data
    return out.view(f"S{width}")


def _cast_locate(arr: pa.Array, target, pattern: str | None = None):
    """Casts text to ``target``; cells that do not parse become null and are returned as a
    mask (None when all parse). A regular expression finds the bad cells at once; whatever
    it lets through is found by bisection with Arrow's cast itself."""
    try:
        return pc.cast(arr, target), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad = np.zeros(len(arr), bool)
    if pattern is not None:
        bad |= ~_np_bool(pc.match_substring_regex(arr, pattern).fill_null(True))
    stack = [(0, len(arr))]
    while stack:
        lo, hi = stack.pop()
        try:
            pc.cast(_null_where(arr.slice(lo, hi - lo), bad[lo:hi]), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if hi - lo == 1:
                bad[lo] = True
            else:
                mid = (lo + hi) // 2
                stack += [(mid, hi), (lo, mid)]
    return pc.cast(_null_where(arr, bad), target), bad


def _parse_ts(arr: pa.Array):
    """ISO-8601 text to timestamp[us, UTC]: an offset is honoured, no offset means UTC."""
    for typ in (_TS, pa.timestamp("us")):
        try:
            return pc.cast(arr, typ).cast(pa.int64()).view(_TS), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    zone = _np_bool(pc.match_substring_regex(arr, _ZONE_RE).fill_null(False))
    out = np.full(len(arr), _NAT, np.int64)
    bad = np.zeros(len(arr), bool)
    for sel, typ in ((zone, _TS), (~zone, pa.timestamp("us"))):
        if sel.any():
            vals, b = _cast_locate(arr.filter(pa.array(sel)), typ)
            out[sel] = vals.cast(pa.int64()).fill_null(_NAT).to_numpy()
            if b is not None:
                bad[sel] = b
    res = pa.array(out, mask=out == _NAT).view(_TS)
    return res, (bad if bad.any() else None)


def _parse_list(arr: pa.Array, kind: str):
    """A cell of space-separated numbers to a list. A null cell stays null (in CSV: a cell
    with no characters); a cell of only whitespace is an empty list, not null."""
    s = pc.utf8_trim_whitespace(arr)
    blank = _np_bool(pc.equal(s, "").fill_null(False))
    s = _null_where(s, blank)
    # single spaces (as written here) split twice as fast as any whitespace
    single = not pc.any(pc.match_substring_regex(s, r"\s\s|[\t\r\n\f\v]")).as_py()
    parts = pc.split_pattern(s, " ") if single else pc.utf8_split_whitespace(s)
    elem = "int" if kind == "int_list" else "float"
    vals, bad_v = _cast_locate(parts.flatten(), _CANON[elem], _NUM_RE[elem])
    bad = None
    if bad_v is not None:
        rows = np.repeat(np.arange(len(arr)), _lengths(parts))
        bad = np.zeros(len(arr), bool)
        bad[rows[bad_v]] = True
    out = _relist(parts, vals)
    out = (out if bad is None else _null_where(out, bad)).cast(_CANON[kind])
    if blank.any():
        out = pc.if_else(pa.array(blank), pa.scalar([], _CANON[kind]), out)
    return out, bad


def _type_error(name: str, found, expected: str | None = None) -> DataError:
    expected = expected or _EXPECTED[_KINDS[name]]
    return DataError(f"column {name!r} has the wrong type: expected {expected}, "
                      f"found {found}")


def _check_column_type(name: str, t) -> None:
    """File-level type check (Parquet): raises naming the column, expected and found."""
    kind = _KINDS[name]
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t) or _is_text(t):
        return  # all null, or text that is parsed cell by cell
    ok = {"str": False, "ts": pa.types.is_timestamp(t), "int": pa.types.is_integer(t),
          "float": pa.types.is_integer(t) or pa.types.is_floating(t)}.get(kind)
    if kind in ("float_list", "int_list"):
        v = t.value_type if _is_list(t) else None
        ok = v is not None and (pa.types.is_integer(v) or (
            kind == "float_list" and pa.types.is_floating(v)))
    if not ok:
        raise _type_error(name, t)


def _canon(name: str, arr: pa.Array):
    """One column in its canonical type (float lists keep float32 values, the NumPy step
    needs no copy) and the mask of cells that did not parse."""
    kind = _KINDS[name]
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), _CANON[kind]), None
    _check_column_type(name, t)
    if _is_text(t):
        if kind == "str":
            return arr.cast(pa.string()), None
        if kind == "ts":
            return _parse_ts(arr)
        if kind in ("int", "float"):
            return _cast_locate(arr, _CANON[kind], _NUM_RE[kind])
        return _parse_list(arr, kind)
    if kind == "ts":
        # the stored value of a tz-aware timestamp is UTC; a naive one is taken as UTC
        return pc.cast(arr, pa.timestamp("us", t.tz), safe=False).cast(pa.int64()).view(
            _TS), None
    if kind == "float_list" and pa.types.is_floating(t.value_type) and (
            not pa.types.is_fixed_size_list(t) or arr.null_count == 0):
        return arr, None
    return arr.cast(_CANON[kind]), None


# ------------------------------------------------------------------ writers


def _csv_cells(batch: pa.RecordBatch, dim: int) -> pa.RecordBatch:
    """A batch in the CSV layout: context as context_0.., lists as space-separated text,
    timestamps as ISO-8601 text."""
    names, cols = [], []
    for field, a in zip(batch.schema, batch.columns):
        if field.name == "context":
            starts = np.zeros(len(a), np.int64)
            lengths = _lengths(a)
            np.cumsum(lengths[:-1], out=starts[1:])
            vals = a.flatten()
            for j in range(dim):
                has = lengths > j
                col = vals.take(pa.array(np.where(has, starts + j, 0))) if len(vals) else \
                    pa.nulls(len(a), a.type.value_type)
                names.append(f"context_{j}")
                cols.append(_null_where(col, ~has))
        elif _is_list(field.type):
            inner = _text(a.flatten())
            if pa.types.is_floating(field.type.value_type):
                inner = inner.fill_null("nan")
            cell = pc.binary_join(_relist(a, inner), " ")
            empty = (_lengths(a) == 0) & ~_np_bool(a.is_null())
            if empty.any():  # an empty list is one space: an empty cell is null
                cell = pc.if_else(pa.array(empty), " ", cell)
            names.append(field.name)
            cols.append(cell)
        elif pa.types.is_timestamp(field.type):
            names.append(field.name)
            cols.append(pc.strftime(a, format=_ISO))
        else:
            names.append(field.name)
            cols.append(a)
    return pa.RecordBatch.from_arrays(cols, names=names)


def _json_quote(s: pa.Array) -> pa.Array:
    s = pc.replace_substring(pc.replace_substring(s, "\\", "\\\\"), '"', '\\"')
    if pc.any(pc.match_substring_regex(s, r"[\x00-\x1f]")).as_py():
        for c in range(32):
            s = pc.replace_substring(s, chr(c), f"\\u{c:04x}")
    return pc.binary_join_element_wise('"', s, '"', "")


def _json_values(a: pa.Array) -> pa.Array:
    """Each value as a JSON fragment; null (and a non-finite float) as ``null``."""
    t = a.type
    if _is_text(t):
        out = _json_quote(a.cast(pa.string()))
    elif pa.types.is_timestamp(t):
        out = _json_quote(pc.strftime(a, format=_ISO))
    elif pa.types.is_floating(t):
        out = _null_where(a.cast(pa.string()), ~_np_bool(pc.is_finite(a).fill_null(True)))
    elif _is_list(t):
        inner = _relist(a, _json_values(a.flatten()))
        out = pc.binary_join_element_wise("[", pc.binary_join(inner, ", "), "]", "")
    elif pa.types.is_null(t):
        out = pa.nulls(len(a), pa.string())
    else:
        out = a.cast(pa.string())
    return out.fill_null("null")


class _Sink:
    """Writes Arrow batches of one schema to a .parquet, .csv or .jsonl file.

    Parquet and CSV go through pyarrow's writers. pyarrow has no JSON writer, so JSON
    Lines are assembled with Arrow string kernels: each column becomes its JSON
    fragments, one element-wise join makes the lines, and the joined buffer is written
    as is -- no loop over rows.
    """

    def __init__(self, path, schema: pa.Schema, dim: int):
        self.path, self.schema, self.dim = str(path), schema, dim
        self.fmt = _fmt_for(path)
        if self.fmt == "parquet":
            self._w = pq.ParquetWriter(self.path, schema)
        elif self.fmt == "csv":
            empty = pa.RecordBatch.from_pylist([], schema=schema)
            self._w = pcsv.CSVWriter(self.path, _csv_cells(empty, dim).schema)
        else:
            self._w = open(self.path, "wb")  # closed by close()

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self.fmt == "parquet":
            self._w.write_batch(batch)
        elif self.fmt == "csv":
            self._w.write_batch(_csv_cells(batch, self.dim))
        else:
            pieces: list = []
            for i, (name, a) in enumerate(zip(batch.schema.names, batch.columns)):
                pieces += [("{" if i == 0 else ", ") + json.dumps(name) + ": ",
                           _json_values(a)]
            lines = pc.binary_join_element_wise(*pieces, "}\n", "").cast(pa.large_string())
            off = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1,
                                lines.offset * 8)
            self._w.write(memoryview(lines.buffers()[2])[int(off[0]):int(off[-1])])

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
            self._w = None


def _string_array(name: str, x, n: int) -> pa.Array:
    """NumPy text (``S``, ``U`` or object) as Arrow strings; "" and None are null."""
    x = np.asarray(x)
    if x.ndim == 0:
        x = np.full(n, x[()])
    if x.shape != (n,):
        raise DataError(f"{name} must have shape ({n},), got {x.shape}")
    if x.dtype.kind not in "SUO":
        raise DataError(f"{name} must hold strings, got dtype {x.dtype}")
    a = pa.array(x, from_pandas=True)
    if isinstance(a, pa.ChunkedArray):  # pyarrow splits some large text inputs into chunks
        a = a.combine_chunks()
    if pa.types.is_binary(a.type):
        a = a.cast(pa.string())
    if pa.types.is_null(a.type):
        return pa.nulls(n, pa.string())
    if not _is_text(a.type):
        raise DataError(f"{name} must hold strings, found {a.type}")
    return _null_where(a.cast(pa.string()), _np_bool(pc.equal(a, "").fill_null(False)))


def _ts_array(name: str, x, n: int) -> pa.Array:
    x = np.asarray(x)
    if x.shape != (n,) or x.dtype.kind != "M":
        raise DataError(f"{name} must be a ({n},) datetime64 array, got {x.dtype} "
                        f"{x.shape}")
    v = x.astype("datetime64[us]").view(np.int64)
    return pa.array(v, mask=np.isnat(x)).view(_TS)


def _dense_list(x, n: int, dtype, null_rows=None) -> pa.Array:
    off = np.arange(n + 1, dtype=np.int32) * x.shape[1]
    vals = pa.array(np.ascontiguousarray(x, dtype=dtype).ravel())
    mask = None if null_rows is None or not null_rows.any() else pa.array(null_rows)
    return pa.ListArray.from_arrays(pa.array(off), vals, mask=mask)


def _declared_arms(columns: dict, n_arms: int | None = None) -> int | None:
    """The number of arms that ``n_arms`` and a batch of columns state (their ``n_arms``
    entry, the width of the eligible_actions mask, the width of scores), or None if none
    does. They must agree."""
    found = {}
    if n_arms is not None:
        found["n_arms"] = n_arms
    if columns.get("n_arms") is not None:
        found["the columns' n_arms"] = _check_count("n_arms", columns["n_arms"])
    for f in ("eligible_actions", "scores"):
        if columns.get(f) is not None and np.ndim(columns[f]) == 2:
            found[f"the width of {f}"] = int(np.shape(columns[f])[1])
    if len(set(found.values())) > 1:
        raise DataError("the number of arms must agree: " + ", ".join(
            f"{k} is {v}" for k, v in found.items()))
    return next(iter(found.values()), None)


def _batch_rows(columns: dict, schema: pa.Schema) -> int:
    """The number of rows of a batch of columns, after checking their names and lengths."""
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise DataError(f"unknown event columns {unknown}; the fields are {list(FIELDS)}")
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise DataError(f"missing required columns: {', '.join(missing)}")
    if "scores" in columns and "scores" not in schema.names:
        raise ConfigError("scores given but this writer was opened with with_scores=False")
    action = np.asarray(columns["action"])
    if action.ndim != 1:
        raise DataError(f"action must be 1-D (n,), got shape {action.shape}")
    n = action.shape[0]
    for k, v in columns.items():
        v = np.asarray(v)
        if v.ndim >= 1 and v.shape[0] != n:
            raise DataError(f"columns must have equal length: action has {n} rows, {k} "
                            f"has {v.shape[0]}")
    if not np.issubdtype(action.dtype, np.integer):
        raise DataError(f"action must hold integers, got dtype {action.dtype}")
    return n


def _columns_to_batch(columns: dict, schema: pa.Schema, dim: int) -> pa.RecordBatch:
    """NumPy columns (the writer's conventions for nulls, see the module doc) as a batch;
    an ``n_arms`` entry is a declaration, not a column, and is skipped here."""
    columns = {k: v for k, v in columns.items() if v is not None and k != "n_arms"}
    n = _batch_rows(columns, schema)
    action = np.asarray(columns["action"])
    out = {}
    out["event_id"] = _string_array("event_id", columns["event_id"], n)
    if out["event_id"].null_count:
        row = int(np.argmax(_np_bool(out["event_id"].is_null())))
        raise DataError(f"event_id is required; row {row} is empty")
    out["timestamp"] = _ts_array("timestamp", columns["timestamp"], n)
    if out["timestamp"].null_count:
        row = int(np.argmax(_np_bool(out["timestamp"].is_null())))
        raise DataError(f"timestamp is required; row {row} is NaT")
    ctx = np.asarray(columns["context"])
    if ctx.shape != (n, dim):
        raise DataError(f"context must have shape (n, dim)=({n}, {dim}), got {ctx.shape}")
    out["context"] = pa.FixedSizeListArray.from_arrays(
        pa.array(np.ascontiguousarray(ctx, np.float32).ravel()), dim)
    if "eligible_actions" in columns:
        m = np.asarray(columns["eligible_actions"])
        if m.ndim != 2 or m.shape[0] != n or m.dtype != bool:
            raise DataError(f"eligible_actions must be an (n, K) bool mask with n={n}, got "
                            f"{m.dtype} {m.shape}")
        off = np.zeros(n + 1, np.int32)
        np.cumsum(m.sum(1), out=off[1:])
        out["eligible_actions"] = pa.ListArray.from_arrays(
            pa.array(off), pa.array(np.nonzero(m)[1].astype(np.int32)))
    out["action"] = pa.array(action.astype(np.int32))
    out["propensity"] = pa.array(np.asarray(columns["propensity"], np.float64))
    if "position" in columns:
        p = np.asarray(columns["position"])
        p = np.full(n, p[()]) if p.ndim == 0 else p
        if not np.issubdtype(p.dtype, np.integer):
            raise DataError(f"position must hold integers (-1 for null), got {p.dtype}")
        out["position"] = pa.array(p.astype(np.int32), mask=p < 0)
    for f in ("user_id", "policy_version", "algorithm", "exploration"):
        if f in columns:
            out[f] = _string_array(f, columns[f], n)
    if "scores" in columns:
        s = np.asarray(columns["scores"], np.float32)
        if s.ndim != 2 or s.shape[0] != n:
            raise DataError(f"scores must have shape (n, K) with n={n}, got {s.shape}")
        out["scores"] = _dense_list(s, n, np.float32, np.isnan(s).all(1))
    if "reward" in columns:
        r = np.asarray(columns["reward"], np.float64)
        out["reward"] = pa.array(r, mask=np.isnan(r))
    if "reward_timestamp" in columns:
        out["reward_timestamp"] = _ts_array("reward_timestamp", columns["reward_timestamp"],
                                            n)
    arrays = [out[f.name].cast(f.type) if f.name in out else pa.nulls(n, f.type)
              for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


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
    width. Every batch must agree with it.
    """

    def __init__(self, path, dim, with_scores=False, n_arms: int | None = None):
        self.path = str(path)
        self.dim = _check_count("dim", dim)
        self.with_scores = bool(with_scores)
        self.n_arms = None if n_arms is None else _check_count("n_arms", n_arms)
        self.schema = event_schema(self.dim, self.with_scores, self.n_arms)
        self.rows = 0
        _fmt_for(self.path)
        self._sink: _Sink | None = None
        self._closed = False

    def _open(self) -> _Sink:
        if self._sink is None:  # opened at the first write, once K may be known
            self._sink = _Sink(self.path, self.schema, self.dim)
        return self._sink

    def write(self, columns: dict[str, np.ndarray]) -> None:
        if self._closed:
            raise ValueError(f"EventWriter for {self.path!r} is closed")
        k = _declared_arms(columns, self.n_arms)
        declare = self._sink is None and self.n_arms is None and k is not None
        schema = event_schema(self.dim, self.with_scores, k) if declare else self.schema
        batch = _columns_to_batch(columns, schema, self.dim)
        if declare:  # only once the batch is known to be good
            self.schema, self.n_arms = schema, k
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
                 n_arms: int | None = None) -> None:
    """Writes a whole log, ``batch_rows`` rows per batch (a Parquet row group each).

    ``n_arms`` (or an ``n_arms`` entry of ``columns``, as ``events_from_logged`` gives)
    is declared in a Parquet file's metadata; without either, the width of the
    eligible_actions mask or of scores is, when given.
    """
    batch_rows = _check_count("batch_rows", batch_rows)
    for f in ("context", "action"):
        if columns.get(f) is None:
            raise DataError(f"missing required columns: {f}")
    ctx = np.asarray(columns["context"])
    if ctx.ndim != 2:
        raise DataError(f"context must be 2-D (n, d), got shape {ctx.shape}")
    n = np.asarray(columns["action"]).shape[0]
    with EventWriter(path, ctx.shape[1], with_scores=columns.get("scores") is not None,
                     n_arms=n_arms) as w:
        for lo in range(0, max(n, 1), batch_rows):
            w.write({k: (v[lo:lo + batch_rows] if np.ndim(v) >= 1 else v)
                     for k, v in columns.items()})


def _json_default(o):
    return np.asarray(o).tolist()


def events_from_logged(data: LoggedData, *, policy_version: str, algorithm: str,
                       exploration: dict, start: np.datetime64, interval_s: float = 1.0,
                       user_id=None, position=None, scores=None, reward_delay_s: float = 0.0,
                       event_prefix: str = "ev") -> dict[str, np.ndarray]:
    """The columns of a simulated deployment that logged ``data``.

    Event ids are ``event_prefix`` + the row number in 7 (or more) digits, decision ``i``
    happens at ``start + i * interval_s`` and its reward arrives ``reward_delay_s`` later;
    ``eligible_actions`` is ``data.mask`` (left out when the data has none: every arm is
    eligible). ``exploration`` is stored as its JSON text (keys sorted). The entry
    ``n_arms`` (an int, ``data.n_arms``) is not a column: the writers declare it in the
    file (Parquet metadata ``bandax.n_arms``).
    """
    if not isinstance(exploration, dict):
        raise ConfigError(f"exploration must be a dict (a JSON object), got "
                          f"{type(exploration).__name__}")
    if not np.isfinite(interval_s) or interval_s < 0:
        raise ConfigError(f"interval_s must be finite and >= 0, got {interval_s!r}")
    if not np.isfinite(reward_delay_s) or reward_delay_s < 0:
        raise ConfigError(f"reward_delay_s must be finite and >= 0, got {reward_delay_s!r}")
    n = data.n_rows
    digits = max(7, len(str(max(n - 1, 0))))
    ids = np.char.add(event_prefix.encode(),
                      np.char.zfill(np.arange(n).astype(f"S{digits}"), digits))
    start = np.datetime64(start, "us")
    if np.isnat(start):
        raise ConfigError("start must be a timestamp, got NaT")
    ts = start + np.round(np.arange(n) * (interval_s * 1e6)).astype("timedelta64[us]")
    delay = np.timedelta64(int(round(reward_delay_s * 1e6)), "us")
    cols = {
        "event_id": ids, "timestamp": ts, "context": np.asarray(data.context),
        "action": np.asarray(data.action), "propensity": np.asarray(data.pscore, np.float64),
        "policy_version": np.full(n, str(policy_version).encode()),
        "algorithm": np.full(n, str(algorithm).encode()),
        "exploration": np.full(n, json.dumps(exploration, sort_keys=True,
                                             default=_json_default).encode()),
        "reward": np.asarray(data.reward, np.float64), "reward_timestamp": ts + delay,
        "n_arms": int(data.n_arms),
    }
    if data.mask is not None:
        cols["eligible_actions"] = np.asarray(data.mask, bool)
    for name, x in (("user_id", user_id), ("position", position)):
        if x is not None:
            x = np.asarray(x)
            x = np.full(n, x[()]) if x.ndim == 0 else x
            if x.shape != (n,):
                raise DataError(f"{name} must have shape ({n},), got {x.shape}")
            cols[name] = x
    if scores is not None:
        s = np.asarray(scores)
        if s.shape != (n, data.n_arms):
            raise DataError(f"scores must have shape (n, n_arms)=({n}, {data.n_arms}), got "
                            f"{s.shape}")
        cols["scores"] = s
    return cols


# ------------------------------------------------------------------ reading


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


# JSON Lines are read with every field's type given: numbers and lists typed, timestamps
# as text (parsed like CSV cells, so a bad one is a bad cell, not a failed block).
_JSON_SCHEMA = pa.schema([(f, pa.string() if k == "ts" else _CANON[k])
                          for f, k in _KINDS.items()])
_JSON_BLOCK = 1 << 24


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


class _Source:
    """The record batches of one log file, of at most ``batch_rows`` rows, with the cells
    found unparseable while reading (JSON Lines only: a typed JSON parse fails per block)."""

    def __init__(self, path: str, batch_rows: int):
        self.path, self.batch_rows = path, batch_rows
        self.fmt = _fmt_for(path)
        self.dim_hint = None
        self.ctx_cols: list[str] = []
        self.ignored: list[str] = []
        self.declared_arms = None  # K from the file's metadata (Parquet only)
        self.num_rows = None  # known up front for Parquet only
        if not os.path.exists(path):
            raise DataError(f"no such log file: {path!r}")
        getattr(self, f"_open_{self.fmt}")()

    def _missing(self, present) -> None:
        missing = [f for f in REQUIRED if f not in present]
        if missing:
            raise DataError(f"{self.path}: missing required columns: {', '.join(missing)} "
                            f"(found: {', '.join(present) or 'none'})")

    def _note_ignored(self, names) -> None:
        """Adds the names that are not event fields to ``ignored`` (first seen first)."""
        self.ignored += [c for c in names if c not in _KINDS and c not in self.ignored
                         and c not in self.ctx_cols]

    def _open_parquet(self) -> None:
        try:
            pf = pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{self.path}: not a readable Parquet file ({err})") from None
        schema, self.num_rows = pf.schema_arrow, pf.metadata.num_rows
        declared = (schema.metadata or {}).get(N_ARMS_KEY)
        if declared is not None:
            text = declared.decode(errors="replace")
            if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
                raise DataError(f"{self.path}: the metadata {N_ARMS_KEY.decode()} must be "
                                f"an integer >= 1 (the number of arms), found {text!r}")
            self.declared_arms = int(text)
        self.present = [f for f in FIELDS if f in schema.names]
        self._note_ignored(schema.names)
        self._missing(self.present)
        for f in self.present:
            _check_column_type(f, schema.field(f).type)
        t = schema.field("context").type
        if pa.types.is_fixed_size_list(t):
            self.dim_hint = t.list_size

    def _open_csv(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as fh:
            header = next(_csv.reader(fh), [])
        ctx = sorted((int(m.group(1)), c) for c in header if (m := _CTX_COL.fullmatch(c)))
        if [i for i, _ in ctx] != list(range(len(ctx))):
            raise DataError(f"{self.path}: context columns must be context_0.."
                            f"context_{{d-1}}, found {[c for _, c in ctx]}")
        self.ctx_cols = [c for _, c in ctx]
        self.dim_hint = len(ctx) or None
        self.present = [f for f in FIELDS if f in header or (f == "context" and ctx)]
        self._note_ignored(header)
        self._missing(self.present)

    def _open_jsonl(self) -> None:
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
        self.present = [f for f in FIELDS if f in rec]
        self._note_ignored(rec)  # later lines may add more (see _parse_json)
        self._missing(self.present)
        self.present = list(FIELDS)  # a key missing from one line is null there

    def batches(self) -> Iterator[tuple[pa.RecordBatch, dict]]:
        for batch, bad in getattr(self, f"_raw_{self.fmt}")():
            for lo in range(0, batch.num_rows, self.batch_rows):
                sl = {f: (m[lo:lo + self.batch_rows], t.slice(lo, self.batch_rows))
                      for f, (m, t) in bad.items()}
                yield batch.slice(lo, self.batch_rows), sl

    def _raw_parquet(self):
        # pre_buffer would hold the whole file in Arrow's pool while we read it
        pf = pq.ParquetFile(self.path, pre_buffer=False)
        for b in pf.iter_batches(batch_size=self.batch_rows, columns=self.present):
            yield b, {}

    def _raw_csv(self):
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

    def _raw_jsonl(self):
        row0 = 0
        with open(self.path, "rb") as fh:
            carry = b""
            while True:  # blocks of whole lines
                chunk = fh.read(_JSON_BLOCK)
                data = carry + chunk
                cut = data.rfind(b"\n") + 1 if chunk else len(data)
                block, carry = data[:cut], data[cut:]
                if block and not block.isspace():
                    table, bad = self._parse_json(block, row0)
                    row0 += table.num_rows
                    for b in table.to_batches():  # one: the table is combined
                        yield b, bad
                if not chunk:
                    return

    def _parse_json(self, block: bytes, row0: int):
        """A block of lines as a table of the event fields, and its unparseable cells.
        Unknown keys are parsed by inference only to be named in ``ignored``."""
        opts = pj.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="infer")
        ropts = pj.ReadOptions(block_size=1 << 22)
        try:
            table = pj.read_json(io.BytesIO(block), read_options=ropts, parse_options=opts)
            self._note_ignored(table.column_names)
            return table.select(list(FIELDS)).combine_chunks(), {}
        except pa.ArrowInvalid:
            pass
        # Arrow refused the block: find its bad lines one by one (this path only).
        lines = [ln for ln in block.split(b"\n") if ln.strip()]
        texts: dict[str, list] = {}
        fixed = []
        for i, ln in enumerate(lines):
            rec = self._json_object(ln, row0 + i)
            self._note_ignored(rec)
            rec = {k: v for k, v in rec.items() if k in _KINDS}
            for f, kind in _KINDS.items():
                if f in rec and not _json_ok(rec[f], kind):
                    texts.setdefault(f, [None] * len(lines))[i] = json.dumps(rec[f])
                    rec[f] = None
            fixed.append(json.dumps(rec).encode())
        try:
            table = pj.read_json(io.BytesIO(b"\n".join(fixed)), read_options=ropts,
                                 parse_options=opts).combine_chunks()
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


class _Batch:
    """One batch in canonical Arrow types and in NumPy, with its per-row rule masks."""

    def __init__(self, raw: pa.RecordBatch, bad: dict, src: _Source):
        n = self.n = raw.num_rows
        self.arrow: dict[str, pa.Array] = {}
        self.typebad: dict[str, tuple[np.ndarray, pa.Array]] = {}
        self.list_text: dict[str, pa.Array] = {}  # list columns that arrived as text
        names = raw.schema.names
        for f in FIELDS:
            if f == "context" and src.ctx_cols:
                self._csv_context(raw, src.ctx_cols)
            elif f in names:
                arr, b = _canon(f, raw.column(f))
                self.arrow[f] = arr
                if _KINDS[f].endswith("_list") and _is_text(raw.column(f).type):
                    self.list_text[f] = raw.column(f)
                if b is not None and b.any():
                    self.typebad[f] = (b, raw.column(f).cast(pa.string()))
            if f in bad:
                m, t = bad[f]
                if m.any():
                    self.typebad[f] = (m, t)
        self.null = {f: _np_bool(a.is_null()) for f, a in self.arrow.items()}
        for f in FIELDS:
            if f not in self.arrow:
                self.null[f] = np.ones(n, bool)

    def _csv_context(self, raw, ctx_cols) -> None:
        n = raw.num_rows
        ctx = np.empty((n, len(ctx_cols)), np.float64)
        nulls = np.ones(n, bool)
        bad = np.zeros(n, bool)
        text = pa.nulls(n, pa.string())
        for j in reversed(range(len(ctx_cols))):
            col = raw.column(ctx_cols[j])
            vals, b = _cast_locate(col, pa.float64(), _NUM_RE["float"])
            nulls &= _np_bool(col.is_null())
            ctx[:, j] = vals.fill_null(np.nan).to_numpy()
            if b is not None:
                bad |= b
                text = pc.if_else(pa.array(b), pc.binary_join_element_wise(
                    f"{ctx_cols[j]}=", col, ""), text)
        self.arrow["context"] = pa.FixedSizeListArray.from_arrays(
            pa.array(ctx.ravel()), len(ctx_cols), mask=pa.array(nulls & ~bad))
        if bad.any():
            self.typebad["context"] = (bad, text)

    # NumPy views of the canonical columns
    def floats(self, f) -> np.ndarray:
        return _fill(self.arrow[f], np.nan).to_numpy() if f in self.arrow \
            else np.full(self.n, np.nan)

    def ints(self, f) -> np.ndarray:
        return _fill(self.arrow[f], 0).to_numpy() if f in self.arrow \
            else np.zeros(self.n, np.int64)

    def times(self, f) -> np.ndarray:
        if f not in self.arrow:
            return np.full(self.n, _NAT, np.int64)
        return _fill(self.arrow[f].cast(pa.int64()), _NAT).to_numpy()

    def cell(self, f, r) -> str:
        """A list cell as the file held it: the text of a text cell, else as Arrow
        writes the list."""
        if f in self.list_text:
            return repr(self.list_text[f][r].as_py())
        return _text(self.arrow[f].slice(r, 1))[0].as_py()

    def texts(self, f) -> np.ndarray | None:
        return _bytes(self.arrow[f]) if f in self.arrow else None

    def listed(self, f, dtype):
        """(flat values, per-row lengths) of a list column."""
        a = self.arrow[f]
        vals = a.flatten()
        fill = np.nan if np.dtype(dtype).kind == "f" else -1
        return _fill(vals, fill).to_numpy().astype(dtype, copy=False), _lengths(a)


class _Reader:
    """The state of one read: sizes learned so far, kept chunks, counts, rejects."""

    def __init__(self, src: _Source, n_arms, missing_reward, on_invalid, rejects_path):
        self.src = src
        self.missing_reward = missing_reward
        self.reject = on_invalid == "reject"
        self.rejects_path = rejects_path
        self.dim = src.dim_hint
        if n_arms is not None:
            self.n_arms, self.k_source, self.k_from = n_arms, "config", "load.n_arms"
        elif src.declared_arms is not None:
            self.n_arms, self.k_source = src.declared_arms, "file metadata"
            self.k_from = f"{N_ARMS_KEY.decode()} in the file's metadata"
        else:  # the length of scores, once seen, or inferred at the end
            self.n_arms, self.k_source, self.k_from = None, "inferred", None
        self.scores_len = self.n_arms
        self.scores_from = None  # the row that set scores_len when K is not declared
        self.rows = 0
        self.n_batches = 0
        self.store = _Store(src.num_rows)
        self.ids: list[np.ndarray] = []
        self.id_null: list[np.ndarray] = []
        self.counts = np.zeros(len(REASONS) + 1, np.int64)
        self.present: set[str] = set()
        self.sink: _Sink | None = None

    # -------------------------------------------------------------- one batch
    def batch(self, raw: pa.RecordBatch, bad: dict) -> None:
        """Judges one batch by every rule, then raises, or sets aside its bad rows and
        keeps the rest."""
        b = _Batch(raw, bad, self.src)
        n, row0 = b.n, self.rows
        self.n_batches += 1
        rules: dict[str, np.ndarray] = {f"{f}:type": m for f, (m, _) in b.typebad.items()}
        rules.update({f"{f}:null": b.null[f] for f in REQUIRED})
        ctx = self._context_rules(b, rules)
        lists = self._arm_rules(b, rules, row0)
        vals = self._value_rules(b, rules)
        reason = np.zeros(n, np.int16)
        for r in REASONS:
            m = rules.get(r)
            if m is not None:
                reason[(reason == 0) & m] = _REASON_CODE[r]
        self.ids.append(_bytes(b.arrow["event_id"]))
        self.id_null.append(b.null["event_id"])
        self.rows += n
        bad_rows = reason > 0
        if bad_rows.any():
            if not self.reject:
                r = int(np.argmax(bad_rows))
                name = REASONS[reason[r] - 1]
                raise DataError(self._message(name, b, r, row0, int(rules[name].sum())))
            self.counts += np.bincount(reason, minlength=len(self.counts))
            self._write_rejects(b, bad_rows, reason, row0)
        keep = ~bad_rows
        self._keep(b, keep, row0, ctx=ctx, **vals)
        for f in ("scores", "eligible_actions"):  # JSON Lines always have both columns
            if f in b.arrow:
                self._keep_dense(f, b, keep, *lists.get(f, (None, None)))

    def _context_rules(self, b: _Batch, rules: dict) -> np.ndarray:
        """The (n, d) contexts (NaN rows where unusable); d is set by the first row."""
        vals, lens = b.listed("context", np.float32)
        if self.dim is None:
            first = np.flatnonzero(lens > 0)
            if len(first):
                self.dim = int(lens[first[0]])
        d = self.dim or 0
        good_len = lens == d
        rules["context:length"] = ~b.null["context"] & ~good_len
        if good_len.all():
            ctx = vals.reshape(b.n, d)
        else:
            ctx = np.full((b.n, d), np.nan, np.float32)
            ctx[good_len] = vals[np.repeat(good_len, lens)].reshape(-1, d)
        rules["context:non_finite"] = good_len & ~np.isfinite(ctx).all(1)
        return ctx

    def _arm_rules(self, b: _Batch, rules: dict, row0: int) -> dict:
        """The rules on arm ids: scores first, since their length may state K; returns
        the (values, lengths) of the list columns that hold something."""
        n, lists = b.n, {}
        if "scores" in b.arrow and not b.null["scores"].all():
            sv, sl = lists["scores"] = b.listed("scores", np.float32)
            filled = np.flatnonzero(~b.null["scores"] & (sl > 0))
            if self.scores_len is None and len(filled):
                first = int(filled[0])
                self.scores_len, self.scores_from = int(sl[first]), row0 + first
                self.k_from = f"the length of scores (as in row {self.scores_from})"
            wrong = (sl != self.scores_len) if self.scores_len else (sl == 0)
            rules["scores:length"] = ~b.null["scores"] & wrong
        k = self.scores_len or None  # the declared K, or the scores' length, or None
        act = b.ints("action")
        high = act >= k if k is not None else np.zeros(n, bool)
        rules["action:range"] = ~b.null["action"] & ((act < 0) | high)
        if "eligible_actions" in b.arrow and not b.null["eligible_actions"].all():
            ev, el = lists["eligible_actions"] = b.listed("eligible_actions", np.int64)
            erow = np.repeat(np.arange(n), el)
            out = (ev < 0) | (ev >= k if k is not None else False)
            rules["eligible_actions:empty"] = ~b.null["eligible_actions"] & (el == 0)
            rules["eligible_actions:range"] = np.bincount(erow[out], minlength=n) > 0
            hit = np.zeros(n, bool)
            hit[erow[ev == act[erow]]] = True
            rules["action:ineligible"] = ~b.null["eligible_actions"] & ~b.null["action"] & \
                ~hit
        return lists

    def _value_rules(self, b: _Batch, rules: dict) -> dict:
        """The rules on propensity, position, reward and exploration; returns the
        columns ``_keep`` stores."""
        n = b.n
        act, prop, pos = b.ints("action"), b.floats("propensity"), b.ints("position")
        rules["propensity:non_finite"] = ~b.null["propensity"] & ~np.isfinite(prop)
        rules["propensity:range"] = np.isfinite(prop) & ((prop <= 0) | (prop > 1))
        rules["position:range"] = ~b.null["position"] & (pos < 0)
        rew = b.floats("reward")
        rules["reward:non_finite"] = ~b.null["reward"] & ~np.isfinite(rew)
        pending = b.null["reward"] & ~rules.get("reward:type", np.zeros(n, bool))
        if self.missing_reward is None:
            rules["reward:missing"] = pending
        expl = b.texts("exploration")
        if expl is not None:
            rules["exploration:json"] = _not_json_objects(b.arrow["exploration"])
        return dict(act=act, prop=prop, rew=rew, pending=pending, expl=expl, pos=pos)

    def _add(self, name, x) -> None:
        self.store.add(name, x)

    def _keep(self, b: _Batch, keep, row0, *, ctx, act, prop, rew, pending, expl,
              pos) -> None:
        all_kept = keep.all()
        k = (lambda x: x) if all_kept else (lambda x: x[keep])
        if not all_kept:
            self._add("row", np.flatnonzero(keep) + row0)
        else:
            self._add("row", np.arange(row0, row0 + b.n))
        self._add("context", k(ctx))
        self._add("action", k(act).astype(np.int32))
        self._add("propensity", k(prop))
        fill = 0.0 if self.missing_reward is None else float(self.missing_reward)
        self._add("reward", k(np.where(pending, fill, rew)).astype(np.float32))
        self._add("has_reward", k(~pending))
        self._add("timestamp", k(b.times("timestamp")))
        self._add("reward_timestamp", k(b.times("reward_timestamp")))
        for f in ("policy_version", "algorithm"):
            t = b.texts(f)
            self._add(f, k(t) if t is not None else np.zeros(int(keep.sum()), "S1"))
        self._add("exploration", k(expl) if expl is not None
                  else np.zeros(int(keep.sum()), "S1"))
        if "user_id" in b.arrow and not b.null["user_id"].all():
            self.present.add("user_id")
        self._add("user_id", k(b.texts("user_id")) if "user_id" in b.arrow
                  else np.zeros(int(keep.sum()), "S1"))
        if "position" in b.arrow and not b.null["position"].all():
            self.present.add("position")
        self._add("position", k(np.where(b.null["position"], -1, pos)).astype(np.int32))

    def _keep_dense(self, f: str, b: _Batch, keep, vals, lens) -> None:
        """Stores a list column of the kept rows as a dense block: scores (b, L) float32,
        NaN rows where null; eligible sets (b, K) bool by one scatter, all True where the
        set is null -- or, while K is unknown, (b, 1 + largest id in the batch) with the
        null rows beside it."""
        kept = int(keep.sum())
        null = b.null[f][keep]
        if vals is not None:
            self.present.add(f)
            ok = keep & ~b.null[f]
            v, ln = vals[np.repeat(ok, lens)], np.where(null, 0, lens[keep])
        if f == "scores":
            if self.scores_len is None:  # no scores seen yet: these rows are null
                self.store.add_chunk("scores", np.zeros((kept, 0), np.float32))
                return
            block = np.full((kept, self.scores_len), np.nan, np.float32)
            if vals is not None:
                block[~null] = v.reshape(-1, self.scores_len)
            self.store.add_chunk("scores", block)
            return
        k = self.n_arms
        width = k if k is not None else (int(v.max()) + 1 if vals is not None and len(v)
                                         else 0)
        block = np.zeros((kept, width), bool)
        if vals is not None:
            block[np.repeat(np.arange(kept), ln), v] = True
        if k is not None:
            block[null] = True
            self._add("mask", block)
        else:
            self.store.add_chunk("eligible_actions", (null, block))

    # -------------------------------------------------------------- messages, rejects
    def _value(self, b: _Batch, field: str, r: int) -> str:
        """A value as the message shows it: text that did not parse and strings quoted,
        numbers as Python prints them, lists and timestamps as Arrow writes them."""
        if field in b.typebad and b.typebad[field][0][r]:
            return repr(b.typebad[field][1][r].as_py())
        a = b.arrow[field].slice(r, 1)
        if a.null_count:
            return "null"
        if _is_list(a.type) or pa.types.is_timestamp(a.type):
            return _text(a)[0].as_py()
        return repr(a[0].as_py())

    def _what(self, name: str) -> str:
        """The rule a row broke, as the start of its message."""
        field, rule = name.split(":")
        if name == "scores:length":
            k = self.scores_len
            if k is None:
                return "scores must have one value per arm"
            if self.scores_from is not None:
                src = f"as in row {self.scores_from}"
            elif self.k_source == "config":
                src = f"load.n_arms={k}"
            else:
                src = f"{N_ARMS_KEY.decode()}={k} in the file's metadata"
            return f"scores must have {k} values, one per arm ({src})"
        k = self.scores_len or None  # the declared K, or the scores' length, or None
        return {
            "type": f"{field} must be {_EXPECTED[_KINDS[field]]}",
            "null": f"{field} is required",
            "length": f"context must have {self.dim} values (the file's dimension)",
            "non_finite": f"{field} must be finite",
            "range": {"propensity": "propensity must be in (0, 1]",
                      "action": (f"action must be in [0, {k - 1}]" if k is not None
                                 else "action must be >= 0"),
                      "eligible_actions": (f"eligible_actions must hold arm ids in "
                                           f"[0, {k - 1}]" if k is not None
                                           else "eligible_actions must hold ids >= 0"),
                      "position": "position must be >= 0"}.get(field),
            "empty": ("eligible_actions must name at least one arm (null, or an empty CSV "
                      "cell, means every arm)"),
            "ineligible": "action must be one of the row's eligible_actions",
            "missing": "reward is missing (pending)",
            "json": "exploration must be a JSON object",
        }[rule]

    def _has(self, name: str, b: _Batch, r: int) -> str:
        """What the row holds, as the middle of its message."""
        field, rule = name.split(":")
        if rule in ("null", "missing"):
            return "is null"
        if rule == "length":
            return (f"has {int(_lengths(b.arrow[field].slice(r, 1))[0])} values: "
                    f"{self._value(b, field, r)}")
        if rule == "empty":
            return f"has {b.cell(field, r)}, no arm"
        if rule == "ineligible":
            return (f"logs action {self._value(b, 'action', r)} but eligible_actions is "
                    f"{self._value(b, 'eligible_actions', r)}")
        return f"has {self._value(b, field, r)}"

    def _too_high(self, name: str, b: _Batch, r: int) -> bool:
        """Whether row ``r`` broke an arm-id range rule by an id >= K (not a negative)."""
        if name == "action:range":
            return bool(b.ints("action")[r] >= 0)
        ids = b.arrow["eligible_actions"][r].values
        return bool(pc.max(ids).as_py() >= self.scores_len)

    def _message(self, name: str, b: _Batch, r: int, row0: int, count: int) -> str:
        msg = (f"{self.src.path}: {self._what(name)}; row {row0 + r} {self._has(name, b, r)} "
               f"({count} row{'s' if count != 1 else ''} with this problem in rows {row0}.."
               f"{row0 + b.n - 1}, where reading stopped)")
        if name in ("action:range", "eligible_actions:range") and self.scores_len and \
                self._too_high(name, b, r):
            msg += f"; {self.scores_len} arms from {self.k_from}"
            if self.k_source != "config":
                msg += " (declare the count with load.n_arms=K if the log has more arms)"
        if name == "reward:missing":
            msg += ("; give pending rewards a value, e.g. load.missing_reward=0 for clicks, "
                    "or set pending rows aside with load.on_invalid=reject "
                    "load.rejects_path=rejects.parquet")
        return msg

    def _open_sink(self) -> _Sink:
        if self.sink is None:
            with_scores = "scores" in self.src.present
            self.sink = _Sink(self.rejects_path, _rejects_schema(with_scores), self.dim or 0)
        return self.sink

    def _write_rejects(self, b: _Batch, rows: np.ndarray, reason: np.ndarray, row0: int):
        sink = self._open_sink()
        sel = pa.array(rows)
        cols = []
        for f in sink.schema:
            if f.name in b.arrow:
                cols.append(b.arrow[f.name].filter(sel).cast(f.type))
            elif f.name in _KINDS:
                cols.append(pa.nulls(int(rows.sum()), f.type))
        names = np.array([""] + list(REASONS), dtype=object)
        value = pa.nulls(b.n, pa.string())
        for code in np.unique(reason[rows]):
            field = REASONS[code - 1].split(":")[0]
            here = reason == code
            if field in b.typebad:
                text = b.typebad[field][1]
            elif REASONS[code - 1] == "eligible_actions:empty" and field in b.list_text:
                text = b.list_text[field]  # the blank cell as it was
            elif field in b.arrow:
                text = _text(b.arrow[field])
            else:
                continue
            value = pc.if_else(pa.array(here), text.fill_null("null"), value)
        cols.append(pa.array(names[reason[rows]].astype(str)))
        cols.append(value.filter(sel))
        cols.append(pa.array(np.flatnonzero(rows) + row0))
        sink.write_batch(pa.RecordBatch.from_arrays(cols, schema=sink.schema))

    # -------------------------------------------------------------- the end
    def read_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Reads every batch; returns the kept rows' file rows and, over them, the mask
        of those that survive the duplicate check."""
        try:
            for raw, bad in self.src.batches():
                self.batch(raw, bad)
            if self.rows == 0:
                raise DataError(f"{self.src.path}: the log holds no events")
            self.duplicates()
            kept_rows = self.store.pop("row", np.int64)
            keep = self.drop_duplicates(kept_rows) if self.reject else \
                np.ones(len(kept_rows), bool)
            if self.reject:
                self._open_sink()  # an empty rejects file says "nothing rejected"
        finally:
            if self.sink is not None:
                self.sink.close()
        return kept_rows, keep

    def arms(self, action: np.ndarray, elig: list) -> int:
        """K for the rows kept: declared (load.n_arms, the file's metadata, the length of
        scores) or inferred from the largest arm id; sets ``k_source`` and ``k_from``."""
        if self.n_arms is not None:
            return self.n_arms
        top_action = int(action.max()) + 1
        top_elig = max([c[1].shape[1] for c in elig], default=0)  # a block: 1 + its top id
        k = max(top_action, top_elig)
        if "scores" in self.present and self.scores_len:
            if self.scores_len < k:
                raise DataError(f"{self.src.path}: scores have {self.scores_len} values per "
                                f"row (as in row {self.scores_from}) but arm ids go up to "
                                f"{k - 1}; declare the number of arms with load.n_arms=K")
            self.k_source = "file metadata"
            return self.scores_len
        field = "eligible_actions" if top_elig > top_action else "action"
        self.k_from = f"1 + the largest {field} id {k - 1}"
        return k

    def _mask(self, k: int, n_kept: int, elig: list, sel) -> np.ndarray:
        """The (n, K) eligible arms of the kept rows (all True where no set was logged)."""
        if "eligible_actions" not in self.present:
            return np.ones((n_kept, k), bool)
        if self.n_arms is not None:
            return sel(self.store.pop("mask"))
        nulls = [c[0] for c in elig]
        self.store.chunks["eligible_actions"] = [c[1] for c in elig]
        elig.clear()
        mask = self.store.pop_blocks("eligible_actions", k, False)
        mask[_concat(nulls, bool)] = True
        return sel(mask)

    def assemble(self, kept_rows: np.ndarray, keep: np.ndarray, report: dict) -> EventLog:
        """The EventLog of the kept rows; fills the report's counts and arm facts."""
        sel = (lambda x: x) if keep.all() else (lambda x: x[keep])
        out: dict = {"event_id": sel(self.ids.pop()[kept_rows])}
        for f in ("context", "action", "propensity", "reward", "has_reward", "timestamp",
                  "reward_timestamp", "policy_version", "algorithm", "exploration",
                  "user_id", "position"):
            out[f] = sel(self.store.pop(f))
        report["rewards_filled"] = int(np.sum(~out["has_reward"]))
        elig = self.store.chunks.pop("eligible_actions", [])
        k = self.arms(out["action"], elig)
        report.update(n_arms=k, n_arms_source=self.k_source, n_arms_from=self.k_from,
                      n_arms_inferred=self.k_source == "inferred",
                      arms_without_rows=np.flatnonzero(
                          np.bincount(out["action"], minlength=k) == 0).tolist())
        mask = self._mask(k, len(out["action"]), elig, sel)
        scores = None
        if "scores" in self.present:
            scores = sel(self.store.pop_blocks("scores", k, np.nan))
        data = LoggedData.from_arrays(context=out["context"], action=out["action"],
                                      reward=out["reward"], pscore=out["propensity"],
                                      n_arms=k, mask=mask)
        return EventLog(
            data=data, event_id=out["event_id"],
            timestamp=out["timestamp"].view("datetime64[us]"),
            user_id=out["user_id"] if "user_id" in self.present else None,
            position=out["position"] if "position" in self.present else None,
            policy_version=out["policy_version"], algorithm=out["algorithm"],
            exploration=out["exploration"], scores=scores,
            reward_timestamp=out["reward_timestamp"].view("datetime64[us]"),
            has_reward=out["has_reward"], report=report)

    def duplicates(self) -> None:
        """Rows whose event_id already appeared earlier in the file (first one kept)."""
        ids = np.concatenate(self.ids) if self.ids else np.zeros(0, "S1")
        nul = np.concatenate(self.id_null) if self.id_null else np.zeros(0, bool)
        self.ids = [ids]
        srt = np.sort(ids[~nul])
        if not (srt[1:] == srt[:-1]).any():
            self.dup_rows = np.zeros(0, np.int64)
            return
        rows = np.flatnonzero(~nul)
        order = rows[np.argsort(ids[rows], kind="stable")]
        same = ids[order[1:]] == ids[order[:-1]]
        later = order[1:][same]
        # the first occurrence of each id: walk back to the start of its run
        start = np.flatnonzero(np.r_[True, ~same])
        run_first = order[start][np.searchsorted(start, np.arange(1, len(order)), "right")
                                 - 1]
        first_of = run_first[same]
        self.dup_rows = np.sort(later)
        if not self.reject:
            i = int(np.argmin(later))
            raise DataError(f"{self.src.path}: event_id must be unique; "
                            f"{ids[later[i]].decode(errors='replace')!r} is in rows "
                            f"{int(first_of[i])} and {int(later[i])} ({len(later)} "
                            f"{'row repeats' if len(later) == 1 else 'rows repeat'} an "
                            f"earlier event_id)")

    def drop_duplicates(self, kept_rows: np.ndarray) -> np.ndarray:
        """Sets kept rows with a repeated id aside; returns the keep mask over kept rows."""
        keep = ~np.isin(kept_rows, self.dup_rows)
        dups = kept_rows[~keep]  # already-rejected repeats keep their first reason
        if not len(dups):
            return keep
        self.counts[_REASON_CODE["event_id:duplicate"]] += len(dups)
        row0 = 0
        for raw, bad in _Source(self.src.path, self.src.batch_rows).batches():
            n = raw.num_rows
            lo, hi = np.searchsorted(dups, [row0, row0 + n])
            if hi > lo:
                b = _Batch(raw, bad, self.src)
                rows = np.zeros(n, bool)
                rows[dups[lo:hi] - row0] = True
                reason = np.where(rows, _REASON_CODE["event_id:duplicate"], 0)
                self._write_rejects(b, rows, reason, row0)
            row0 += n
            if row0 > dups[-1]:
                break
        return keep


def _not_json_objects(texts: pa.Array) -> np.ndarray:
    """Rows whose text is not a JSON object (null is fine). Each distinct text is parsed
    once: a log holds few exploration settings, however many rows."""
    bad = []
    for t in pc.unique(texts.drop_null()).to_pylist():  # distinct values, not rows
        try:
            ok = isinstance(json.loads(t), dict)
        except ValueError:
            ok = False
        if not ok:
            bad.append(t)
    if not bad:
        return np.zeros(len(texts), bool)
    return _np_bool(_fill(pc.is_in(texts, value_set=pa.array(bad, pa.string())), False))


class _Store:
    """The kept rows, column by column. When the file says how many rows it holds
    (Parquet), fixed-shape columns are preallocated and filled in place, so the arrays
    are never held twice; otherwise (CSV, JSON Lines; text of varying width) per-batch
    chunks are concatenated once at the end, one column at a time."""

    def __init__(self, total: int | None):
        self.total = total
        self.arrays: dict[str, np.ndarray] = {}
        self.pos: dict[str, int] = {}
        self.chunks: dict[str, list] = {}

    def add(self, name: str, x: np.ndarray) -> None:
        if self.total is None or x.dtype.kind == "S" or name in self.chunks:
            self.add_chunk(name, x)
            return
        if name not in self.arrays:
            self.arrays[name] = np.empty((self.total,) + x.shape[1:], x.dtype)
            self.pos[name] = 0
        p = self.pos[name]
        self.arrays[name][p:p + len(x)] = x
        self.pos[name] = p + len(x)

    def add_chunk(self, name: str, x) -> None:
        self.chunks.setdefault(name, []).append(x)

    def has(self, name: str) -> bool:
        return name in self.arrays or name in self.chunks

    def pop(self, name: str, dtype=None) -> np.ndarray:
        if name in self.arrays:
            return self.arrays.pop(name)[:self.pos[name]]
        return _concat(self.chunks.pop(name, []), dtype)

    def pop_blocks(self, name: str, width: int, fill) -> np.ndarray:
        """Per-batch (b, w) blocks, w <= width, as one (n, width) array."""
        chunks = self.chunks.pop(name, [])
        n = sum(len(c) for c in chunks)
        out = np.full((n, width), fill, chunks[0].dtype if chunks else bool)
        lo = 0
        while chunks:  # freed as copied
            block = chunks.pop(0)
            out[lo:lo + len(block), :block.shape[1]] = block
            lo += len(block)
        return out


def _concat(chunks: list, dtype=None) -> np.ndarray:
    out = np.concatenate(chunks) if chunks else np.zeros(0, dtype)
    chunks.clear()
    return out


def id_runs(ids, limit: int = 10) -> str:
    """Sorted ids with runs of consecutive ids as ``a..b``: ``0, 2..98``; after ``limit``
    runs, ``...``."""
    ids = np.sort(np.asarray(ids, np.int64))
    if not len(ids):
        return ""
    cut = np.flatnonzero(np.diff(ids) != 1) + 1
    starts, ends = ids[np.r_[0, cut]], ids[np.r_[cut - 1, len(ids) - 1]]
    runs = [f"{a}" if a == e else f"{a}..{e}" for a, e in zip(starts[:limit], ends[:limit])]
    return ", ".join(runs) + (", ..." if len(starts) > limit else "")


def _arms_line(report: dict, declared: int | None) -> str | None:
    """The line ``read_events`` prints about K: always when K was inferred, otherwise
    when some arm has no rows or the file declares another count than load.n_arms."""
    k, source, empty = report["n_arms"], report["n_arms_source"], report["arms_without_rows"]
    differs = source == "config" and declared is not None and declared != k
    if source != "inferred" and not empty and not differs:
        return None
    line = f"arms: {k}, "
    if source == "inferred":
        line += f"inferred as {report['n_arms_from']} (declare it with load.n_arms=K)"
    else:
        line += f"from {report['n_arms_from']}"
    if differs:
        line += f" (the file's metadata declares {N_ARMS_KEY.decode()}={declared})"
    if empty:
        many = len(empty) != 1
        line += (f"; {len(empty)} arm id{'s' if many else ''} {'have' if many else 'has'} "
                 f"no rows: {id_runs(empty)}")
    return line


def _check_read_args(path: str, n_arms, missing_reward, on_invalid, rejects_path,
                     batch_rows) -> None:
    """Raises ConfigError for a setting of ``read_events`` (spelt as the gate's load.*)."""
    if on_invalid not in ("raise", "reject"):
        raise ConfigError(f"load.on_invalid must be 'raise' or 'reject', got {on_invalid!r}")
    if on_invalid == "reject" and not rejects_path:
        raise ConfigError("load.on_invalid=reject needs load.rejects_path: where the invalid "
                          "rows go")
    if rejects_path is not None:
        _fmt_for(rejects_path)
        if os.path.abspath(str(rejects_path)) == os.path.abspath(path):
            raise ConfigError("load.rejects_path must not be the log itself")
    if n_arms is not None:
        _check_count("n_arms", n_arms, "load.n_arms")
    if missing_reward is not None and (
            isinstance(missing_reward, bool) or not isinstance(missing_reward, (
                int, float, np.number)) or not np.isfinite(missing_reward)):
        raise ConfigError(f"load.missing_reward must be a finite number or null, got "
                          f"{missing_reward!r}")
    _check_count("batch_rows", batch_rows)


def read_events(path, *, n_arms: int | None = None, missing_reward: float | None = None,
                on_invalid: str = "raise", rejects_path: str | None = None,
                batch_rows: int = 65536) -> EventLog:
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

    Returns:
        An :class:`EventLog`; ``report`` holds ``rows_read``, ``rows_kept``,
        ``rows_rejected``, ``rejected`` (counts by reason), ``rewards_filled``,
        ``n_arms``, ``n_arms_source`` (``"config"``, ``"file metadata"`` or
        ``"inferred"``), ``n_arms_from`` (where K came from, in words),
        ``n_arms_inferred``, ``arms_without_rows`` (ids in [0, K) that no kept row logs as
        its action), ``dim``, ``format``, ``batches``, ``ignored_columns`` (columns or
        JSON keys of the file that are not event fields).

    Raises:
        ConfigError: a setting is wrong.
        DataError: naming the field, the bad value and the row (see ``docs/events.md``).
    """
    path = str(path)
    _check_read_args(path, n_arms, missing_reward, on_invalid, rejects_path, batch_rows)
    src = _Source(path, int(batch_rows))
    rd = _Reader(src, None if n_arms is None else int(n_arms), missing_reward, on_invalid,
                 None if rejects_path is None else str(rejects_path))
    kept_rows, keep = rd.read_all()
    counts = {r: int(c) for r, c in zip(REASONS, rd.counts[1:]) if c}
    n_kept = int(keep.sum())
    report = {"path": path, "format": src.fmt, "rows_read": rd.rows, "rows_kept": n_kept,
              "rows_rejected": int(sum(counts.values())), "rejected": counts,
              "rewards_filled": 0, "n_arms": None, "n_arms_source": None, "n_arms_from": None,
              "n_arms_inferred": None, "arms_without_rows": None, "dim": rd.dim,
              "batches": rd.n_batches,
              "ignored_columns": list(src.ignored), "rejects_path": rd.rejects_path}
    if rd.reject:
        detail = ", ".join(f"{r}: {c:,}" for r, c in counts.items()) or "none"
        print(f"read_events {path}: kept {n_kept:,} of {rd.rows:,} rows; rejected "
              f"{report['rows_rejected']:,} ({detail}) -> {rd.rejects_path}")
    if n_kept == 0:
        raise DataError(f"{path}: no valid rows: all {rd.rows:,} rows were rejected (see "
                        f"{rd.rejects_path}; counts {counts})")
    log = rd.assemble(kept_rows, keep, report)
    line = _arms_line(report, src.declared_arms)
    if line is not None:
        print(f"read_events {path}: {line}")
    return log
