"""The rows of a log that are kept, column by column, as NumPy arrays.

Only per-batch arrays of the rows kept are held; when the file says how many rows it
holds (Parquet), fixed-shape columns are preallocated and filled in place, so the arrays
are never held twice; otherwise (CSV, JSON Lines; text of varying width) per-batch chunks
are concatenated once at the end, one column at a time.
"""

from __future__ import annotations

import numpy as np

from envs.data.events.batch import Batch
from envs.data.events.checks import Verdict


def concat(chunks: list, dtype=None) -> np.ndarray:
    """The chunks as one array (an empty one of ``dtype`` when there are none); empties
    the list."""
    out = np.concatenate(chunks) if chunks else np.zeros(0, dtype)
    chunks.clear()
    return out


class Store:
    """Columns filled batch by batch: in place when ``total`` rows are known, else as
    chunks."""

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

    def pop(self, name: str, dtype=None) -> np.ndarray:
        if name in self.arrays:
            return self.arrays.pop(name)[:self.pos[name]]
        return concat(self.chunks.pop(name, []), dtype)

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


class KeptRows:
    """The rows kept from each batch, in a :class:`Store`.

    Attributes:
        store: the columns so far.
        present: the optional fields some kept row holds (``user_id``, ``position``,
            ``scores``, ``eligible_actions``).
    """

    def __init__(self, total: int | None, missing_reward: float | None):
        self.store = Store(total)
        self.present: set[str] = set()
        self.reward_fill = 0.0 if missing_reward is None else float(missing_reward)

    def add(self, b: Batch, v: Verdict, keep: np.ndarray, row0: int) -> None:
        """Stores the rows ``keep`` (b,) of a judged batch whose first row is ``row0``."""
        add, val = self.store.add, v.values
        all_kept, kept = keep.all(), int(keep.sum())
        k = (lambda x: x) if all_kept else (lambda x: x[keep])
        add("row", np.arange(row0, row0 + b.n) if all_kept else np.flatnonzero(keep) + row0)
        add("context", k(v.context))
        add("action", k(val["act"]).astype(np.int32))
        add("propensity", k(val["prop"]))
        add("reward", k(np.where(val["pending"], self.reward_fill, val["rew"]))
            .astype(np.float32))
        add("has_reward", k(~val["pending"]))
        add("timestamp", k(b.times("timestamp")))
        add("reward_timestamp", k(b.times("reward_timestamp")))
        for f in ("policy_version", "algorithm"):
            t = b.texts(f)
            add(f, k(t) if t is not None else np.zeros(kept, "S1"))
        add("exploration", k(val["expl"]) if val["expl"] is not None
            else np.zeros(kept, "S1"))
        if "user_id" in b.arrow and not b.null["user_id"].all():
            self.present.add("user_id")
        add("user_id", k(b.texts("user_id")) if "user_id" in b.arrow
            else np.zeros(kept, "S1"))
        if "position" in b.arrow and not b.null["position"].all():
            self.present.add("position")
        add("position", k(np.where(b.null["position"], -1, val["pos"])).astype(np.int32))

    def add_scores(self, b: Batch, keep: np.ndarray, vals, lens, width: int | None) -> None:
        """The scores of the kept rows as a (b, ``width``) float32 block, NaN rows where
        null; (b, 0) while no scores were seen."""
        kept = int(keep.sum())
        null = b.null["scores"][keep]
        if vals is not None:
            self.present.add("scores")
            ok = keep & ~b.null["scores"]
            v = vals[np.repeat(ok, lens)]
        if width is None:  # no scores seen yet: these rows are null
            self.store.add_chunk("scores", np.zeros((kept, 0), np.float32))
            return
        block = np.full((kept, width), np.nan, np.float32)
        if vals is not None:
            block[~null] = v.reshape(-1, width)
        self.store.add_chunk("scores", block)

    def add_eligible(self, b: Batch, keep: np.ndarray, vals, lens, k: int | None) -> None:
        """The eligible sets of the kept rows by one scatter: a (b, K) bool block, all
        True where the set is null -- or, while K is unknown, (b, 1 + largest id in the
        batch) with the null rows beside it."""
        kept = int(keep.sum())
        null = b.null["eligible_actions"][keep]
        if vals is not None:
            self.present.add("eligible_actions")
            ok = keep & ~b.null["eligible_actions"]
            v, ln = vals[np.repeat(ok, lens)], np.where(null, 0, lens[keep])
        width = k if k is not None else (int(v.max()) + 1 if vals is not None and len(v)
                                         else 0)
        block = np.zeros((kept, width), bool)
        if vals is not None:
            block[np.repeat(np.arange(kept), ln), v] = True
        if k is not None:
            block[null] = True
            self.store.add("mask", block)
        else:
            self.store.add_chunk("eligible_actions", (null, block))

    def mask(self, k: int, n_kept: int, declared: int | None, elig: list, sel) -> np.ndarray:
        """The (n, K) eligible arms of the kept rows (all True where no set was logged);
        ``elig`` holds the (null rows, block) chunks kept while K was unknown."""
        if "eligible_actions" not in self.present:
            return np.ones((n_kept, k), bool)
        if declared is not None:
            return sel(self.store.pop("mask"))
        nulls = [c[0] for c in elig]
        self.store.chunks["eligible_actions"] = [c[1] for c in elig]
        elig.clear()
        mask = self.store.pop_blocks("eligible_actions", k, False)
        mask[concat(nulls, bool)] = True
        return sel(mask)
