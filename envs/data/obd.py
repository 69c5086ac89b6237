"""The Open Bandit Dataset: real logged clicks from a fashion e-commerce site.

The Open Bandit Dataset holds the logs of two policies, uniform random and Bernoulli
Thompson sampling (``bts``), each run on three campaigns (``all``, ``men``, ``women``) of
the site ZOZOTOWN: which item was shown in which of three slots, whether it was clicked and
the logging policy's propensity. It is published under CC BY 4.0 with Saito, Aihara,
Matsutani and Narita, "Open Bandit Dataset and Pipeline: Towards Realistic and Reproducible
Off-Policy Evaluation" (NeurIPS 2021 Datasets and Benchmarks); keep this attribution wherever
the data is used.

On disk (the layout Open Bandit Pipeline uses)::

    <path>/<behavior_policy>/<campaign>/<campaign>.csv
    <path>/<behavior_policy>/<campaign>/item_context.csv

``<campaign>.csv`` has an unnamed row index, ``timestamp``, ``item_id`` (the action),
``position`` (1-based slot), ``click``, ``propensity_score``, the hashed categorical
``user_feature_0..3`` and the numeric ``user-item_affinity_0..K-1`` (one per item).
``item_context.csv`` has ``item_id`` and ``item_feature_*`` (numeric or hashed categorical).

:func:`load_open_bandit` reads one file into :class:`OpenBanditData`, whose ``data`` is a
validated :class:`envs.data.logged.LoggedData` (context = one-hot user features, then the
affinities; action = item; reward = click; pscore = propensity). Reading is columnar
(``pyarrow.csv``) and encoding is vectorised.

**One-hot columns differ between files.** By default each user feature is encoded with the
categories found in the loaded file, sorted, so two files (say the ``random`` and ``bts``
logs of a campaign) can have different context widths and different meanings for the same
column. To evaluate a model fitted on one file with the logs of another, encode both with
one vocabulary::

    vocab = merge_vocabularies(load_open_bandit(p, "random").vocabulary,
                               load_open_bandit(p, "bts").vocabulary)
    random = load_open_bandit(p, "random", vocabulary=vocab)
    bts = load_open_bandit(p, "bts", vocabulary=vocab)

Item features are hashed per file too (the same item has different category hashes in the
``random`` and ``bts`` item tables); only their numeric columns compare across files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pac
import pyarrow.csv as pcsv

from envs.data.logged import LoggedData

BEHAVIOR_POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
HANDLE_UNKNOWN = ("error", "ignore")

_USER = re.compile(r"^user_feature_(\d+)$")
_AFFINITY = re.compile(r"^user-item_affinity_(\d+)$")
_ITEM = re.compile(r"^item_feature_(\d+)$")
_REQUIRED = ("timestamp", "item_id", "position", "click", "propensity_score")


class MissingDataError(FileNotFoundError, ValueError):
    """A data directory or file is not where it should be (both an OSError and a
    ValueError, so callers that catch either see it)."""


@dataclass(frozen=True)
class OpenBanditData:
    """One behaviour policy's logs on one campaign.

    Attributes:
        data: the logged rounds: context (n, d) float32 = one-hot user features, then the
            user–item affinities (when included); action = item_id; reward = click
            (float64); pscore = propensity_score (float64); n_arms = n_items.
        position: (n,) int32 0-based slot of the shown item.
        timestamp: (n,) datetime64[us], UTC.
        item_context: (n_items, f) float32 item features, row i for item i: numeric
            columns as they are, categorical ones one-hot (categories sorted).
        behavior_policy, campaign: which file this is.
        n_positions: number of slots: the largest position in the file.
        feature_names: (d,) names of the context columns, ``user_feature_j=<category>``
            and ``user-item_affinity_k``.
        vocabulary: user feature name -> its categories, in one-hot column order; pass it
            (or a :func:`merge_vocabularies` of several) to :func:`load_open_bandit` to
            encode another file the same way.
        item_feature_names: (f,) names of the ``item_context`` columns.
    """

    data: LoggedData
    position: np.ndarray
    timestamp: np.ndarray
    item_context: np.ndarray
    behavior_policy: str
    campaign: str
    n_positions: int
    feature_names: list[str]
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    item_feature_names: list[str] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return self.data.n_arms

    @property
    def n_rows(self) -> int:
        return self.data.n_rows


def data_paths(path: str, behavior_policy: str = "random",
               campaign: str = "all") -> tuple[str, str]:
    """``(<campaign>.csv, item_context.csv)`` of one file, after checking the names."""
    if behavior_policy not in BEHAVIOR_POLICIES:
        raise ValueError(f"behavior_policy must be one of {', '.join(BEHAVIOR_POLICIES)}, "
                         f"got {behavior_policy!r}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign must be one of {', '.join(CAMPAIGNS)}, got {campaign!r}")
    folder = os.path.join(os.fspath(path), behavior_policy, campaign)
    return (os.path.join(folder, f"{campaign}.csv"),
            os.path.join(folder, "item_context.csv"))


def _check_exists(path: str, logs: str, items: str) -> None:
    if not os.path.isdir(path):
        raise MissingDataError(f"Open Bandit Dataset directory not found: {path!r} (expected "
                               f"<path>/<behavior_policy>/<campaign>/<campaign>.csv)")
    for f in (logs, items):
        if not os.path.isfile(f):
            raise MissingDataError(f"Open Bandit Dataset file not found: expected {f!r}")


def _read(path: str, string_columns: Sequence[str] = ()) -> pa.Table:
    types = {c: pa.string() for c in string_columns}
    try:
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as err:
        raise ValueError(f"cannot parse {path!r}: {err}") from None


def _header(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        line = f.readline().rstrip("\r\n")
    return [c.strip('"') for c in line.split(",")]


def _numbered(names: Sequence[str], pattern: re.Pattern) -> list[str]:
    """Columns matching ``pattern``, ordered by their number."""
    hits = [(int(m.group(1)), n) for n in names if (m := pattern.match(n))]
    return [n for _, n in sorted(hits)]


def _strings(table: pa.Table, name: str, where: str) -> pa.ChunkedArray:
    col = table.column(name)
    if col.null_count:
        row = int(np.argmax(col.is_null().to_numpy(zero_copy_only=False)))
        raise ValueError(f"{name} in {where!r} has {col.null_count} missing values "
                         f"(first at data row {row})")
    return col


def _one_hot(col: pa.ChunkedArray, categories: Sequence[str], name: str, where: str,
             handle_unknown: str) -> np.ndarray:
    """(n, len(categories)) float32; unknown categories raise or encode as all zeros."""
    idx = pac.index_in(col, value_set=pa.array(list(categories), pa.string()))
    unknown = idx.is_null().to_numpy(zero_copy_only=False)
    if unknown.any() and handle_unknown == "error":
        values = np.unique(col.to_numpy(zero_copy_only=False)[unknown])
        raise ValueError(
            f"{name} in {where!r} has {int(unknown.sum())} rows with categories outside the "
            f"given vocabulary ({len(values)} unseen: {', '.join(map(str, values[:3]))}"
            f"{', ...' if len(values) > 3 else ''}); pass a merged vocabulary "
            f"(merge_vocabularies) or handle_unknown='ignore' to encode them as all zeros")
    codes = idx.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    out = np.zeros((len(codes), len(categories)), np.float32)
    rows = np.flatnonzero(~unknown)
    out[rows, codes[rows]] = 1.0
    return out


def merge_vocabularies(*vocabularies: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The union of several vocabularies, feature by feature, categories sorted."""
    names = sorted({k for v in vocabularies for k in v})
    return {k: tuple(sorted({c for v in vocabularies for c in v.get(k, ())})) for k in names}


def _item_context(path: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(n_items, f) float32 features ordered by item_id, their names, the item ids."""
    cols = _header(path)
    feats = _numbered(cols, _ITEM)
    if "item_id" not in cols:
        raise ValueError(f"{path!r} has no item_id column; columns: {', '.join(cols)}")
    table = _read(path, feats)
    ids = table.column("item_id").to_numpy()
    order = np.argsort(ids, kind="stable")
    if not np.array_equal(ids[order], np.arange(len(ids))):
        raise ValueError(f"item_id in {path!r} must hold each of 0..{len(ids) - 1} once, got "
                         f"{np.unique(ids).tolist()[:10]}...")
    blocks, names = [], []
    for name in feats:
        col = _strings(table, name, path)
        try:
            numeric = pac.cast(col, pa.float64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numeric = None
        if numeric is not None:
            blocks.append(numeric[:, None].astype(np.float32))
            names.append(name)
        else:
            cats = sorted(set(col.to_pylist()))
            blocks.append(_one_hot(col, cats, name, path, "error"))
            names.extend(f"{name}={c}" for c in cats)
    x = np.concatenate(blocks, 1) if blocks else np.zeros((len(ids), 0), np.float32)
    return x[order], names, ids


def _log_columns(logs_path: str, n_items: int,
                 vocabulary: Mapping[str, Sequence[str]] | None) -> tuple[list[str], list[str]]:
    """The user-feature and affinity columns of a log file, after checking its header
    against the item table and the vocabulary."""
    cols = _header(logs_path)
    missing = [c for c in _REQUIRED if c not in cols]
    users = _numbered(cols, _USER)
    affinity = _numbered(cols, _AFFINITY)
    if missing or not users:
        raise ValueError(f"{logs_path!r} lacks columns {missing or ['user_feature_*']}; "
                         f"columns: {', '.join(cols[:12])}, ...")
    if affinity != [f"user-item_affinity_{k}" for k in range(n_items)]:
        raise ValueError(f"{logs_path!r} must have user-item_affinity_0..{n_items - 1} (one per "
                         f"item of item_context.csv), got {len(affinity)} affinity columns")
    if vocabulary is not None:
        absent = [u for u in users if u not in vocabulary]
        if absent:
            raise ValueError(f"vocabulary has no categories for {', '.join(absent)}; it has "
                             f"{', '.join(vocabulary) or '(none)'}")
    return users, affinity


def _log_values(table: pa.Table, logs_path: str) -> dict[str, np.ndarray]:
    """The (n,) ``action``, 1-based ``position``, ``click``, ``pscore`` and ``timestamp``
    columns of a log table, checked."""
    action = table.column("item_id").to_numpy()
    position = table.column("position").to_numpy()
    click = table.column("click").to_numpy().astype(np.float64)
    pscore = table.column("propensity_score").to_numpy().astype(np.float64)
    for name, x in (("item_id", action), ("position", position)):
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{name} in {logs_path!r} must hold integers, got {x.dtype}")
    if (position < 1).any():
        row = int(np.argmax(position < 1))
        raise ValueError(f"position in {logs_path!r} must be >= 1 (1-based slots); data row "
                         f"{row} has {int(position[row])}")
    if not np.isin(click, (0.0, 1.0)).all():
        row = int(np.argmax(~np.isin(click, (0.0, 1.0))))
        raise ValueError(f"click in {logs_path!r} must be 0 or 1; data row {row} has "
                         f"{click[row]}")
    ts = table.column("timestamp")
    if not pa.types.is_timestamp(ts.type):
        raise ValueError(f"timestamp in {logs_path!r} is not a date-time column ({ts.type})")
    timestamp = pac.cast(ts, pa.timestamp("us", tz=ts.type.tz)).to_numpy()
    return {"action": action, "position": position, "click": click, "pscore": pscore,
            "timestamp": timestamp}


def _user_context(table: pa.Table, users: list[str], affinity: list[str], logs_path: str,
                  vocabulary: Mapping[str, Sequence[str]] | None, handle_unknown: str,
                  include_affinity: bool):
    """(context (n, d) float32, its column names, the vocabulary used): the user features
    one-hot, then the affinities when included."""
    blocks, names, vocab = [], [], {}
    for u in users:
        col = _strings(table, u, logs_path)
        cats = (tuple(vocabulary[u]) if vocabulary is not None
                else tuple(sorted(set(pac.unique(col).to_pylist()))))
        vocab[u] = cats
        blocks.append(_one_hot(col, cats, u, logs_path, handle_unknown))
        names.extend(f"{u}={c}" for c in cats)
    if include_affinity:
        blocks.append(np.stack([table.column(a).to_numpy() for a in affinity],
                               1).astype(np.float32))
        names.extend(affinity)
    return np.concatenate(blocks, 1), names, vocab


def load_open_bandit(path: str, behavior_policy: str = "random", campaign: str = "all", *,
                     include_affinity: bool = True,
                     vocabulary: Mapping[str, Sequence[str]] | None = None,
                     handle_unknown: str = "error") -> OpenBanditData:
    """Reads ``<path>/<behavior_policy>/<campaign>/`` into :class:`OpenBanditData`.

    Args:
        path: the dataset root (holding ``random/`` and ``bts/``); never assumed.
        behavior_policy: ``"random"`` or ``"bts"``.
        campaign: ``"all"``, ``"men"`` or ``"women"``.
        include_affinity: append the user–item affinity columns to the context.
        vocabulary: categories of each user feature, in column order (e.g. the
            ``vocabulary`` of another file, or :func:`merge_vocabularies` of several).
            By default the sorted categories found in this file.
        handle_unknown: with a ``vocabulary``, what a category outside it does:
            ``"error"`` raises, ``"ignore"`` encodes it as all zeros.

    Raises:
        MissingDataError (a FileNotFoundError and a ValueError): the directory or a file
            is missing; the message names the expected path.
        ValueError: unknown names or options, missing columns, values out of range.
    """
    if handle_unknown not in HANDLE_UNKNOWN:
        raise ValueError(f"handle_unknown must be one of {', '.join(HANDLE_UNKNOWN)}, got "
                         f"{handle_unknown!r}")
    if not isinstance(include_affinity, bool):
        raise ValueError(f"include_affinity must be True or False, got {include_affinity!r}")
    logs_path, items_path = data_paths(path, behavior_policy, campaign)
    _check_exists(os.fspath(path), logs_path, items_path)
    item_context, item_names, _ = _item_context(items_path)
    users, affinity = _log_columns(logs_path, item_context.shape[0], vocabulary)
    table = _read(logs_path, users)
    if table.num_rows == 0:
        raise ValueError(f"{logs_path!r} holds no rows")
    v = _log_values(table, logs_path)
    context, names, vocab = _user_context(table, users, affinity, logs_path, vocabulary,
                                          handle_unknown, include_affinity)
    data = LoggedData.from_arrays(context=context, action=v["action"], reward=v["click"],
                                  pscore=v["pscore"], n_arms=item_context.shape[0])
    return OpenBanditData(data=data, position=(v["position"] - 1).astype(np.int32),
                          timestamp=v["timestamp"].astype("datetime64[us]"),
                          item_context=item_context, behavior_policy=behavior_policy,
                          campaign=campaign, n_positions=int(v["position"].max()),
                          feature_names=names, vocabulary=vocab,
                          item_feature_names=item_names)


def action_distribution_by_position(obd: OpenBanditData) -> np.ndarray:
    """(n_positions, n_items): how often each item was shown in each slot, per slot.

    Row p is the empirical distribution of items logged at 0-based position p (each row
    sums to 1). For the ``bts`` logs, whose propensities drift during collection, this is
    the policy's time-averaged action distribution at each slot.
    """
    k, p = obd.n_items, obd.n_positions
    counts = np.bincount(obd.position.astype(np.int64) * k + obd.data.action,
                         minlength=p * k).reshape(p, k).astype(np.float64)
    per_slot = counts.sum(1, keepdims=True)
    if (per_slot == 0).any():
        empty = int(np.argmax(per_slot[:, 0] == 0))
        raise ValueError(f"position {empty} (0-based) has no logged rows, so its action "
                         f"distribution is undefined")
    return counts / per_slot
