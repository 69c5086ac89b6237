"""Training a neural policy's network on its replay buffer with optax.

Every ``train_every`` rounds the engine calls the policy's ``train``, which runs
``n_steps`` optimiser steps on minibatches of ``batch`` observations drawn uniformly from
the buffer, on the squared error of the played arm's predicted reward. The optimiser's
direction comes from optax (``adam``: ``optax.scale_by_adam``; ``sgd``: the gradient
itself); the learning rate multiplies it outside optax, so it is a params field a study
sweeps in one program. ``weight_decay`` adds ``λ/2·‖θ − θ₀‖²`` (the regulariser of
NeuralUCB and NeuralTS, towards the initial network θ₀) to the loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import Array

from bandits.neural.network import Layer, apply, mlp_flops
from bandits.neural.replay import Replay, network_input, replay_filled, replay_sample

OPTIMIZERS = ("adam", "sgd")


class TrainSpec(NamedTuple):
    """The static training settings."""

    n_arms: int
    arm_features: int
    n_steps: int  # optimiser steps per training
    batch: int  # observations per step
    optimizer: str  # one of OPTIMIZERS


def direction(name: str) -> optax.GradientTransformation:
    """The optimiser's update direction, before the learning rate."""
    if name == "adam":
        return optax.scale_by_adam()
    if name == "sgd":
        return optax.identity()
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def squared_error(layers: tuple[Layer, ...], inputs: Array, reward: Array,
                  weights: Array) -> Array:
    """The weighted mean squared error of the network's predictions."""
    err = apply(layers, inputs) - reward
    return jnp.sum(weights * err * err) / jnp.maximum(jnp.sum(weights), 1.0)


def _loss(spec: TrainSpec, layers, initial, stored, action, reward, weight_decay):
    inputs = network_input(stored, action, spec.n_arms, spec.arm_features)
    fit = squared_error(layers, inputs, reward, jnp.ones_like(reward))
    drift = sum(jnp.sum((a - b) ** 2) for a, b in
                zip(jax.tree_util.tree_leaves(layers), jax.tree_util.tree_leaves(initial)))
    return fit + 0.5 * weight_decay * drift


def train_network(spec: TrainSpec, layers: tuple[Layer, ...], opt_state: Any,
                  initial: tuple[Layer, ...], buffer: Replay, key: Array, lr: Array,
                  weight_decay: Array) -> tuple[tuple[Layer, ...], Any]:
    """``n_steps`` optimiser steps from ``layers``; unchanged while the buffer is empty."""
    opt = direction(spec.optimizer)
    grad = jax.grad(lambda net, *batch: _loss(spec, net, initial, *batch, weight_decay))

    def step(carry, step_key):
        net, state = carry
        stored, action, reward = replay_sample(buffer, step_key, spec.batch)
        updates, state = opt.update(grad(net, stored, action, reward), state, net)
        net = jax.tree_util.tree_map(lambda p, u: p - lr * u, net, updates)
        return (net, state), None

    keys = jax.random.split(key, spec.n_steps)
    (trained, new_state), _ = jax.lax.scan(step, (layers, opt_state), keys)
    empty = replay_filled(buffer) == 0
    keep = lambda old, new: jnp.where(empty, old, new)  # noqa: E731
    return (jax.tree_util.tree_map(keep, layers, trained),
            jax.tree_util.tree_map(keep, opt_state, new_state))


def init_optimizer(name: str, layers: tuple[Layer, ...]) -> Any:
    return direction(name).init(layers)


def training_flops(sizes: tuple[int, ...], n_steps: int, batch: int) -> int:
    """Multiply-adds × 2 of one training (forward and backward ≈ 3 forward passes)."""
    return 3 * mlp_flops(sizes) * batch * n_steps
