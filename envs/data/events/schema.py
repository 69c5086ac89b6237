"""The decision-event schema: the fields, their kinds and Arrow types, the schema of a log
and of a rejects file, the rejection reasons and the ``bandax.n_arms`` and
``bandax.arm_features`` metadata keys."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from envs.data.validation import check_count

# Each field's kind; the order is the column order of every file written.
KINDS = {
    "event_id": "str", "timestamp": "ts", "user_id": "str", "context": "float_list",
    "eligible_actions": "int_list", "action": "int", "propensity": "float",
    "position": "int", "policy_version": "str", "algorithm": "str", "exploration": "str",
    "scores": "float_list", "reward": "float", "reward_timestamp": "ts",
}
FIELDS = tuple(KINDS)
REQUIRED = ("event_id", "timestamp", "context", "action", "propensity")
TS = pa.timestamp("us", tz="UTC")
ISO = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S carries the microseconds of a timestamp[us]
NAT = np.iinfo(np.int64).min
EXPECTED = {"str": "a string", "ts": "an ISO-8601 UTC timestamp", "int": "an integer",
            "float": "a number", "float_list": "a list of numbers",
            "int_list": "a list of integers"}
# The types every batch is brought to before NumPy (and the types of a rejects file).
CANON = {"str": pa.string(), "ts": TS, "int": pa.int64(), "float": pa.float64(),
         "float_list": pa.list_(pa.float64()), "int_list": pa.list_(pa.int64())}
# The schema metadata keys under which a Parquet log declares its number of arms and,
# when each arm has its own features (the context is K vectors of d, arm-major), d.
N_ARMS_KEY = b"bandax.n_arms"
ARM_FEATURES_KEY = b"bandax.arm_features"

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
# Each reason's code in per-row reason arrays (0: no problem).
REASON_CODE = {r: i + 1 for i, r in enumerate(REASONS)}


def event_schema(dim: int, with_scores: bool = False, n_arms: int | None = None,
                 arm_features: int | None = None) -> pa.Schema:
    """The Arrow schema of a decision log with ``dim`` context features.

    Required fields are declared non-nullable. ``context`` is a fixed-size list, so the
    file itself records ``dim``; ``scores`` is present only ``with_scores``. A known
    ``n_arms`` is declared in the schema metadata under ``bandax.n_arms`` (Parquet keeps
    it; ``read_events`` takes K from it when no ``n_arms`` is given); a per-arm
    ``arm_features`` d >= 1 likewise under ``bandax.arm_features``.
    """
    dim = check_count("dim", dim)
    req = set(REQUIRED)
    types = {"event_id": pa.string(), "timestamp": TS, "user_id": pa.string(),
             "context": pa.list_(pa.float32(), dim),
             "eligible_actions": pa.list_(pa.int32()), "action": pa.int32(),
             "propensity": pa.float64(), "position": pa.int32(),
             "policy_version": pa.string(), "algorithm": pa.string(),
             "exploration": pa.string(), "scores": pa.list_(pa.float32()),
             "reward": pa.float64(), "reward_timestamp": TS}
    meta = {}
    if n_arms is not None:
        meta[N_ARMS_KEY] = str(check_count("n_arms", n_arms))
    if arm_features:
        meta[ARM_FEATURES_KEY] = str(check_count("arm_features", arm_features))
    return pa.schema([pa.field(f, types[f], nullable=f not in req) for f in FIELDS
                      if f != "scores" or with_scores], metadata=meta or None)


def rejects_schema(with_scores: bool) -> pa.Schema:
    """Every field in its canonical type, all nullable (a reject may lack anything), then
    ``reject_reason``, ``reject_value`` and ``source_row``."""
    fs = [pa.field(f, CANON[k]) for f, k in KINDS.items() if f != "scores" or with_scores]
    return pa.schema(fs + [pa.field("reject_reason", pa.string()),
                           pa.field("reject_value", pa.string()),
                           pa.field("source_row", pa.int64())])
