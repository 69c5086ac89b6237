"""The safety layer: combinators that keep a bad model from reaching users.

* :func:`validated` serves a policy's decision when it is valid
  (:func:`decision_failures`) and a fallback's otherwise;
* :func:`circuit_breaker` adds a breaker: after ``failures`` failures within ``window``
  rounds the fallback serves every decision for ``cooldown`` rounds, then the policy is
  tried once (half-open) and closes the breaker again if its decision is valid;
* :func:`traffic_cap` serves a candidate to a stable share of users (a hash of the
  context) and an incumbent to the others.

Each wrapper decides with both of its policies every round (each from its own noise,
always drawn) and serves one of the two decisions; ``Decision.probs`` are those of the
branch that served, and ``Decision.info`` says which (:class:`SafetyInfo`,
:class:`TrafficInfo`). A wrapped policy that observes its decisions (``Policy.observe``,
e.g. :func:`bandits.faults.faulty` counting rounds) observes its own decision every round,
whether it served or not, so its clock keeps time with the rounds.

The second policy (fallback, incumbent) runs with fixed params, closed over; the
wrapper's params are the first policy's (plus ``share`` for a traffic cap), so a grid
sweeps the guarded or candidate policy.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Decision, Inner, Policy, forward_training, observed
from bandits.combinators import extended_params
from common.errors import ConfigError
from common.validation import PROBABILITY, Choice, Range, check_int

FAILURE_REASONS = ("action_out_of_range", "action_ineligible", "probs_not_finite",
                   "probs_negative", "probs_on_ineligible_arm", "probs_not_normalised",
                   "action_improbable", "too_slow")
SUM_TOLERANCE = 1e-4  # |Σ probs − 1| allowed, in float32
CLOSED, OPEN, HALF_OPEN = 0, 1, 2  # breaker modes
LEARN_FROM = ("own", "all")
_TIMEOUT = Range(0.0, math.inf)  # milliseconds; inf: no timeout


class SafetyInfo(NamedTuple):
    """What :func:`validated` and :func:`circuit_breaker` report in ``Decision.info``."""

    failed: Array  # () bool: the guarded policy was consulted and its decision was invalid
    fallback: Array  # () bool: the fallback's decision served
    breaker: Array  # () int32 the breaker's mode for this decision (0 for ``validated``)
    decisions: Any = ()  # (policy's, fallback's) Decision when either observes its own


class TrafficInfo(NamedTuple):
    """What :func:`traffic_cap` reports in ``Decision.info``."""

    candidate: Array  # () bool: the candidate served
    failed: Array  # () bool: the serving branch's info says it failed validation
    decisions: Any = ()  # (candidate's, incumbent's) Decision when either observes its own


class GuardState(NamedTuple):
    policy: Any
    fallback: Any


class BreakerState(NamedTuple):
    policy: Any
    fallback: Any
    mode: Array  # () int32 the mode of the next decision
    recent: Array  # (window,) bool: failure flags of the last closed rounds, by round % window
    reopen_at: Array  # () int32 the round an open breaker turns half-open
    round: Array  # () int32 the index of the next decision


class TrafficState(NamedTuple):
    candidate: Any
    incumbent: Any


class _Pair(NamedTuple):
    """Two policies deciding side by side: ``first`` with the wrapper's params (through
    ``split``), ``second`` with ``second_params``; ``keys`` name their noise."""

    first: Policy
    second: Policy
    second_params: Any
    split: Any
    keys: tuple[str, str]


def _inners(pair: _Pair, fields: tuple[str, str]) -> tuple[Inner, Inner]:
    """The pair as a wrapper's inner policies, their states in ``fields``."""
    return (Inner(pair.first, pair.split, fields[0]),
            Inner(pair.second, lambda params: pair.second_params, fields[1]))


# ----------------------------------------------------------------------- validation


def _reasons(decision: Decision, mask: Array, timeout: float) -> tuple[Array, ...]:
    """The flags of :func:`failure_reasons`, as a tuple of () bools."""
    probs = jnp.asarray(decision.probs)
    action = jnp.asarray(decision.action)
    chosen = jnp.arange(probs.shape[-1]) == action
    in_range = (action >= 0) & (action < probs.shape[-1])
    eligible = jnp.any(chosen & jnp.asarray(mask, bool))
    finite = jnp.all(jnp.isfinite(probs))
    total = jnp.sum(jnp.where(jnp.isfinite(probs), probs, 0.0))
    latency = getattr(decision.info, "latency", None)
    slow = jnp.zeros((), bool) if latency is None else ~(latency <= timeout)
    return (~in_range,
            in_range & ~eligible,
            ~finite,
            jnp.any(probs < 0),
            jnp.any((probs > 0) & ~jnp.asarray(mask, bool)),
            finite & ~(jnp.abs(total - 1.0) <= SUM_TOLERANCE),
            eligible & finite & ~(jnp.sum(jnp.where(chosen, probs, 0.0)) > 0),
            slow)


def failure_reasons(decision: Decision, mask: Array, timeout: float = math.inf) -> Array:
    """(len(FAILURE_REASONS),) bool: which checks ``decision`` fails, in the order of
    :data:`FAILURE_REASONS`. Each check applies where the ones before it leave it
    meaningful, so one defect raises one flag:

    the action is outside 0..K−1; it is an ineligible arm; a probability is not finite;
    one is negative; one is positive on an ineligible arm; they do not sum to 1 within
    :data:`SUM_TOLERANCE`; the chosen arm has probability 0 (a logged propensity of 0
    cannot be reweighted); the latency (``decision.info.latency``, when the info has
    one) is above ``timeout`` (or NaN).
    """
    return jnp.stack(_reasons(decision, mask, timeout))


def decision_failures(decision: Decision, mask: Array, timeout: float = math.inf) -> Array:
    """() bool: ``decision`` is invalid for any reason of :func:`failure_reasons` (an OR
    of the flags: a ``jnp.stack`` leaves the engine's batch-last layout)."""
    failed = jnp.zeros((), bool)
    for flag in _reasons(decision, mask, timeout):
        failed = failed | flag
    return failed


def _failed_flag(info) -> Array:
    failed = getattr(info, "failed", None)
    return jnp.zeros((), bool) if failed is None else jnp.asarray(failed, bool)


# ------------------------------------------------------------------------- the pair


def _pair(first: Policy, second: Policy, second_params, split, keys, combinator: str
          ) -> _Pair:
    if (second.n_arms, second.dim) != (first.n_arms, first.dim):
        raise ConfigError(f"{combinator}.{keys[1]} {second.name!r} has n_arms={second.n_arms}"
                          f", dim={second.dim}; {keys[0]} {first.name!r} has "
                          f"n_arms={first.n_arms}, dim={first.dim}")
    fixed = second.default_params if second_params is None else second_params
    return _Pair(first, second, fixed, split, keys)


def _draw(pair: _Pair, params, key) -> dict:
    k_first, k_second = jax.random.split(key)
    return {pair.keys[0]: pair.first.draw(pair.split(params), k_first),
            pair.keys[1]: pair.second.draw(pair.second_params, k_second)}


def _decide_both(pair: _Pair, params, states, noise, context, mask):
    first = pair.first.decide(pair.split(params), states[0], noise[pair.keys[0]], context,
                              mask)
    second = pair.second.decide(pair.second_params, states[1], noise[pair.keys[1]], context,
                                mask)
    return first, second


def _kept(pair: _Pair, first: Decision, second: Decision):
    """The two decisions, kept in the info when either policy observes its own."""
    observes = pair.first.observe is not None or pair.second.observe is not None
    return (first, second) if observes else ()


def _serve(use_second: Array, first: Decision, second: Decision, info) -> Decision:
    action = jnp.where(use_second, second.action, first.action).astype(jnp.int32)
    probs = jnp.where(use_second, second.probs, first.probs).astype(first.probs.dtype)
    return Decision(action, probs, info)


def _observe_both(pair: _Pair, params, states, noise, context, mask, decisions):
    """Each policy's state after observing its own decision of the round."""
    if not decisions:
        return states
    first = observed(pair.first, pair.split(params), states[0], noise[pair.keys[0]],
                     context, mask, decisions[0])
    second = observed(pair.second, pair.second_params, states[1], noise[pair.keys[1]],
                      context, mask, decisions[1])
    return first, second


def _update_both(pair: _Pair, params, states, context, action, reward):
    first = pair.first.update(pair.split(params), states[0], context, action, reward)
    second = pair.second.update(pair.second_params, states[1], context, action, reward)
    return first, second


def _init_both(pair: _Pair, params, key):
    k_first, k_second = (None, None) if key is None else jax.random.split(key)
    return (pair.first.init(pair.split(params), k_first),
            pair.second.init(pair.second_params, k_second))


def _identity(params):
    return params


# ------------------------------------------------------------------------ validated


def _validated_decide(pair: _Pair, timeout: float, params, state: GuardState, noise, context,
                      mask) -> Decision:
    mine, backup = _decide_both(pair, params, state, noise, context, mask)
    failed = decision_failures(mine, mask, timeout)
    info = SafetyInfo(failed, failed, jnp.zeros((), jnp.int32), _kept(pair, mine, backup))
    return _serve(failed, mine, backup, info)


def _validated_observe(pair: _Pair, params, state: GuardState, noise, context, mask,
                       decision: Decision) -> GuardState:
    return GuardState(*_observe_both(pair, params, state, noise, context, mask,
                                     decision.info.decisions))


def validated(policy: Policy, fallback: Policy, timeout: float = math.inf,
              fallback_params=None, name: str | None = None) -> Policy:
    """``policy``'s decision when it is valid (:func:`decision_failures`), else
    ``fallback``'s, which decides every round from its own noise.

    ``Decision.probs`` are the serving branch's: the probability of the action as the
    system actually ran, given which branch served. Whether the policy's decision fails
    is settled before the reward is drawn and does not depend on it, so IPS with these
    propensities averages, branch by branch, unbiased estimates of the target's value:
    unbiased as long as each branch's probs are its true action distribution given that
    it served (true when the failure does not depend on the policy's own draw, as with
    NaN scores, outages, timeouts or malformed probs; a failure caused by the drawn
    action itself, e.g. an ineligible arm, truncates that branch) and each branch covers
    the target's arms (a greedy policy's branch covers only its action: add
    :func:`bandits.exploration_floor` inside).

    Both policies learn from every reward, with the action that was served: the
    guarded policy keeps learning while the fallback covers for it, so it can recover
    (its estimates are regressions on (context, action, reward) rows, valid whoever
    chose the action). The fallback is trusted: its decision is served unchecked.

    Args:
        policy: the guarded policy; its params are the wrapper's.
        fallback: the policy served when ``policy``'s decision is invalid.
        timeout: the latest acceptable latency in ms (``info.latency``), >= 0.
        fallback_params: the fallback's fixed params (default its defaults).
        name: ``"validated_" + policy.name`` by default.

    Returns:
        A policy with ``policy``'s params, state :class:`GuardState` and
        ``Decision.info`` :class:`SafetyInfo` (``breaker`` always 0).
    """
    _TIMEOUT.check("validated.timeout", timeout)
    pair = _pair(policy, fallback, fallback_params, _identity, ("policy", "fallback"),
                 "validated")
    observe = None
    if policy.observe is not None or fallback.observe is not None:
        observe = partial(_validated_observe, pair)

    def update(params, state, context, action, reward) -> GuardState:
        return GuardState(*_update_both(pair, params, state, context, action, reward))

    return forward_training(Policy(
        name or f"validated_{policy.name}", policy.n_arms, policy.dim, policy.default_params,
        lambda params, key: GuardState(*_init_both(pair, params, key)), partial(_draw, pair),
        partial(_validated_decide, pair, float(timeout)), update, observe),
        _inners(pair, ("policy", "fallback")))


# -------------------------------------------------------------------- the breaker


def _breaker_decide(pair: _Pair, timeout: float, params, state: BreakerState, noise,
                    context, mask) -> Decision:
    mine, backup = _decide_both(pair, params, (state.policy, state.fallback), noise,
                                context, mask)
    consulted = state.mode != OPEN
    invalid = decision_failures(mine, mask, timeout)
    use_fallback = invalid | ~consulted
    info = SafetyInfo(invalid & consulted, use_fallback, state.mode,
                      _kept(pair, mine, backup))
    return _serve(use_fallback, mine, backup, info)


def breaker_step(state: BreakerState, failed: Array, failures: int, cooldown: int
                 ) -> BreakerState:
    """The breaker after the decision of round ``state.round``, which ``failed`` or not
    (only a consulted policy's failure counts: False when the breaker was open).

    Closed: the flag goes into the ring (slot ``round % window``) and the breaker opens
    when the ring holds ``failures`` flags. Half-open: a failure opens it again, a valid
    decision closes it with a clean ring. On opening after round t the breaker stays
    open for rounds t+1 .. t+cooldown and is half-open in round t+cooldown+1.
    """
    t = state.round
    window = state.recent.shape[-1]
    closed, half_open = state.mode == CLOSED, state.mode == HALF_OPEN
    slot = jnp.arange(window) == t % window
    recent = jnp.where(closed & slot, failed, state.recent)
    opening = (closed & (jnp.sum(recent, dtype=jnp.int32) >= failures)) | (half_open & failed)
    recovered = half_open & ~failed
    reopen_at = jnp.where(opening, t + 1 + cooldown, state.reopen_at)
    mode = jnp.where(opening, OPEN, jnp.where(recovered, CLOSED, state.mode))
    mode = jnp.where((mode == OPEN) & (t + 1 >= reopen_at), HALF_OPEN, mode)
    return state._replace(mode=mode.astype(jnp.int32), recent=recent & ~recovered,
                          reopen_at=reopen_at.astype(jnp.int32), round=t + 1)


def _breaker_observe(pair: _Pair, failures: int, cooldown: int, params, state: BreakerState,
                     noise, context, mask, decision: Decision) -> BreakerState:
    inner = _observe_both(pair, params, (state.policy, state.fallback), noise, context, mask,
                          decision.info.decisions)
    state = breaker_step(state, decision.info.failed, failures, cooldown)
    return state._replace(policy=inner[0], fallback=inner[1])


def _breaker_update(pair: _Pair, params, state: BreakerState, context, action, reward
                    ) -> BreakerState:
    learnt = _update_both(pair, params, (state.policy, state.fallback), context, action,
                          reward)
    return state._replace(policy=learnt[0], fallback=learnt[1])


def circuit_breaker(policy: Policy, fallback: Policy, failures: int = 5, window: int = 100,
                    cooldown: int = 1000, timeout: float = math.inf, fallback_params=None,
                    name: str | None = None) -> Policy:
    """:func:`validated` with a circuit breaker (modes :data:`CLOSED`, :data:`OPEN`,
    :data:`HALF_OPEN`; transitions in ``observe``, :func:`breaker_step`).

    Closed: the policy serves when valid, the fallback otherwise, and the breaker opens
    once ``failures`` of the last ``window`` closed rounds failed. Open: the fallback
    serves every decision and the policy's failures are not counted, for ``cooldown``
    rounds. Half-open: the policy is tried on the next decision; valid, it serves and the
    breaker closes with its failure history cleared; invalid, the fallback serves and
    the breaker opens again for ``cooldown`` rounds. The history is a ring of the last
    ``window`` flags (``window`` booleans per lane). ``Decision.probs`` are the serving
    branch's, as in :func:`validated` (the mode depends on past rounds only); both
    policies learn from every reward.

    Args:
        policy, fallback, timeout, fallback_params: as in :func:`validated`.
        failures: failures within ``window`` that open the breaker, in [1, window].
        window: rounds the failures are counted over, >= 1.
        cooldown: rounds the breaker stays open, >= 0.
        name: ``"breaker_" + policy.name`` by default.

    Returns:
        A policy with ``policy``'s params, state :class:`BreakerState` and
        ``Decision.info`` :class:`SafetyInfo`.
    """
    window = check_int("circuit_breaker.window", window, 1, 2**20)
    failures = check_int("circuit_breaker.failures", failures, 1, window)
    cooldown = check_int("circuit_breaker.cooldown", cooldown, 0, 2**30)
    _TIMEOUT.check("circuit_breaker.timeout", timeout)
    pair = _pair(policy, fallback, fallback_params, _identity, ("policy", "fallback"),
                 "circuit_breaker")

    def init(params, key) -> BreakerState:
        zero = jnp.zeros((), jnp.int32)
        return BreakerState(*_init_both(pair, params, key), zero,
                            jnp.zeros((window,), bool), zero, zero)

    return forward_training(Policy(
        name or f"breaker_{policy.name}", policy.n_arms, policy.dim, policy.default_params,
        init, partial(_draw, pair), partial(_breaker_decide, pair, float(timeout)),
        partial(_breaker_update, pair), partial(_breaker_observe, pair, failures, cooldown)),
        _inners(pair, ("policy", "fallback")))


# -------------------------------------------------------------------- traffic cap

_MURMUR_C1, _MURMUR_C2 = 0xCC9E2D51, 0x1B873593


def _rotl(x: Array, r: int) -> Array:
    return (x << r) | (x >> (32 - r))


def _fmix32(h: Array) -> Array:
    h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
    h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def murmur3_words(words: Array, seed: int = 0) -> Array:
    """MurmurHash3 (x86, 32-bit) of the little-endian bytes of ``words`` ((n,) uint32)."""
    k = _rotl(words.astype(jnp.uint32) * jnp.uint32(_MURMUR_C1), 15) * jnp.uint32(_MURMUR_C2)
    h = jnp.uint32(seed)
    for i in range(words.shape[-1]):
        h = _rotl(h ^ k[..., i], 13) * jnp.uint32(5) + jnp.uint32(0xE6546B64)
    return _fmix32(h ^ jnp.uint32(4 * words.shape[-1]))


def user_hash(context: Array) -> Array:
    """() float32 in [0, 1): a stable hash of the context, MurmurHash3 (seed 0) of its
    float32 bit patterns, top 24 bits over 2²⁴. Contexts equal bit for bit hash alike
    (every run, every device); any change of a bit moves the hash uniformly."""
    bits = jax.lax.bitcast_convert_type(jnp.asarray(context, jnp.float32), jnp.uint32)
    return (murmur3_words(bits) >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def _routed(params, context) -> Array:
    return user_hash(context) < params.share


def _traffic_decide(pair: _Pair, params, state: TrafficState, noise, context, mask
                    ) -> Decision:
    mine, theirs = _decide_both(pair, params, state, noise, context, mask)
    to_candidate = _routed(params, context)
    failed = jnp.where(to_candidate, _failed_flag(mine.info), _failed_flag(theirs.info))
    info = TrafficInfo(to_candidate, failed, _kept(pair, mine, theirs))
    return _serve(~to_candidate, mine, theirs, info)


def _traffic_observe(pair: _Pair, params, state: TrafficState, noise, context, mask,
                     decision: Decision) -> TrafficState:
    return TrafficState(*_observe_both(pair, params, state, noise, context, mask,
                                       decision.info.decisions))


def _traffic_update(pair: _Pair, own: bool, params, state: TrafficState, context, action,
                    reward) -> TrafficState:
    candidate, incumbent = _update_both(pair, params, state, context, action, reward)
    if own:
        to_candidate = _routed(params, context)
        candidate = jax.tree_util.tree_map(lambda new, old: jnp.where(to_candidate, new, old),
                                           candidate, state.candidate)
        incumbent = jax.tree_util.tree_map(lambda new, old: jnp.where(to_candidate, old, new),
                                           incumbent, state.incumbent)
    return TrafficState(candidate, incumbent)


def traffic_cap(candidate: Policy, incumbent: Policy, share: float, learn_from: str = "own",
                incumbent_params=None, name: str | None = None) -> Policy:
    """``candidate`` serves the users whose :func:`user_hash` of the context is below
    ``share``, ``incumbent`` the others: a stable split, the same context always on the
    same side (a user is a context: a world that redraws contexts every round makes every
    round a new user; rows of a finite data set come back to the same side). The routing
    is a deterministic function of the context, so the serving branch's
    ``Decision.probs`` are the system's propensities.

    Args:
        candidate: the policy under a traffic cap; its params are the wrapper's.
        incumbent: the policy serving the rest, with fixed params.
        share: default share of users served by the candidate, in [0, 1] (a param).
        learn_from: ``"own"``: each policy learns only from the rewards of its own
            traffic (the hash is recomputed in ``update``); ``"all"``: both learn from
            every reward.
        incumbent_params: the incumbent's fixed params (default its defaults).
        name: ``"cap_<candidate>_<incumbent>"`` by default.

    Returns:
        A policy whose params are the candidate's followed by ``share``, state
        :class:`TrafficState` and ``Decision.info`` :class:`TrafficInfo`.
    """
    PROBABILITY.check("traffic_cap.share", share)
    Choice(LEARN_FROM).check("traffic_cap.learn_from", learn_from)
    defaults, split = extended_params(candidate, {"share": share}, "traffic_cap")
    pair = _pair(candidate, incumbent, incumbent_params, split, ("candidate", "incumbent"),
                 "traffic_cap")
    observe = None
    if candidate.observe is not None or incumbent.observe is not None:
        observe = partial(_traffic_observe, pair)
    return forward_training(Policy(
        name or f"cap_{candidate.name}_{incumbent.name}", candidate.n_arms, candidate.dim,
        defaults, lambda params, key: TrafficState(*_init_both(pair, params, key)),
        partial(_draw, pair), partial(_traffic_decide, pair),
        partial(_traffic_update, pair, learn_from == "own"), observe),
        _inners(pair, ("candidate", "incumbent")))
