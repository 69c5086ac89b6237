"""What every neural policy shares: its static settings, its state (network, optimiser
state, the initial network, replay buffer, training key and the policy's own
statistics), and the policy built from a policy's own pieces.

``update`` stores the observation (and lets the policy update its statistics);
``train`` (every ``train_every`` rounds, called by the engine for a whole lane group,
:class:`bandits.base.Policy`) runs the optax steps of :mod:`bandits.neural.training` and
lets the policy refresh its statistics on the trained network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Policy
from bandits.neural.network import Layer, arm_inputs, init_mlp, input_size
from bandits.neural.replay import (
    Replay,
    network_input,
    played_input,
    replay_add,
    replay_init,
    stored_width,
)
from bandits.neural.training import TrainSpec, init_optimizer, train_network


class NeuralSettings(NamedTuple):
    """The static settings of a neural policy (a change recompiles)."""

    hidden: int = 100  # width of each hidden layer
    depth: int = 1  # hidden layers
    buffer: int = 2000  # observations the replay buffer keeps
    train_every: int = 10  # rounds between trainings
    n_steps: int = 20  # optimiser steps per training
    batch: int = 64  # observations per step
    optimizer: str = "adam"  # adam | sgd
    arm_features: int = 0  # d > 0: the context is K arms' d features (World.arm_features)

    def sizes(self, n_arms: int, dim: int) -> tuple[int, ...]:
        """The network's widths: input, hidden layers, output."""
        return (input_size(n_arms, dim, self.arm_features),) + (self.hidden,) * self.depth \
            + (1,)

    def train_spec(self, n_arms: int) -> TrainSpec:
        return TrainSpec(n_arms, self.arm_features, self.n_steps, self.batch,
                         self.optimizer)


class NeuralState(NamedTuple):
    """One simulation's neural policy (p network parameters, N buffer slots)."""

    net: tuple[Layer, ...]  # the network
    initial: tuple[Layer, ...]  # the network at initialisation (the regulariser's centre)
    opt: Any  # the optimiser's state
    buffer: Replay
    key: Array  # (2,) uint32 the next training's key, as threefry key data
    stats: Any  # the policy's own statistics (posterior, design diagonal, or ())


class NeuralParts(NamedTuple):
    """A neural policy's own pieces, each for one simulation."""

    params: Any  # default params: a NamedTuple with ``lr`` and ``weight_decay`` fields
    draw: Callable  # (params, key) -> noise
    decide: Callable  # (params, state, noise, inputs (K, w), mask) -> Decision
    init_stats: Callable  # (params, net) -> stats
    learn: Callable | None = None  # (params, state, arm_input, reward) -> stats
    refresh: Callable | None = None  # (params, state) -> stats, after a training
    observe: Callable | None = None  # (params, state, inputs, decision) -> stats


def check_settings(settings: NeuralSettings, dim: int, n_arms: int) -> NeuralSettings:
    """``settings`` as integers in range; raises ``ValueError`` naming the field."""
    for name in ("hidden", "depth", "buffer", "train_every", "n_steps", "batch"):
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"neural.{name} must be a positive integer, got {value!r}")
    if settings.optimizer not in ("adam", "sgd"):
        raise ValueError(f"neural.optimizer must be adam or sgd, got {settings.optimizer!r}")
    a = settings.arm_features
    if not isinstance(a, int) or a < 0 or (a and a * n_arms != dim):
        raise ValueError(f"neural.arm_features must be 0 (a context shared by every arm) "
                         f"or d with n_arms·d = dim = {dim} (one vector per arm), got {a!r}")
    return settings


def neural_policy(name: str, n_arms: int, dim: int, settings: NeuralSettings,
                  parts: NeuralParts) -> Policy:
    """The policy of ``parts`` with the shared state, buffer and training (see the module
    docstring)."""
    settings = check_settings(settings, dim, n_arms)
    sizes = settings.sizes(n_arms, dim)
    spec = settings.train_spec(n_arms)
    width = stored_width(n_arms, dim, settings.arm_features)
    arms = settings.arm_features

    def init(params, key) -> NeuralState:
        k_net, k_train = jax.random.split(key)
        net = init_mlp(k_net, sizes)
        return NeuralState(net, net, init_optimizer(settings.optimizer, net),
                           replay_init(settings.buffer, width),
                           jax.random.bits(k_train, (2,), jnp.uint32),
                           parts.init_stats(params, net))

    def decide(params, state: NeuralState, noise, context, mask):
        return parts.decide(params, state, noise, arm_inputs(context, n_arms, arms), mask)

    def update(params, state: NeuralState, context, action, reward) -> NeuralState:
        stored = played_input(context, action, n_arms, arms)
        state = state._replace(buffer=replay_add(state.buffer, stored, action, reward))
        if parts.learn is None:
            return state
        x = network_input(stored, action, n_arms, arms)
        return state._replace(stats=parts.learn(params, state, x, reward))

    def train(params, state: NeuralState) -> NeuralState:
        key = jax.random.wrap_key_data(state.key, impl="threefry2x32")
        key, k_steps = jax.random.split(key)
        net, opt = train_network(spec, state.net, state.opt, state.initial, state.buffer,
                                 k_steps, params.lr, params.weight_decay)
        state = state._replace(net=net, opt=opt, key=jax.random.key_data(key))
        return state if parts.refresh is None else state._replace(
            stats=parts.refresh(params, state))

    def observe(params, state: NeuralState, noise, context, mask, decision) -> NeuralState:
        inputs = arm_inputs(context, n_arms, arms)
        return state._replace(stats=parts.observe(params, state, inputs, decision))

    return Policy(name, n_arms, dim, parts.params, init, parts.draw, decide, update,
                  None if parts.observe is None else observe, train, settings.train_every)
