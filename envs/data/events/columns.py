"""NumPy columns of decision events to an Arrow batch of the event schema.

NumPy has no nulls, so they are read from conventions: NaN reward and NaT
``reward_timestamp`` are *pending*, a negative ``position`` and an empty string are null,
a scores row that is all NaN is null; ``eligible_actions`` is given as the (n, K) boolean
mask. An ``n_arms`` entry (an int) states the number of arms, an ``arm_features`` entry
(an int) the features per arm of a context that holds K arms' vectors; neither is a column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import ConfigError, DataError
from envs.data.events.arrow import is_text, np_bool, null_where
from envs.data.events.schema import FIELDS, REQUIRED, TS
from envs.data.validation import check_count


def string_array(name: str, x, n: int) -> pa.Array:
    """NumPy text (``S``, ``U`` or object) (n,), or one scalar, as Arrow strings; "" and
    None are null."""
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
    if not is_text(a.type):
        raise DataError(f"{name} must hold strings, found {a.type}")
    return null_where(a.cast(pa.string()), np_bool(pc.equal(a, "").fill_null(False)))


def timestamp_array(name: str, x, n: int) -> pa.Array:
    """(n,) datetime64 as timestamp[us, UTC]; NaT is null."""
    x = np.asarray(x)
    if x.shape != (n,) or x.dtype.kind != "M":
        raise DataError(f"{name} must be a ({n},) datetime64 array, got {x.dtype} "
                        f"{x.shape}")
    v = x.astype("datetime64[us]").view(np.int64)
    return pa.array(v, mask=np.isnat(x)).view(TS)


def _dense_list(x, n: int, dtype, null_rows=None) -> pa.Array:
    """(n, L) values as n lists of L, null where ``null_rows`` (n,) is True."""
    off = np.arange(n + 1, dtype=np.int32) * x.shape[1]
    vals = pa.array(np.ascontiguousarray(x, dtype=dtype).ravel())
    mask = None if null_rows is None or not null_rows.any() else pa.array(null_rows)
    return pa.ListArray.from_arrays(pa.array(off), vals, mask=mask)


def declared_arms(columns: dict, n_arms: int | None = None) -> int | None:
    """The number of arms that ``n_arms`` and a batch of columns state (their ``n_arms``
    entry, the width of the eligible_actions mask, the width of scores), or None if none
    does. They must agree."""
    found = {}
    if n_arms is not None:
        found["n_arms"] = n_arms
    if columns.get("n_arms") is not None:
        found["the columns' n_arms"] = check_count("n_arms", columns["n_arms"])
    for f in ("eligible_actions", "scores"):
        if columns.get(f) is not None and np.ndim(columns[f]) == 2:
            found[f"the width of {f}"] = int(np.shape(columns[f])[1])
    if len(set(found.values())) > 1:
        raise DataError("the number of arms must agree: " + ", ".join(
            f"{k} is {v}" for k, v in found.items()))
    return next(iter(found.values()), None)


def declared_arm_features(columns: dict, arm_features: int | None = None) -> int | None:
    """The features per arm that ``arm_features`` and a batch's ``arm_features`` entry
    state (0 or None: a shared context), or None; they must agree."""
    found = {k: int(v) for k, v in (("arm_features", arm_features),
                                    ("the columns' arm_features", columns.get("arm_features")))
             if v}
    if len(set(found.values())) > 1:
        raise DataError("the features per arm must agree: " + ", ".join(
            f"{k} is {v}" for k, v in found.items()))
    return next(iter(found.values()), None)


def batch_rows(columns: dict, schema: pa.Schema) -> int:
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


def _id_and_time(columns: dict, n: int) -> dict[str, pa.Array]:
    """``event_id`` and ``timestamp``, both required in every row."""
    out = {"event_id": string_array("event_id", columns["event_id"], n)}
    if out["event_id"].null_count:
        row = int(np.argmax(np_bool(out["event_id"].is_null())))
        raise DataError(f"event_id is required; row {row} is empty")
    out["timestamp"] = timestamp_array("timestamp", columns["timestamp"], n)
    if out["timestamp"].null_count:
        row = int(np.argmax(np_bool(out["timestamp"].is_null())))
        raise DataError(f"timestamp is required; row {row} is NaT")
    return out


def _context(columns: dict, n: int, dim: int) -> pa.Array:
    ctx = np.asarray(columns["context"])
    if ctx.shape != (n, dim):
        raise DataError(f"context must have shape (n, dim)=({n}, {dim}), got {ctx.shape}")
    return pa.FixedSizeListArray.from_arrays(
        pa.array(np.ascontiguousarray(ctx, np.float32).ravel()), dim)


def _eligible(m, n: int) -> pa.Array:
    """The (n, K) bool mask of eligible arms as lists of arm ids."""
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != n or m.dtype != bool:
        raise DataError(f"eligible_actions must be an (n, K) bool mask with n={n}, got "
                        f"{m.dtype} {m.shape}")
    off = np.zeros(n + 1, np.int32)
    np.cumsum(m.sum(1), out=off[1:])
    return pa.ListArray.from_arrays(pa.array(off), pa.array(np.nonzero(m)[1].astype(np.int32)))


def _optional(columns: dict, n: int) -> dict[str, pa.Array]:
    """The optional fields given, after ``propensity``."""
    out = {}
    if "position" in columns:
        p = np.asarray(columns["position"])
        p = np.full(n, p[()]) if p.ndim == 0 else p
        if not np.issubdtype(p.dtype, np.integer):
            raise DataError(f"position must hold integers (-1 for null), got {p.dtype}")
        out["position"] = pa.array(p.astype(np.int32), mask=p < 0)
    for f in ("user_id", "policy_version", "algorithm", "exploration"):
        if f in columns:
            out[f] = string_array(f, columns[f], n)
    if "scores" in columns:
        s = np.asarray(columns["scores"], np.float32)
        if s.ndim != 2 or s.shape[0] != n:
            raise DataError(f"scores must have shape (n, K) with n={n}, got {s.shape}")
        out["scores"] = _dense_list(s, n, np.float32, np.isnan(s).all(1))
    if "reward" in columns:
        r = np.asarray(columns["reward"], np.float64)
        out["reward"] = pa.array(r, mask=np.isnan(r))
    if "reward_timestamp" in columns:
        out["reward_timestamp"] = timestamp_array("reward_timestamp",
                                                  columns["reward_timestamp"], n)
    return out


def columns_to_batch(columns: dict, schema: pa.Schema, dim: int) -> pa.RecordBatch:
    """NumPy columns (n rows; see the module notes for nulls) as a batch of ``schema``;
    ``n_arms`` and ``arm_features`` entries are declarations, not columns, and are
    skipped here."""
    columns = {k: v for k, v in columns.items()
               if v is not None and k not in ("n_arms", "arm_features")}
    n = batch_rows(columns, schema)
    out = _id_and_time(columns, n)
    out["context"] = _context(columns, n, dim)
    if "eligible_actions" in columns:
        out["eligible_actions"] = _eligible(columns["eligible_actions"], n)
    out["action"] = pa.array(np.asarray(columns["action"]).astype(np.int32))
    out["propensity"] = pa.array(np.asarray(columns["propensity"], np.float64))
    out.update(_optional(columns, n))
    arrays = [out[f.name].cast(f.type) if f.name in out else pa.nulls(n, f.type)
              for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
