"""The networks of the neural policies: a ReLU MLP that scores one arm from that arm's
features, written as pure functions over a tuple of layers.

Every neural policy scores arm ``a`` as ``f(x_a; θ)`` with one shared network. A world
with per-arm features (``World.arm_features = d > 0``) gives the context as K vectors
of d features flattened arm-major, so ``x_a = context.reshape(K, d)[a]``; a world whose
context is shared by every arm gets the disjoint encoding ``x_a = e_a ⊗ x`` (arm ``a``'s
block of K·d features holds the context, the others 0), as Zhou et al. (2020) do for
their classification problems: :func:`arm_inputs`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.arm_features import arm_inputs, input_size

__all__ = ["Layer", "apply", "arm_inputs", "features", "flat_gradients", "init_mlp",
           "input_size", "mlp_flops", "n_parameters"]


class Layer(NamedTuple):
    weight: Array  # (fan_in, fan_out)
    bias: Array  # (fan_out,)


def init_mlp(key: Array, sizes: tuple[int, ...]) -> tuple[Layer, ...]:
    """Layers of the widths ``sizes`` (input, hidden..., 1): He-normal weights on the
    hidden layers, a Glorot-normal output layer, zero biases."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        std = math.sqrt(2.0 / (fan_in + fan_out)) if last else math.sqrt(2.0 / fan_in)
        layers.append(Layer(std * jax.random.normal(k, (fan_in, fan_out), jnp.float32),
                            jnp.zeros((fan_out,), jnp.float32)))
    return tuple(layers)


def features(layers: tuple[Layer, ...], x: Array) -> Array:
    """The last hidden layer's activations of input(s) ``x`` (..., fan_in)."""
    h = x
    for layer in layers[:-1]:
        h = jax.nn.relu(h @ layer.weight + layer.bias)
    return h


def apply(layers: tuple[Layer, ...], x: Array) -> Array:
    """The network's output, one number per input: (...,) for ``x`` (..., fan_in)."""
    out = layers[-1]
    return (features(layers, x) @ out.weight + out.bias)[..., 0]


def n_parameters(layers: tuple[Layer, ...]) -> int:
    """p, the number of numbers in the network."""
    return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(layers))


def flat_gradients(layers: tuple[Layer, ...], inputs: Array) -> Array:
    """(K, p) the gradient of the output with respect to every parameter, at each of
    ``inputs`` (K, fan_in), flattened in the order of ``jax.tree_util.tree_leaves``."""
    def one(x):
        grads = jax.grad(lambda net: apply(net, x))(layers)
        return jnp.concatenate([g.reshape(-1) for g in jax.tree_util.tree_leaves(grads)])

    return jax.vmap(one)(inputs)


def mlp_flops(sizes: tuple[int, ...]) -> int:
    """Multiply-adds × 2 of one forward pass of one input."""
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
