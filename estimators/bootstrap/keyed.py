"""A bootstrap that partitions: each row's resample counts depend only on (seed, the row's
event id, resample), never on where the row sits, so any split of a log into files,
batches or workers draws the same resamples, and per-resample sums merge by addition.

A row's event id is hashed to 64 bits (FNV-1a over its bytes, :func:`event_keys`); the
seed's key and those 64 bits give the row's Threefry key, and resample pair j is the
Threefry hash of the counter (0, j) under it: two 32-bit words, two Poisson(1) counts by
inverse CDF (the thresholds of :mod:`.counts`). Counts are i.i.d. Poisson(1) across rows
and resamples, so a resample's size is random (mean n), as in any Poisson bootstrap.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.extend.random import threefry2x32_p

from estimators.bootstrap.counts import count_above, poisson_thresholds

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
# tags folded into the seed's key: each use of the event keys draws its own stream
RESAMPLE_TAG, NOISE_TAG, FOLD_TAG = 1, 2, 3


def event_hash(event_id: np.ndarray) -> np.ndarray:
    """(n,) uint64 FNV-1a hashes of byte strings (an ``S`` array): the bytes of each id
    only, so the same id hashes the same whatever the array's width."""
    ids = np.asarray(event_id)
    if ids.dtype.kind != "S":
        ids = ids.astype("S")
    n, width = ids.shape[0], ids.dtype.itemsize
    raw = np.frombuffer(np.ascontiguousarray(ids).tobytes(), np.uint8).reshape(n, width)
    length = np.char.str_len(ids)
    h = np.full(n, FNV_OFFSET, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):  # over the bytes of an id (a few dozen), not over rows
            mixed = (h ^ raw[:, j].astype(np.uint64)) * FNV_PRIME
            h = np.where(j < length, mixed, h)
    return h


def event_keys(event_id: np.ndarray) -> np.ndarray:
    """(n, 2) uint32: the high and low words of :func:`event_hash`."""
    h = event_hash(event_id)
    return np.stack([(h >> np.uint64(32)).astype(np.uint32),
                     (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)], 1)


def _seed_words(seed: int, tag: int) -> Array:
    """Two uint32 words of the seed's key for one use (``tag``)."""
    return jax.random.bits(jax.random.fold_in(jax.random.key(seed), tag), (2,), jnp.uint32)


def _row_words(seed: int, tag: int, keys: Array) -> tuple[Array, Array]:
    """Each row's two-word Threefry key: the hash of its event key under the seed's."""
    k = _seed_words(seed, tag)
    n = keys.shape[0]
    return threefry2x32_p.bind(jnp.broadcast_to(k[0], (n,)), jnp.broadcast_to(k[1], (n,)),
                               keys[:, 0], keys[:, 1])


@functools.partial(jax.jit, static_argnames=("seed", "n_boot"))
def keyed_poisson_counts(keys: Array, *, seed: int, n_boot: int) -> Array:
    """(n_boot, n) uint8 Poisson(1) resample counts of rows with event keys ``keys``
    (n, 2) uint32 (:func:`event_keys`): count (b, i) depends on (seed, keys[i], b) only."""
    r0, r1 = _row_words(seed, RESAMPLE_TAG, keys)
    pairs = -(-n_boot // 2)
    j = jnp.arange(pairs, dtype=jnp.uint32)[:, None]
    shape = (pairs, keys.shape[0])
    x, y = threefry2x32_p.bind(jnp.broadcast_to(r0, shape), jnp.broadcast_to(r1, shape),
                               jnp.zeros(shape, jnp.uint32), jnp.broadcast_to(j, shape))
    th = poisson_thresholds(1.0)
    counts = jnp.stack([count_above(x, th), count_above(y, th)], 1).reshape(-1, shape[1])
    return counts[:n_boot].astype(jnp.uint8)


@functools.partial(jax.jit, static_argnames=("seed", "tag"))
def keyed_words(keys: Array, *, seed: int, tag: int) -> Array:
    """(n,) uint32, one word per row from (seed, tag, event key): the row's noise index
    for a candidate's sampling, or its cross-fitting fold."""
    return _row_words(seed, tag, keys)[0]


def keyed_folds(keys: np.ndarray, seed: int, n_folds: int) -> np.ndarray:
    """(n,) int32 fold of each row in [0, n_folds), from (seed, event key) only.

    The keys are padded to a power of two (at least 1,024 rows), so batches of any size
    share a few compiled shapes."""
    n = len(keys)
    size = max(1024, 1 << max(n - 1, 0).bit_length())
    padded = np.zeros((size, 2), np.uint32)
    padded[:n] = keys
    words = np.asarray(keyed_words(jnp.asarray(padded), seed=seed, tag=FOLD_TAG))[:n]
    return (words % np.uint32(n_folds)).astype(np.int32)
