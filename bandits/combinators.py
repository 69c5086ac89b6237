"""Combinators: functions that take a policy and return a policy.

:func:`restart` wraps any policy with a Page–Hinkley change detector on the rewards the
policy observes, and starts the policy afresh (its ``init`` state) when the detector
fires. The wrapped policy acts exactly as the inner one does on its current state, so
its ``Decision.probs`` are the inner policy's.

:func:`exploration_floor` keeps every eligible arm's probability at least ``floor``: its
``Decision.probs`` are those of the whole system (the inner policy mixed with uniform
exploration), so logs of a greedy policy stay evaluable.

A wrapper's params are the inner policy's followed by its own (one flat NamedTuple, so a
grid sweeps either).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import (
    Decision,
    Inner,
    Policy,
    epsilon_mix,
    forward_observe,
    forward_training,
    sample_categorical,
    uniform_probs,
)
from bandits.linear import lin_ucb

DETECTOR_FIELDS = ("threshold", "tolerance")
DETECTOR_DEFAULTS = (100.0, 0.2)  # λ_PH, δ: tuned on drift=changes_every_2000


class PageHinkleyState(NamedTuple):
    """Two-sided Page–Hinkley statistics of the rewards since the last restart."""

    count: Array  # () float32 n, rewards seen
    mean: Array  # () float32 x̄_n, their mean
    up: Array  # () float32 U_n = Σ_{s≤n} (x_s − x̄_s − δ)
    up_min: Array  # () float32 min_{0≤s≤n} U_s (U_0 = 0)
    down: Array  # () float32 D_n = Σ_{s≤n} (x_s − x̄_s + δ)
    down_max: Array  # () float32 max_{0≤s≤n} D_s (D_0 = 0)


class RestartState(NamedTuple):
    inner: object  # the inner policy's state
    detector: PageHinkleyState


def page_hinkley_init() -> PageHinkleyState:
    zero = jnp.zeros((), jnp.float32)
    return PageHinkleyState(zero, zero, zero, zero, zero, zero)


def page_hinkley_step(state: PageHinkleyState, reward: Array, tolerance: Array
                      ) -> tuple[PageHinkleyState, Array]:
    """Adds one reward; returns the new statistics and the test statistic.

    The statistic is max(U_n − min_s U_s, max_s D_s − D_n): the first grows when the
    mean rises by more than δ, the second when it falls by more than δ.

    Args:
        state: the statistics so far.
        reward: () the observed reward x_n.
        tolerance: () δ >= 0, the drift tolerated without alarm.
    """
    x = jnp.asarray(reward, jnp.float32)
    count = state.count + 1.0
    mean = state.mean + (x - state.mean) / count
    up = state.up + (x - mean - tolerance)
    down = state.down + (x - mean + tolerance)
    new = PageHinkleyState(count, mean, up, jnp.minimum(state.up_min, up), down,
                           jnp.maximum(state.down_max, down))
    return new, jnp.maximum(up - new.up_min, new.down_max - down)


def extended_params(inner: Policy, own: dict[str, float], combinator: str):
    """The params of a wrapper of ``inner``: its fields followed by ``own`` (name →
    default), one flat NamedTuple; and ``split(params)``, the inner policy's params.

    Raises:
        ValueError: ``inner`` already has one of the names.
    """
    inner_type = type(inner.default_params)
    fields = tuple(inner_type._fields)
    clash = set(fields) & set(own)
    if clash:
        raise ValueError(f"{combinator}: the inner policy {inner.name!r} already has "
                         f"hyperparameter(s) {sorted(clash)}")
    params_type = NamedTuple(f"{combinator.title().replace('_', '')}{inner_type.__name__}",
                             [(f, Array) for f in fields + tuple(own)])
    defaults = params_type(*inner.default_params, *(float(v) for v in own.values()))

    def split(params):
        return inner_type(*params[:len(fields)])

    return defaults, split


def _select(fire: Array, fresh, current):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(fire, a, b), fresh, current)


def restart(inner: Policy, threshold: float = DETECTOR_DEFAULTS[0],
            tolerance: float = DETECTOR_DEFAULTS[1], name: str | None = None) -> Policy:
    """``inner`` restarted whenever a Page–Hinkley test on its rewards fires.

    Each update first updates the inner state and the detector with the observed
    reward; if the test statistic exceeds λ_PH = ``threshold``, both are replaced by
    their initial states (the inner one is ``inner.init(inner_params, key(0))``).

    Args:
        inner: any policy whose params are a flat NamedTuple of numbers.
        threshold: default λ_PH > 0.
        tolerance: default δ >= 0.
        name: the wrapped policy's name; ``"restart_" + inner.name`` by default.

    Returns:
        A policy whose params are the inner params followed by ``threshold`` and
        ``tolerance`` (one flat NamedTuple), and whose state is
        ``RestartState(inner, detector)``.
    """
    defaults, split = extended_params(inner, dict(zip(DETECTOR_FIELDS,
                                                       (threshold, tolerance))), "restart")

    def init(params, key) -> RestartState:
        return RestartState(inner.init(split(params), key), page_hinkley_init())

    def decide(params, state, noise, context, mask) -> Decision:
        return inner.decide(split(params), state.inner, noise, context, mask)

    def update(params, state, context, action, reward) -> RestartState:
        inner_params = split(params)
        grown = inner.update(inner_params, state.inner, context, action, reward)
        detector, statistic = page_hinkley_step(state.detector, reward, params.tolerance)
        fire = statistic > params.threshold
        fresh = inner.init(inner_params, jax.random.key(0))
        return RestartState(_select(fire, fresh, grown),
                            _select(fire, page_hinkley_init(), detector))

    me = Inner(inner, split, "inner")
    return forward_training(Policy(name or f"restart_{inner.name}", inner.n_arms, inner.dim,
                                   defaults, init, inner.draw, decide, update,
                                   forward_observe(me)), (me,))


def exploration_floor(inner: Policy, floor: float = 0.01, name: str | None = None) -> Policy:
    """``inner`` with every eligible arm kept at probability ``floor`` or more.

    With m eligible arms, the system explores with probability ε = m·``floor`` (an arm
    drawn uniformly among the eligible ones) and otherwise plays the inner policy's
    action, so its distribution is ``(1 − ε)·inner.probs + floor`` on the eligible arms,
    which is what ``Decision.probs`` reports: the propensity of the whole system. The
    inner policy learns from every observation, explored or not.

    Args:
        inner: any policy whose params are a flat NamedTuple of numbers.
        floor: default least probability, in [0, 1/n_arms].
        name: the wrapped policy's name; ``inner.name + "_floor"`` by default.

    Returns:
        A policy whose params are the inner params followed by ``floor``; its state is
        the inner policy's.
    """
    if not 0.0 <= floor <= 1.0 / inner.n_arms:
        raise ValueError(f"exploration_floor: floor must be in [0, 1/n_arms] = "
                         f"[0, {1.0 / inner.n_arms:g}], got {floor!r}")
    defaults, split = extended_params(inner, {"floor": floor}, "floor")

    def draw(params, key) -> dict:
        k_inner, k_explore, k_arm = jax.random.split(key, 3)
        return {"inner": inner.draw(split(params), k_inner),
                "explore": jax.random.uniform(k_explore), "arm": jax.random.uniform(k_arm)}

    def decide(params, state, noise, context, mask) -> Decision:
        chosen = inner.decide(split(params), state, noise["inner"], context, mask)
        epsilon = params.floor * jnp.sum(mask)
        explored = sample_categorical(uniform_probs(mask, chosen.probs.dtype), noise["arm"])
        action = jnp.where(noise["explore"] < epsilon, explored, chosen.action)
        return Decision(action.astype(jnp.int32), epsilon_mix(chosen.probs, mask, epsilon))

    def update(params, state, context, action, reward):
        return inner.update(split(params), state, context, action, reward)

    me = Inner(inner, split, None)
    observe = forward_observe(me)
    if observe is not None:  # the inner policy's noise is the wrapper's "inner" entry
        observe = partial(_observe_inner_noise, observe)
    return forward_training(Policy(name or f"{inner.name}_floor", inner.n_arms, inner.dim,
                                   defaults, lambda params, key: inner.init(split(params),
                                                                            key),
                                   draw, decide, update, observe), (me,))


def _observe_inner_noise(observe, params, state, noise, context, mask, decision):
    return observe(params, state, noise["inner"], context, mask, decision)


def restart_lin_ucb(n_arms: int, dim: int) -> Policy:
    """Disjoint LinUCB restarted by a Page–Hinkley test (see :func:`restart`)."""
    return restart(lin_ucb(n_arms, dim))
