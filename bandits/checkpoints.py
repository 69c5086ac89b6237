"""Versioned checkpoints of a trained policy.

A :class:`Checkpoint` holds what it takes to make the same decisions again and to know
where they came from: algorithm, hyperparameters, sizes, params, state, a hash of the
training data, a version string and the creation time. :func:`load_checkpoint` refuses a
checkpoint built for another algorithm, number of arms or feature dimension.

Params and state are saved leaf by leaf, each under its path in the pytree
(``state.a_inv``, ``state.net[0].weight``, ``state.opt.mu[0].bias``), so nested states
(a network, its optimiser state, a replay buffer) are kept as they are; on load the
policy's own ``init`` gives the structure the leaves go back into.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from bandits.base import Policy
from bandits.registry import make, spec

FORMAT_VERSION = 1


def data_hash(context, action, reward) -> str:
    """SHA-256 of the training rows (shapes, dtypes and bytes), hex."""
    h = hashlib.sha256()
    for x in (context, action, reward):
        x = np.ascontiguousarray(x)
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(memoryview(x).cast("B"))
    return h.hexdigest()


@dataclass
class Checkpoint:
    """A trained policy and its provenance."""

    algorithm: str
    hyperparameters: dict[str, Any]
    n_arms: int
    dim: int
    params: Any
    state: Any
    data_hash: str
    version: str
    created_at: str
    n_train_rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def policy(self) -> Policy:
        return make(self.algorithm, self.n_arms, self.dim, **self.hyperparameters)

    def meta(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "algorithm": self.algorithm,
                "hyperparameters": self.hyperparameters, "n_arms": self.n_arms,
                "dim": self.dim, "data_hash": self.data_hash, "version": self.version,
                "created_at": self.created_at, "n_train_rows": self.n_train_rows,
                "params_leaves": list(_leaves("params", self.params)),
                "state_type": type(self.state).__name__,
                "state_leaves": list(_leaves("state", self.state)), "extra": self.extra}


def _leaves(prefix: str, tree) -> dict[str, np.ndarray]:
    """Every leaf of ``tree`` under its path: ``{"state.net[0].weight": array, ...}``."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {prefix + jax.tree_util.keystr(p): np.asarray(leaf) for p, leaf in flat}


def _restore(path: str, prefix: str, like, arrays: dict[str, np.ndarray]):
    """``like``'s structure filled with the saved leaves; the error names a missing one."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for p, _ in flat:
        name = prefix + jax.tree_util.keystr(p)
        if name not in arrays:
            raise ValueError(f"checkpoint {path!r} lacks {name}: it was saved from another "
                             f"version of the policy")
        leaves.append(arrays[name])
    return jax.tree_util.tree_unflatten(treedef, leaves)


def save_checkpoint(path: str, ckpt: Checkpoint) -> None:
    """One ``.npz``: the params and state arrays (by their paths), and the metadata as
    JSON."""
    arrays = {**_leaves("params", ckpt.params), **_leaves("state", ckpt.state)}
    with open(path, "wb") as f:
        np.savez(f, meta=np.asarray(json.dumps(ckpt.meta())), **arrays)


def load_checkpoint(path: str, *, algorithm: str | None = None, n_arms: int | None = None,
                    dim: int | None = None) -> Checkpoint:
    """Reads a checkpoint; ``algorithm``, ``n_arms`` and ``dim``, when given, must match."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read checkpoint {path!r}: {err}") from err
    with z:
        if "meta" not in z.files:
            raise ValueError(f"{path!r} is not a bandax checkpoint (no metadata)")
        meta = json.loads(str(z["meta"]))
        arrays = {k: z[k] for k in z.files if k != "meta"}
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path!r}: checkpoint format {meta.get('format')!r}, this bandax "
                         f"reads format {FORMAT_VERSION}")
    for key, want in (("algorithm", algorithm), ("n_arms", n_arms), ("dim", dim)):
        if want is not None and meta[key] != want:
            raise ValueError(f"checkpoint {path!r} was trained for {key}={meta[key]!r}, but "
                             f"{key}={want!r} is required here")
    spec(meta["algorithm"])  # a known algorithm
    policy = make(meta["algorithm"], meta["n_arms"], meta["dim"], **meta["hyperparameters"])
    init = policy.init(policy.default_params, jax.random.key(0))
    params = _restore(path, "params", policy.default_params, arrays)
    state = jax.tree_util.tree_map(jax.numpy.asarray, _restore(path, "state", init, arrays))
    for got, want in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(init)):
        if got.shape != want.shape:
            raise ValueError(f"checkpoint {path!r}: state shape {got.shape} does not match "
                             f"{meta['algorithm']} with n_arms={meta['n_arms']}, "
                             f"dim={meta['dim']} ({want.shape})")
    return Checkpoint(meta["algorithm"], meta["hyperparameters"], meta["n_arms"],
                      meta["dim"], params, state, meta["data_hash"], meta["version"],
                      meta["created_at"], meta["n_train_rows"], meta.get("extra", {}))
