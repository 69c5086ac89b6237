"""Where the lane axis lives in the arrays of the compiled program.

``"lanes"`` keeps every lane-batched array's lane axis last
(:func:`envs.engine.lanes.lane_vmap`): a round's small per-simulation work becomes long
elementwise loops over lanes. ``"vmap"`` keeps it first, as ``jax.vmap`` does. Either way
lanes are split over devices along that axis (the mesh axis :data:`LANE`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from envs.engine.lanes import lane_vmap
from envs.engine.options import LAYOUTS

LANE = "lanes"  # the mesh axis the lanes are split over


class Layout:
    """Where the lane axis lives: last (``lanes``) or first (``vmap``)."""

    def __init__(self, kind: str):
        if kind not in LAYOUTS:
            raise ValueError(f"layout must be 'lanes' or 'vmap', got {kind!r}")
        self.kind = kind

    def bmap(self, fn: Callable, batched: tuple[bool, ...], out_axis: int = 0) -> Callable:
        """``fn`` of one lane, batched over lanes for the arguments marked ``batched``.

        Outputs carry the lane axis last (``lanes``) or at ``out_axis`` (``vmap``).
        """
        if self.kind == "lanes":
            return lane_vmap(fn, tuple(-1 if b else None for b in batched))
        return jax.vmap(fn, in_axes=tuple(0 if b else None for b in batched),
                        out_axes=out_axis)

    def lane_map(self, fn: Callable, batch_size: int | None = None) -> Callable:
        """``fn`` of one lane run lane after lane (``lax.map``) over every argument's lane
        axis, outputs in this layout; ``batch_size`` lanes at a time (vmapped)."""
        def front(x):
            return jnp.moveaxis(x, -1, 0) if self.kind == "lanes" else x

        def back(x):
            return jnp.moveaxis(x, 0, -1) if self.kind == "lanes" else x

        def mapped(*args):
            lanes_first = jax.tree_util.tree_map(front, args)
            out = jax.lax.map(lambda a: fn(*a), lanes_first, batch_size=batch_size)
            return jax.tree_util.tree_map(back, out)

        return mapped

    def spec(self, x) -> P:
        """How a lane-batched array is split over the mesh."""
        nd = np.ndim(x)
        if self.kind == "lanes":
            return P(*([None] * (nd - 1)), LANE)
        return P(LANE)

    def tree_spec(self, tree):
        """:meth:`spec` of every leaf of a pytree of lane-batched arrays."""
        return jax.tree_util.tree_map(self.spec, tree)

    def split_groups(self, n_groups: int) -> Callable:
        """(..., L) -> (groups, ..., L / groups) for the lane axis of this layout."""
        def split(x):
            if self.kind == "lanes":
                x = x.reshape(x.shape[:-1] + (n_groups, x.shape[-1] // n_groups))
                return jnp.moveaxis(x, -2, 0)
            return x.reshape((n_groups, x.shape[0] // n_groups) + x.shape[1:])
        return split

    def merge_groups(self, x):
        """(groups, ..., L / groups) -> (..., L): the inverse of :meth:`split_groups`."""
        if self.kind == "lanes":
            x = jnp.moveaxis(x, 0, -2)
            return x.reshape(x.shape[:-2] + (-1,))
        return x.reshape((-1,) + x.shape[2:])

    def lanes_from_front(self, x):
        """(L, ...) -> this layout."""
        return jnp.moveaxis(x, 0, -1) if self.kind == "lanes" else x

    def lanes_last(self, x):
        """A per-round output batched by :meth:`bmap` -> (..., L) in both layouts."""
        if self.kind == "lanes" or np.ndim(x) < 2:
            return x
        return jnp.moveaxis(x, 0, -1)

    def host_lanes_last(self, x) -> np.ndarray:
        """A lane-batched array of this layout as NumPy (..., L)."""
        x = np.asarray(x)
        return x if self.kind == "lanes" else np.moveaxis(x, 0, -1)
