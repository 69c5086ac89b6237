"""Every arm's own input from one round's flat context: the arm's features when the
world gives them per arm (``World.arm_features = d > 0``: K vectors of d features,
flattened arm-major), else the disjoint encoding e_a ⊗ x of the shared context (arm a's
block of K·d features holds the context, the others 0), with which a model shared by
the arms is a separate model per arm (Zhou et al., 2020, encode their classification
problems so). The shared-parameter linear policies and the neural ones read it."""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def input_size(n_arms: int, dim: int, arm_features: int) -> int:
    """The width of one arm's input: its own features, or the disjoint encoding's K·d."""
    return arm_features if arm_features else n_arms * dim


def arm_inputs(context: Array, n_arms: int, arm_features: int) -> Array:
    """(K, input_size) every arm's input from one round's flat context (see the module
    docstring)."""
    if arm_features:
        return context.reshape(n_arms, arm_features)
    eye = jnp.eye(n_arms, dtype=context.dtype)
    return (eye[:, :, None] * context[None, None, :]).reshape(n_arms, -1)
