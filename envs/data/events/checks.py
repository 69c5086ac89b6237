"""The rules every row of a log is judged by, each a per-row boolean mask over a batch.

Masks rather than a first failure, because the ``reject`` mode must set aside *every* bad
row with its reason. A row's reason is the first rule it breaks in the order of
``REASONS``; duplicate event ids can only be seen once the whole file is read, so they
are checked last (:mod:`.rejects`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.data.events.arms import ArmCount
from envs.data.events.arrow import fill, np_bool
from envs.data.events.batch import Batch
from envs.data.events.schema import REASON_CODE, REASONS, REQUIRED


@dataclass
class Verdict:
    """A batch of b rows judged.

    Attributes:
        rules: reason -> (b,) bool rows breaking it.
        reason: (b,) int16 code of each row's first broken rule (0: none).
        dim: d, set by the first row with a context.
        context: (b, d) float32 contexts, NaN rows where unusable.
        lists: list field -> (flat values, (b,) lengths), for the list fields that hold
            something.
        values: the NumPy columns the rows are kept with (``action``, ``propensity``,
            ``reward``, ``pending``, ``exploration``, ``position``).
    """

    rules: dict
    reason: np.ndarray
    dim: int | None
    context: np.ndarray
    lists: dict
    values: dict


def _context_rules(b: Batch, rules: dict, dim: int | None):
    """The (b, d) contexts (NaN rows where unusable) and d (set by the first row)."""
    vals, lens = b.listed("context", np.float32)
    if dim is None:
        first = np.flatnonzero(lens > 0)
        if len(first):
            dim = int(lens[first[0]])
    d = dim or 0
    good_len = lens == d
    rules["context:length"] = ~b.null["context"] & ~good_len
    if good_len.all():
        ctx = vals.reshape(b.n, d)
    else:
        ctx = np.full((b.n, d), np.nan, np.float32)
        ctx[good_len] = vals[np.repeat(good_len, lens)].reshape(-1, d)
    rules["context:non_finite"] = good_len & ~np.isfinite(ctx).all(1)
    return ctx, dim


def _arm_rules(b: Batch, rules: dict, arms: ArmCount, row0: int) -> dict:
    """The rules on arm ids: scores first, since their length may state K; returns
    the (values, lengths) of the list columns that hold something."""
    n, lists = b.n, {}
    if "scores" in b.arrow and not b.null["scores"].all():
        sv, sl = lists["scores"] = b.listed("scores", np.float32)
        arms.note_scores(sl, np.flatnonzero(~b.null["scores"] & (sl > 0)), row0)
        wrong = (sl != arms.scores_len) if arms.scores_len else (sl == 0)
        rules["scores:length"] = ~b.null["scores"] & wrong
    k = arms.known
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


def _value_rules(b: Batch, rules: dict, missing_reward: float | None) -> dict:
    """The rules on propensity, position, reward and exploration; returns the columns
    the rows are kept with."""
    act, prop, pos = b.ints("action"), b.floats("propensity"), b.ints("position")
    rules["propensity:non_finite"] = ~b.null["propensity"] & ~np.isfinite(prop)
    rules["propensity:range"] = np.isfinite(prop) & ((prop <= 0) | (prop > 1))
    rules["position:range"] = ~b.null["position"] & (pos < 0)
    rew = b.floats("reward")
    rules["reward:non_finite"] = ~b.null["reward"] & ~np.isfinite(rew)
    pending = b.null["reward"] & ~rules.get("reward:type", np.zeros(b.n, bool))
    if missing_reward is None:
        rules["reward:missing"] = pending
    expl = b.texts("exploration")
    if expl is not None:
        rules["exploration:json"] = _not_json_objects(b.arrow["exploration"])
    return dict(act=act, prop=prop, rew=rew, pending=pending, expl=expl, pos=pos)


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
    return np_bool(fill(pc.is_in(texts, value_set=pa.array(bad, pa.string())), False))


def judge(b: Batch, arms: ArmCount, dim: int | None, missing_reward: float | None,
          row0: int) -> Verdict:
    """Every rule over one batch whose first row is row ``row0`` of the file."""
    rules: dict[str, np.ndarray] = {f"{f}:type": m for f, (m, _) in b.typebad.items()}
    rules.update({f"{f}:null": b.null[f] for f in REQUIRED})
    ctx, dim = _context_rules(b, rules, dim)
    lists = _arm_rules(b, rules, arms, row0)
    values = _value_rules(b, rules, missing_reward)
    reason = np.zeros(b.n, np.int16)
    for r in REASONS:
        m = rules.get(r)
        if m is not None:
            reason[(reason == 0) & m] = REASON_CODE[r]
    return Verdict(rules, reason, dim, ctx, lists, values)


def duplicate_ids(ids: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose event id already appeared earlier in the file, and for each the row of
    its id's first occurrence (both (r,) int64, in the order of sorted ids); ``ids`` (n,)
    bytes, ``null`` (n,) bool rows without an id."""
    srt = np.sort(ids[~null])
    if not (srt[1:] == srt[:-1]).any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.flatnonzero(~null)
    order = rows[np.argsort(ids[rows], kind="stable")]
    same = ids[order[1:]] == ids[order[:-1]]
    later = order[1:][same]
    # the first occurrence of each id: walk back to the start of its run
    start = np.flatnonzero(np.r_[True, ~same])
    run_first = order[start][np.searchsorted(start, np.arange(1, len(order)), "right")
                             - 1]
    return later, run_first[same]
