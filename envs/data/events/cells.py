"""Columns to their canonical Arrow types, whatever a file held: text cells are parsed by
Arrow's own casts, and every cell that does not parse is found and reported as a mask."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import DataError
from envs.data.events.arrow import is_list, is_text, lengths, np_bool, null_where, relist
from envs.data.events.schema import CANON, EXPECTED, KINDS, NAT, TS

# What Arrow's casts accept, to find every bad cell of a column at once; a cell that
# passes but still fails the cast is found by bisection (see cast_locate).
NUM_RE = {"int": r"^-?[0-9]+$",
          "float": r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
                   r"|^[+-]?([Nn][Aa][Nn]|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?)$"}
_ZONE_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError)


def cast_locate(arr: pa.Array, target, pattern: str | None = None):
    """Casts text to ``target``; cells that do not parse become null and are returned as a
    (n,) bool mask (None when all parse). A regular expression finds the bad cells at
    once; whatever it lets through is found by bisection with Arrow's cast itself."""
    try:
        return pc.cast(arr, target), None
    except _CAST_ERRORS:
        pass
    bad = np.zeros(len(arr), bool)
    if pattern is not None:
        bad |= ~np_bool(pc.match_substring_regex(arr, pattern).fill_null(True))
    stack = [(0, len(arr))]
    while stack:
        lo, hi = stack.pop()
        try:
            pc.cast(null_where(arr.slice(lo, hi - lo), bad[lo:hi]), target)
        except _CAST_ERRORS:
            if hi - lo == 1:
                bad[lo] = True
            else:
                mid = (lo + hi) // 2
                stack += [(mid, hi), (lo, mid)]
    return pc.cast(null_where(arr, bad), target), bad


def parse_timestamps(arr: pa.Array):
    """ISO-8601 text to timestamp[us, UTC]: an offset is honoured, no offset means UTC.
    Returns the timestamps and the mask of cells that did not parse (or None)."""
    for typ in (TS, pa.timestamp("us")):
        try:
            return pc.cast(arr, typ).cast(pa.int64()).view(TS), None
        except _CAST_ERRORS:
            pass
    zone = np_bool(pc.match_substring_regex(arr, _ZONE_RE).fill_null(False))
    out = np.full(len(arr), NAT, np.int64)
    bad = np.zeros(len(arr), bool)
    for sel, typ in ((zone, TS), (~zone, pa.timestamp("us"))):
        if sel.any():
            vals, b = cast_locate(arr.filter(pa.array(sel)), typ)
            out[sel] = vals.cast(pa.int64()).fill_null(NAT).to_numpy()
            if b is not None:
                bad[sel] = b
    res = pa.array(out, mask=out == NAT).view(TS)
    return res, (bad if bad.any() else None)


def parse_list(arr: pa.Array, kind: str):
    """A cell of space-separated numbers to a list. A null cell stays null (in CSV: a cell
    with no characters); a cell of only whitespace is an empty list, not null."""
    s = pc.utf8_trim_whitespace(arr)
    blank = np_bool(pc.equal(s, "").fill_null(False))
    s = null_where(s, blank)
    # single spaces (as written here) split twice as fast as any whitespace
    single = not pc.any(pc.match_substring_regex(s, r"\s\s|[\t\r\n\f\v]")).as_py()
    parts = pc.split_pattern(s, " ") if single else pc.utf8_split_whitespace(s)
    elem = "int" if kind == "int_list" else "float"
    vals, bad_v = cast_locate(parts.flatten(), CANON[elem], NUM_RE[elem])
    bad = None
    if bad_v is not None:
        rows = np.repeat(np.arange(len(arr)), lengths(parts))
        bad = np.zeros(len(arr), bool)
        bad[rows[bad_v]] = True
    out = relist(parts, vals)
    out = (out if bad is None else null_where(out, bad)).cast(CANON[kind])
    if blank.any():
        out = pc.if_else(pa.array(blank), pa.scalar([], CANON[kind]), out)
    return out, bad


def type_error(name: str, found, expected: str | None = None) -> DataError:
    """The error of a column of the wrong type."""
    expected = expected or EXPECTED[KINDS[name]]
    return DataError(f"column {name!r} has the wrong type: expected {expected}, "
                     f"found {found}")


def check_column_type(name: str, t) -> None:
    """File-level type check (Parquet): raises naming the column, expected and found."""
    kind = KINDS[name]
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t) or is_text(t):
        return  # all null, or text that is parsed cell by cell
    ok = {"str": False, "ts": pa.types.is_timestamp(t), "int": pa.types.is_integer(t),
          "float": pa.types.is_integer(t) or pa.types.is_floating(t)}.get(kind)
    if kind in ("float_list", "int_list"):
        v = t.value_type if is_list(t) else None
        ok = v is not None and (pa.types.is_integer(v) or (
            kind == "float_list" and pa.types.is_floating(v)))
    if not ok:
        raise type_error(name, t)


def _parse_text(kind: str, arr: pa.Array):
    """A text column of ``kind`` in its canonical type, and the mask of bad cells."""
    if kind == "str":
        return arr.cast(pa.string()), None
    if kind == "ts":
        return parse_timestamps(arr)
    if kind in ("int", "float"):
        return cast_locate(arr, CANON[kind], NUM_RE[kind])
    return parse_list(arr, kind)


def canonical(name: str, arr: pa.Array):
    """One column in its canonical type (float lists keep float32 values, the NumPy step
    needs no copy) and the (n,) mask of cells that did not parse (or None)."""
    kind = KINDS[name]
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), CANON[kind]), None
    check_column_type(name, t)
    if is_text(t):
        return _parse_text(kind, arr)
    if kind == "ts":
        # the stored value of a tz-aware timestamp is UTC; a naive one is taken as UTC
        return pc.cast(arr, pa.timestamp("us", t.tz), safe=False).cast(pa.int64()).view(
            TS), None
    if kind == "float_list" and pa.types.is_floating(t.value_type) and (
            not pa.types.is_fixed_size_list(t) or arr.null_count == 0):
        return arr, None
    return arr.cast(CANON[kind]), None
