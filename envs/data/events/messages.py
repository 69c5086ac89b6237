"""The message of a log's first bad row: the rule it broke, the row and what it holds, how
many rows of the batch share the problem, and how to fix it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from envs.data.events.arms import ArmCount
from envs.data.events.arrow import is_list, lengths, text
from envs.data.events.batch import Batch
from envs.data.events.schema import EXPECTED, KINDS

_RANGES = {"propensity": "propensity must be in (0, 1]", "position": "position must be >= 0"}
_RULES = {
    "null": "{field} is required",
    "non_finite": "{field} must be finite",
    "empty": ("eligible_actions must name at least one arm (null, or an empty CSV cell, "
              "means every arm)"),
    "ineligible": "action must be one of the row's eligible_actions",
    "missing": "reward is missing (pending)",
    "json": "exploration must be a JSON object",
}


def _value(b: Batch, field: str, r: int) -> str:
    """A value as the message shows it: text that did not parse and strings quoted,
    numbers as Python prints them, lists and timestamps as Arrow writes them."""
    if field in b.typebad and b.typebad[field][0][r]:
        return repr(b.typebad[field][1][r].as_py())
    a = b.arrow[field].slice(r, 1)
    if a.null_count:
        return "null"
    if is_list(a.type) or pa.types.is_timestamp(a.type):
        return text(a)[0].as_py()
    return repr(a[0].as_py())


def _range_rule(field: str, k: int | None) -> str:
    if field == "action":
        return f"action must be in [0, {k - 1}]" if k is not None else "action must be >= 0"
    if field == "eligible_actions":
        return (f"eligible_actions must hold arm ids in [0, {k - 1}]" if k is not None
                else "eligible_actions must hold ids >= 0")
    return _RANGES[field]


def _what(name: str, arms: ArmCount, dim: int | None) -> str:
    """The rule a row broke, as the start of its message."""
    field, rule = name.split(":")
    if name == "scores:length":
        return arms.scores_rule()
    if rule == "type":
        return f"{field} must be {EXPECTED[KINDS[field]]}"
    if rule == "length":
        return f"context must have {dim} values (the file's dimension)"
    if rule == "range":
        return _range_rule(field, arms.known)
    return _RULES[rule].format(field=field)


def _has(name: str, b: Batch, r: int) -> str:
    """What the row holds, as the middle of its message."""
    field, rule = name.split(":")
    if rule in ("null", "missing"):
        return "is null"
    if rule == "length":
        return (f"has {int(lengths(b.arrow[field].slice(r, 1))[0])} values: "
                f"{_value(b, field, r)}")
    if rule == "empty":
        return f"has {b.cell(field, r)}, no arm"
    if rule == "ineligible":
        return (f"logs action {_value(b, 'action', r)} but eligible_actions is "
                f"{_value(b, 'eligible_actions', r)}")
    return f"has {_value(b, field, r)}"


def _too_high(name: str, b: Batch, r: int, k: int) -> bool:
    """Whether row ``r`` broke an arm-id range rule by an id >= K (not a negative)."""
    if name == "action:range":
        return bool(b.ints("action")[r] >= 0)
    ids = b.arrow["eligible_actions"][r].values
    return bool(pc.max(ids).as_py() >= k)


def message(path: str, name: str, b: Batch, r: int, row0: int, count: int,
            arms: ArmCount, dim: int | None) -> str:
    """The message of row ``r`` of batch ``b`` (file row ``row0 + r``), which broke rule
    ``name`` with ``count`` rows of the batch."""
    msg = (f"{path}: {_what(name, arms, dim)}; row {row0 + r} {_has(name, b, r)} "
           f"({count} row{'s' if count != 1 else ''} with this problem in rows {row0}.."
           f"{row0 + b.n - 1}, where reading stopped)")
    if name in ("action:range", "eligible_actions:range") and arms.scores_len and \
            _too_high(name, b, r, arms.scores_len):
        msg += f"; {arms.scores_len} arms from {arms.k_from}"
        if arms.k_source != "config":
            msg += " (declare the count with load.n_arms=K if the log has more arms)"
    if name == "reward:missing":
        msg += ("; give pending rewards a value, e.g. load.missing_reward=0 for clicks, "
                "or set pending rows aside with load.on_invalid=reject "
                "load.rejects_path=rejects.parquet")
    return msg
