"""What a round leaves behind: the per-round outputs of a lane, declared once with their
shapes, and what each ``record`` setting keeps of them.

Every round of every lane yields its cumulative regret, which the chunk program reduces
to curves on the device. ``record`` chooses what leaves the device per lane and round
besides, from :data:`ROUND_OUTPUTS`:

* ``"curves"``: nothing;
* ``"trajectories"``: the action, realised reward, propensity and instantaneous regret;
* ``"logs"``: those and the *log row*: one flat float32 vector holding what a logged
  dataset keeps of the round (:data:`LOG_ROW_FIELDS`: context, eligible mask, the
  policy's action probabilities and the true mean rewards), packed by
  :func:`pack_log_row` and split by :func:`unpack_log_rows`.

Sizes are written with ``K`` (arms), ``d`` (context dimension) and ``F`` (the log row's
width, :func:`log_row_width`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class RoundOutput(NamedTuple):
    """One per-round output of a lane: its name, dtype and shape per lane and round."""

    name: str
    dtype: type
    shape: tuple[str, ...]  # sizes as "K", "d" or "F"; () for one number


ROUND_OUTPUTS = {o.name: o for o in (
    RoundOutput("action", np.int32, ()),
    RoundOutput("reward", np.float32, ()),
    RoundOutput("propensity", np.float32, ()),
    RoundOutput("regret", np.float32, ()),  # instantaneous expected regret
    RoundOutput("log_row", np.float32, ("F",)),
    RoundOutput("delay", np.int32, ()),  # rounds until the reward arrives (delayed feedback)
)}

RECORDS = {
    "curves": (),
    "trajectories": ("action", "reward", "propensity", "regret"),
    "logs": ("action", "reward", "propensity", "regret", "log_row"),
}


class LogField(NamedTuple):
    """One stretch of the log row."""

    name: str
    size: str  # "K" or "d": its length
    is_mask: bool = False  # packed as 0.0 / 1.0, unpacked as bool


LOG_ROW_FIELDS = (
    LogField("context", "d"),  # the round's context
    LogField("mask", "K", is_mask=True),  # eligible arms
    LogField("action_dist", "K"),  # the policy's action probabilities
    LogField("expected_reward", "K"),  # the true mean reward of every arm
)


def _size(symbol: str, n_arms: int, dim: int) -> int:
    if symbol == "F":
        return log_row_width(n_arms, dim)
    return {"K": n_arms, "d": dim}[symbol]


def log_row_width(n_arms: int, dim: int) -> int:
    """F: floats in one log row."""
    return sum(_size(f.size, n_arms, dim) for f in LOG_ROW_FIELDS)


def per_lane_shape(name: str, n_arms: int, dim: int) -> tuple[int, ...]:
    """The shape of output ``name`` for one lane and round."""
    return tuple(_size(s, n_arms, dim) for s in ROUND_OUTPUTS[name].shape)


def recorded_outputs(record: str, delayed: bool = False) -> tuple[str, ...]:
    """The outputs ``record`` keeps, in order; a run with delayed feedback also keeps each
    round's drawn ``delay`` whenever it keeps trajectories."""
    extra = ("delay",) if delayed and record != "curves" else ()
    return RECORDS[record] + extra


def recorded_floats(record: str, n_arms: int, dim: int, delayed: bool = False) -> int:
    """Numbers that leave the device per lane and round under ``record``."""
    return sum(int(np.prod(per_lane_shape(name, n_arms, dim), dtype=np.int64))
               for name in recorded_outputs(record, delayed))


def pack_log_row(**fields):
    """One round's log row, (F,) float32, from its fields (:data:`LOG_ROW_FIELDS`).

    Args:
        **fields: ``context`` (d,), ``mask`` (K,) bool, ``action_dist`` (K,) and
            ``expected_reward`` (K,) of one lane and round.
    """
    if set(fields) != {f.name for f in LOG_ROW_FIELDS}:
        raise ValueError(f"a log row holds {', '.join(f.name for f in LOG_ROW_FIELDS)}; "
                         f"got {', '.join(sorted(fields))}")
    return jnp.concatenate([fields[f.name].astype(jnp.float32) for f in LOG_ROW_FIELDS])


def unpack_log_rows(rows: np.ndarray, n_arms: int, dim: int) -> dict[str, np.ndarray]:
    """Log rows (..., F) split into their fields, each (..., size); masks as bool."""
    width = log_row_width(n_arms, dim)
    if rows.shape[-1] != width:
        raise ValueError(f"log rows for n_arms={n_arms}, dim={dim} hold {width} floats, "
                         f"got rows of shape {rows.shape}")
    out, start = {}, 0
    for f in LOG_ROW_FIELDS:
        stop = start + _size(f.size, n_arms, dim)
        part = rows[..., start:stop]
        out[f.name] = part > 0.5 if f.is_mask else part
        start = stop
    return out
