"""Small Arrow helpers the readers and writers share: type tests, nulls by mask, list
lengths and shapes, values as text, and strings as a NumPy bytes array."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.data.events.schema import ISO, TS


def is_list(t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def is_text(t) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def np_bool(a) -> np.ndarray:
    """A boolean Arrow array as (n,) NumPy bool."""
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=bool)


def null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    """``arr`` with null where ``mask`` (n,) is True."""
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def fill(arr: pa.Array, value) -> pa.Array:
    """``arr`` with its nulls replaced by ``value``."""
    return arr.fill_null(value) if arr.null_count else arr


def lengths(arr: pa.Array) -> np.ndarray:
    """(n,) int64 per-row list lengths, 0 for a null list (matching ``flatten``, which
    skips them)."""
    return fill(pc.list_value_length(arr), 0).to_numpy().astype(np.int64)


def relist(arr: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` (one per element of ``arr``'s non-null lists) in ``arr``'s list shape."""
    off = np.zeros(len(arr) + 1, np.int32)
    np.cumsum(lengths(arr), out=off[1:])
    return pa.ListArray.from_arrays(pa.array(off), values, mask=arr.is_null())


def text(arr: pa.Array) -> pa.Array:
    """Each value as text (lists as ``[a, b]``, timestamps ISO-8601); null stays null."""
    t = arr.type
    if is_text(t):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(t):
        return pc.strftime(arr.cast(TS), format=ISO)
    if is_list(t):
        inner = relist(arr, text(arr.flatten()).fill_null("null"))
        return pc.binary_join_element_wise("[", pc.binary_join(inner, ", "), "]", "")
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    return arr.cast(pa.string())


def as_bytes(arr: pa.Array) -> np.ndarray:
    """A string array as a NumPy ``S`` array (null -> b"") by one scatter of its bytes."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, "S1")
    arr = fill(arr.cast(pa.large_string()), "")
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], np.int64, n + 1, arr.offset * 8)
    widths = np.diff(off)
    width = max(int(widths.max()) if n else 0, 1)
    total = int(off[-1] - off[0])
    if total == n * width:  # every string as wide as the widest: the bytes as they lie
        return np.frombuffer(bufs[2], np.uint8, total, int(off[0])).copy().view(f"S{width}")
    out = np.zeros(n * width, np.uint8)
    if total:
        data = np.frombuffer(bufs[2], np.uint8, total, int(off[0]))
        shift = np.arange(n, dtype=np.int64) * width - (off[:-1] - off[0])
        out[np.arange(total, dtype=np.int64) + np.repeat(shift, widths)] = data
    return out.view(f"S{width}")
