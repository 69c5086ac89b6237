"""A fault model: a policy wrapped so that it fails the ways a production model does.

:func:`faulty` injects, on a schedule of decision rounds or at random:

* **NaN scores**: with probability ``nan_rate`` per decision every probability is NaN
  (the action is the one the inner policy chose);
* **outages**: in a window ``[start, stop)`` of rounds the model returns nothing, action
  −1 and all-zero probabilities;
* **a stale model**: from round ``stale_from`` on, rewards no longer change the inner state
  and a policy that trains (a neural network) no longer trains (the training pipeline
  stopped; the served model is frozen at that decision's state);
* **corruption**: at round ``corrupt_at`` the inner state is replaced, once
  (:data:`CORRUPTIONS`), and the model goes on learning from the corrupted state;
* **latency**: each decision takes a log-normal time in milliseconds, reported in
  ``Decision.info`` as :class:`FaultInfo`;
* **exploration collapsing**: from round ``greedy_from`` on, the model plays its most
  likely arm (first argmax of its probabilities), with probability 1;
* **lost propensities**: from round ``propensity_lost_from`` on, the decision is served
  as before but its probabilities are reported as 0 (a logging bug).

The wrapper counts decisions in ``observe`` (``FaultState.round`` is the index of the
next decision), so every scheduled fault is exact by round. Its random numbers come from
``draw``; ``decide`` is deterministic given them. Nothing here checks decisions: that is
the safety layer's job (:mod:`bandits.safety`); run bare in the engine, an outage round
plays no arm (the engine realises its reward from a mean of 0).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import (
    Decision,
    Inner,
    Policy,
    first_argmax,
    forward_training,
    observed,
    one_hot,
)
from bandits.combinators import extended_params
from bandits.context_free import ArmStats
from bandits.linear import RidgeState
from common.errors import ConfigError
from common.validation import PROBABILITY, Choice, Range

CORRUPTIONS = ("negate", "flip", "reset")
_ROUND = Range(-1, 2**31 - 1, integer=True)
_FINITE_NONNEG = Range(0.0, math.inf, high_open=True)


class FaultInfo(NamedTuple):
    """What a faulty decision reports in ``Decision.info``."""

    latency: Array  # () float32 milliseconds the decision took
    inner: Any = ()  # the inner policy's own Decision when it observes its decisions


class FaultState(NamedTuple):
    inner: Any  # the inner policy's state
    round: Array  # () int32: the index of the next decision


@dataclass(frozen=True)
class _Faults:
    """The static part of the fault model (validated by :func:`faulty`)."""

    outages: tuple[tuple[int, int], ...]
    stale_from: int
    corrupt_at: int
    corruption: str
    latency_mean: float
    latency_sigma: float
    greedy_from: int = -1
    propensity_lost_from: int = -1


def _check_outages(outages) -> tuple[tuple[int, int], ...]:
    """``outages`` as a tuple of ``(start, stop)`` int pairs, increasing and disjoint."""
    try:
        pairs = [tuple(pair) for pair in outages]
    except TypeError:
        raise ConfigError(f"faulty.outages must be a sequence of (start, stop) pairs, "
                          f"got {outages!r}") from None
    previous_stop = 0
    for i, pair in enumerate(pairs):
        ints = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair)
        if len(pair) != 2 or not ints or not 0 <= pair[0] < pair[1] < 2**31:
            raise ConfigError(f"faulty.outages[{i}] must be a pair of integers (start, stop) "
                              f"with 0 <= start < stop < 2**31, got {pair!r}")
        if pair[0] < previous_stop:
            raise ConfigError(f"faulty.outages[{i}] = {pair!r} overlaps or precedes the "
                              f"window before it, which stops at round {previous_stop}: "
                              f"windows must be increasing and disjoint")
        previous_stop = pair[1]
    return tuple((int(start), int(stop)) for start, stop in pairs)


def flip_estimates(state):
    """The state with every reward estimate negated and its counts kept: ``theta`` of
    each :class:`~bandits.linear.RidgeState` and ``sums`` of each
    :class:`~bandits.context_free.ArmStats` in the tree; other leaves unchanged."""

    def flip(node):
        if isinstance(node, RidgeState):
            return node._replace(theta=-node.theta)
        if isinstance(node, ArmStats):
            return node._replace(sums=-node.sums)
        return node

    return jax.tree_util.tree_map(flip, state, is_leaf=_has_estimates)


def _has_estimates(node) -> bool:
    return isinstance(node, (RidgeState, ArmStats))


def negate_floats(state):
    """Every floating-point leaf of ``state`` multiplied by −1."""
    return jax.tree_util.tree_map(
        lambda x: -x if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, state)


def _check_flippable(inner: Policy) -> None:
    shapes = jax.eval_shape(inner.init, inner.default_params, jax.random.key(0))
    nodes = jax.tree_util.tree_leaves(shapes, is_leaf=_has_estimates)
    if not any(_has_estimates(node) for node in nodes):
        raise ConfigError(f"faulty.corruption='flip' needs a state holding RidgeState or "
                          f"ArmStats estimates; {inner.name!r} keeps "
                          f"{type(shapes).__name__}")


def _corrupted(inner: Policy, faults: _Faults, inner_params, state: FaultState):
    """The inner state the decision of round ``state.round`` uses: replaced as
    ``faults.corruption`` says in round ``corrupt_at``, else unchanged."""
    if faults.corrupt_at < 0:
        return state.inner
    if faults.corruption == "reset":
        bad = inner.init(inner_params, jax.random.key(0))
    elif faults.corruption == "flip":
        bad = flip_estimates(state.inner)
    else:
        bad = negate_floats(state.inner)
    now = state.round == faults.corrupt_at
    return jax.tree_util.tree_map(lambda b, s: jnp.where(now, b, s), bad, state.inner)


def _in_outage(faults: _Faults, t: Array) -> Array:
    out = jnp.zeros((), bool)
    for start, stop in faults.outages:
        out = out | ((t >= start) & (t < stop))
    return out


def _draw(inner: Policy, split, faults: _Faults, params, key) -> dict:
    k_inner, k_nan, k_latency = jax.random.split(key, 3)
    noise = {"inner": inner.draw(split(params), k_inner), "nan": jax.random.uniform(k_nan)}
    if faults.latency_mean > 0:
        noise["latency"] = jax.random.normal(k_latency)
    return noise


def _latency(faults: _Faults, noise: dict) -> Array:
    """Log-normal milliseconds with mean ``latency_mean``: m·exp(σz − σ²/2)."""
    if faults.latency_mean <= 0:
        return jnp.zeros((), jnp.float32)
    s = faults.latency_sigma
    return (faults.latency_mean * jnp.exp(s * noise["latency"] - 0.5 * s * s)
            ).astype(jnp.float32)


def _decide(inner: Policy, split, faults: _Faults, params, state: FaultState, noise, context,
            mask) -> Decision:
    inner_params = split(params)
    inner_state = _corrupted(inner, faults, inner_params, state)
    chosen = inner.decide(inner_params, inner_state, noise["inner"], context, mask)
    action, probs = _scheduled(faults, state.round, chosen, mask)
    probs = jnp.where(noise["nan"] < params.nan_rate, jnp.nan, probs)
    down = _in_outage(faults, state.round)
    action = jnp.where(down, -1, action).astype(jnp.int32)
    probs = jnp.where(down, 0.0, probs).astype(chosen.probs.dtype)
    info = FaultInfo(_latency(faults, noise), chosen if inner.observe is not None else ())
    return Decision(action, probs, info)


def _scheduled(faults: _Faults, t: Array, chosen: Decision, mask: Array):
    """The action and probabilities after the faults that start at a round: exploration
    collapsing (the most likely eligible arm, probability 1) and lost propensities
    (probabilities reported as 0)."""
    action, probs = chosen.action, chosen.probs
    if faults.greedy_from >= 0:
        top = first_argmax(jnp.where(mask, probs, -jnp.inf))
        greedy = t >= faults.greedy_from
        action = jnp.where(greedy, top, action)
        probs = jnp.where(greedy, one_hot(top, probs.shape[-1], probs.dtype), probs)
    if faults.propensity_lost_from >= 0:
        probs = jnp.where(t >= faults.propensity_lost_from, 0.0, probs)
    return action, probs


def _observe(inner: Policy, split, faults: _Faults, params, state: FaultState, noise,
             context, mask, decision: Decision) -> FaultState:
    inner_params = split(params)
    inner_state = _corrupted(inner, faults, inner_params, state)
    inner_state = observed(inner, inner_params, inner_state, noise["inner"], context, mask,
                           decision.info.inner)
    return FaultState(inner_state, state.round + 1)


def _update(inner: Policy, split, faults: _Faults, params, state: FaultState, context,
            action, reward) -> FaultState:
    learnt = inner.update(split(params), state.inner, context, action, reward)
    if faults.stale_from >= 0:
        stale = state.round > faults.stale_from
        learnt = jax.tree_util.tree_map(lambda old, new: jnp.where(stale, old, new),
                                        state.inner, learnt)
    return state._replace(inner=learnt)


def faulty(inner: Policy, nan_rate: float = 0.0, outages=(), stale_from: int = -1,
           corrupt_at: int = -1, corruption: str = "negate", latency_mean: float = 0.0,
           latency_sigma: float = 0.0, greedy_from: int = -1, propensity_lost_from: int = -1,
           name: str | None = None) -> Policy:
    """``inner`` with faults injected (see the module docstring).

    Args:
        inner: any policy whose params are a flat NamedTuple of numbers.
        nan_rate: default probability, in [0, 1], that a decision's probabilities are NaN.
        outages: ``(start, stop)`` round windows, increasing and disjoint, in which the
            action is −1 and the probabilities are 0.
        stale_from: the first decision round whose state is frozen: updates arriving
            after that decision leave the inner state unchanged (−1: never).
        corrupt_at: the decision round whose state is replaced (−1: never); the
            replacement is kept and learnt on from there.
        corruption: ``"negate"``: every float leaf × −1. For ridge families θ̂ flips (the
            worst arms look best) and A⁻¹ turns negative definite, so widths clamp to 0
            and later updates do not repair the model; for count-based families negated
            counts make every arm look untried (ε-greedy, softmax and UCB1 play
            uniformly) and the Gaussian and Beta posteriors break (NaN draws, all-zero
            probabilities, which validation rejects). ``"flip"``: only the reward
            estimates negated (θ̂ of a RidgeState, the sums of ArmStats; counts and A⁻¹
            kept): in both families the model prefers bad arms, stays well-formed and
            relearns. ``"reset"``: ``inner.init`` afresh (a lost model).
        latency_mean, latency_sigma: mean milliseconds per decision (0: no latency)
            and σ of the log-latency, each >= 0.
        greedy_from, propensity_lost_from: the first round played greedily, the first
            whose probabilities are logged as 0 (−1: never).
        name: the wrapped policy's name; ``"faulty_" + inner.name`` by default.

    Returns:
        A policy with params the inner ones then ``nan_rate``, state :class:`FaultState`
        and ``Decision.info`` :class:`FaultInfo`.

    Raises:
        ValueError: an argument out of range or malformed, named with its value.
    """
    PROBABILITY.check("faulty.nan_rate", nan_rate)
    for where, value in (("stale_from", stale_from), ("corrupt_at", corrupt_at),
                         ("greedy_from", greedy_from), ("propensity_lost_from",
                                                        propensity_lost_from)):
        _ROUND.check(f"faulty.{where}", value)
    Choice(CORRUPTIONS).check("faulty.corruption", corruption)
    for where, value in (("latency_mean", latency_mean), ("latency_sigma", latency_sigma)):
        _FINITE_NONNEG.check(f"faulty.{where}", value)
    if corruption == "flip" and corrupt_at >= 0:
        _check_flippable(inner)
    faults = _Faults(_check_outages(outages), int(stale_from), int(corrupt_at), corruption,
                     float(latency_mean), float(latency_sigma), int(greedy_from),
                     int(propensity_lost_from))
    defaults, split = extended_params(inner, {"nan_rate": nan_rate}, "faulty")

    def init(params, key) -> FaultState:
        return FaultState(inner.init(split(params), key), jnp.zeros((), jnp.int32))

    return _stale_training(faults, forward_training(
        Policy(name or f"faulty_{inner.name}", inner.n_arms, inner.dim, defaults, init,
               partial(_draw, inner, split, faults), partial(_decide, inner, split, faults),
               partial(_update, inner, split, faults),
               partial(_observe, inner, split, faults)), (Inner(inner, split, "inner"),)))


def _stale_training(faults: _Faults, policy: Policy) -> Policy:
    """``policy`` whose inner trainings (``Policy.train``) also stop once the model is
    stale: a frozen model neither learns rewards nor trains on what it had stored."""
    if faults.stale_from < 0 or policy.train is None:
        return policy
    trains = policy.train

    def train(params, state: FaultState) -> FaultState:
        stale = state.round > faults.stale_from
        return jax.tree_util.tree_map(lambda old, new: jnp.where(stale, old, new), state,
                                      trains(params, state))

    return policy._replace(train=train)
