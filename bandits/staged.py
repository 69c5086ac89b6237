"""A staged rollout of a candidate policy against an incumbent, as one policy.

:func:`staged_rollout` runs the playbook's schedule (staging → shadow → canary shares →
full) inside the policy state, so thousands of rollouts run in one compiled program:

* **Routing.** A user's stable hash ``u = user_hash(context)`` (:func:`bandits.user_hash`)
  sends them to the candidate when ``u < share`` of the current stage, to the incumbent
  otherwise. Both policies decide every round from their own noise; the serving branch's
  decision is served, so ``Decision.probs`` are the system's propensities (the routing
  is a deterministic function of the context). A candidate decision that fails
  validation (:func:`bandits.safety.decision_failures`; checked in every stage, so
  staging catches a broken model before any user sees it) is replaced by the
  incumbent's and rolls the rollout back at the next round. Rolled back, the incumbent serves every
  user; at the last stage (full) the candidate does.
* **Shadow.** In a stage with ``shadow=True`` (share 0) the candidate decides, the
  incumbent serves: the state counts the decisions on which the two disagree, by
  *region* (the incumbent's chosen arm), and accumulates the candidate's off-policy
  value on the incumbent's served decisions with importance weights
  ``w = π_cand(a|x) / π_inc(a|x)``: IPS, SNIPS and doubly robust (DR, with a predictable
  per-arm mean reward model) with CLT intervals (:func:`shadow_estimates`). Each
  decision's weight and DR baseline wait in a ring keyed by the context's hash until its
  reward arrives (:mod:`bandits.staged_shadow`).
* **Attribution.** ``update`` is not told who served a decision. Shares only grow, so a
  user with ``u`` below the previous stage's share was on the candidate in both stages
  and one above the current share on the incumbent in both; rewards of users in the band
  between are dropped from the statistics for ``attribution_window`` rounds after each
  stage change (a reward arrives at most that late), so attribution is exact.
* **Promotion.** Each stage with traffic (0 < share < 1) keeps the count, sum and sum of
  squares of both branches' rewards on its concurrent traffic. ``confidence``: at the
  stage's end, promote when the lower ``1 − alpha`` normal bound of the difference of
  means (candidate − incumbent) exceeds ``−tolerance`` (non-inferiority), otherwise roll
  back. ``sequential``: every ``look_every`` rounds, the mixture SPRT of Johari, Pekelis
  and Walsh (normal mixture N(−tolerance, τ²) over the difference, plug-in variances
  ``V = s²_c/n_c + s²_i/n_i``: ``Λ = sqrt(V/(V+τ²))·exp(τ²(D̂+tol)²/(2V(V+τ²)))``) rolls
  back as soon as ``Λ ≥ 1/alpha`` with ``D̂ < −tolerance``; the stage promotes at its end
  when it has not. Either way a guardrail, checked at the same looks, rolls back at once
  when the candidate's mean reward on the stage falls below ``guard_ratio`` × the
  incumbent's (the monitor's ``reward_drop`` rule in its cheap form, for positive
  rewards). Both look only once each branch has ``min_rewards`` rewards on the stage
  (the plug-in variances of a few rewards are too unreliable). Stages without traffic
  promote at their end.
* **Alerts.** A :class:`Watch` (alert rules on the candidate's own decisions, built from
  a monitor's high-severity rules by :func:`envs.monitor.watch.rollout_watch`) sees every
  candidate decision, in every stage; while one of its rules is active the rollout rolls
  back at the next round. ``StagedState.cause`` records why a rollout rolled back
  (:data:`CAUSES`: a failed decision, an alert, the guardrail, the promotion rule).

Transitions happen at the start of a round (in ``decide`` and again in ``observe``, from
the same state), so stage ``i`` serves exactly its scheduled rounds and its rule reads
every reward learnt before the round that ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Decision, Inner, Policy, forward_training, observed
from bandits.safety import decision_failures, user_hash
from bandits.staged_schedule import (
    DEFAULT_RULE,
    PLAYBOOK,
    PromotionRule,
    Schedule,
    Stage,
    check_rule,
    check_stages,
    check_value,
    compiled_schedule,
)
from bandits.staged_shadow import (
    N_OPE,
    context_hash,
    decision_terms,
    learn_reward,
    shadow_terms,
    vector,
)
from bandits.staged_shadow import shadow_estimates as shadow_estimates
from common.errors import ConfigError
from common.validation import Range

NEVER = -(2**30)  # a round long before the first
CANDIDATE, INCUMBENT = 0, 1  # rows of the per-stage statistics
MOMENTS = 3  # count, sum, sum of squares
__all__ = ["PLAYBOOK", "PromotionRule", "Stage", "StagedInfo", "StagedState", "Watch",
           "check_rule", "check_stages", "shadow_estimates", "staged_rollout"]


class StagedState(NamedTuple):
    """A rollout's state (S stages, K arms, W the attribution window)."""

    candidate: Any
    incumbent: Any
    round: Array  # () int32 the next decision's index
    stage: Array  # () int32 the current stage
    rolled_back: Array  # () bool
    rolled_back_at: Array  # () int32 the first round the incumbent served all (-1: never)
    entered: Array  # (S,) int32 the round each stage began (-1: not reached)
    started_at: Array  # () int32 the round the current stage began
    changed_at: Array  # () int32 the round of the last stage change
    band_low: Array  # () float32 the lowest share in effect within the window
    stats: Array  # (2, 3) float32 the current stage's count, sum and sum of squares of
    #   the candidate's and the incumbent's rewards
    failures: Array  # () int32 the current stage's candidate decisions that failed
    exposed: Array  # () int32 decisions the candidate served
    disagreement: Array  # (K, 2) float32 shadow decisions and disagreements by region
    ope: Array  # (8,) float32 shadow n, Σw, Σwr, Σw²r², Σw², Σw²r, Σdr, Σdr²
    pending_hash: Array  # (W + 1,) uint32 the context hash of recent shadow decisions
    pending_weight: Array  # (W + 1,) float32 their weights (NaN: none)
    pending_baseline: Array  # (W + 1,) float32 their DR baselines (NaN: none)
    arm_rewards: Array  # (K, 2) float32 count and sum of shadow rewards per served arm
    cause: Array  # () int32 why it rolled back: an index into CAUSES (0: it did not)
    watch: Any = ()  # the alert rules' state (:class:`Watch`), () without


# Why a rollout rolled back, by ``StagedState.cause``; the first that holds is recorded.
CAUSES = ("none", "failed_decision", "alert", "guardrail", "promotion_rule")


class Watch(NamedTuple):
    """Alert rules watching the candidate's decisions; an active one rolls the rollout
    back (:func:`envs.monitor.rollout_watch` builds one from a monitor's rules).

    ``init() -> state``; ``step(state, watched, t) -> state`` after round ``t``'s
    candidate decision (a :class:`WatchedRound`; every round, whether or not the
    candidate served); ``alarm(state) -> ()`` bool, whether a rule is active now.
    ``reads_failures``: the rules read the candidate's failed decisions, which needs
    ``validate=True``."""

    init: Callable[[], Any]
    step: Callable[[Any, Any, Array], Any]
    alarm: Callable[[Any], Array]
    reads_failures: bool = False


class WatchedFlags(NamedTuple):
    failed: Array  # () bool the candidate's decision failed validation
    fallback: Array  # () bool the candidate's own safety layer served its fallback


class WatchedRound(NamedTuple):
    """The candidate's decision of one round, as alert rules read it."""

    action: Array  # () int32
    probs: Array  # (K,) the candidate's action distribution
    info: WatchedFlags
    context: Array
    mask: Array  # (K,) bool eligible arms
    propensity: Array  # () the candidate's probability of its action


class StagedInfo(NamedTuple):
    """What :func:`staged_rollout` reports in ``Decision.info``."""

    candidate: Array  # () bool: the candidate served
    stage: Array  # () int32 the stage of this decision
    failed: Array  # () bool: the candidate decided for this user and failed validation
    rolled_back: Array  # () bool
    disagree: Array  # () bool: candidate's action ≠ incumbent's
    weight: Array  # () float32 π_cand(a)/π_inc(a) of the incumbent's action
    baseline: Array  # () float32 the DR baseline Σ_a π_cand(a) q̂(a) − weight·q̂(action)
    region: Array  # () int32 the incumbent's action
    decisions: Any = ()  # (candidate's, incumbent's) Decision when either observes


class _Spec(NamedTuple):
    candidate: Policy
    incumbent: Policy
    incumbent_params: Any
    split: Any
    schedule: Schedule
    rule: PromotionRule
    window: int
    validate: bool
    watch: Watch | None = None


def _pick(onehot: Array, values) -> Array:
    """``values[i]`` for the ``i`` where ``onehot`` is set, as a masked sum."""
    values = jnp.asarray(values)
    return jnp.sum(jnp.where(onehot.reshape(onehot.shape + (1,) * (values.ndim - 1)),
                             values, 0), axis=0)


def _branch_moments(stats: Array, branch: int):
    n, total, squares = stats[branch, 0], stats[branch, 1], stats[branch, 2]
    mean = total / jnp.maximum(n, 1.0)
    var = (squares - n * mean**2) / jnp.maximum(n - 1.0, 1.0)
    return n, mean, jnp.maximum(var, 0.0)


def _test_fails(spec: _Spec, state: StagedState, onehot: Array, t: Array, at_end: Array
                ) -> tuple[Array, Array]:
    """(guardrail tripped, promotion rule failed) for the current stage at round ``t``."""
    sched, rule = spec.schedule, spec.rule
    start = state.started_at
    n_c, m_c, v_c = _branch_moments(state.stats, CANDIDATE)
    n_i, m_i, v_i = _branch_moments(state.stats, INCUMBENT)
    enough = (n_c >= 2) & (n_i >= 2)
    diff, var = m_c - m_i, v_c / jnp.maximum(n_c, 1.0) + v_i / jnp.maximum(n_i, 1.0)
    tol = _pick(onehot, sched.tolerance)
    look = ((t - start) % rule.look_every == 0) & (t > start)
    sampled = look & (n_c >= rule.min_rewards) & (n_i >= rule.min_rewards)
    guard = sampled & (m_c < rule.guard_ratio * m_i)
    if rule.kind == "confidence":
        lower = diff - _pick(onehot, sched.z) * jnp.sqrt(var)
        harm = at_end & ~(enough & (lower > -tol))
    else:
        tau2 = jnp.float32(rule.tau**2)
        v = jnp.maximum(var, 1e-12)
        log_lr = 0.5 * jnp.log(v / (v + tau2)) + tau2 * (diff + tol)**2 / (2 * v * (v + tau2))
        harm = sampled & (diff < -tol) & (log_lr >= _pick(onehot, sched.log_bound))
    traffic = _pick(onehot, sched.shares) > 0
    return traffic & guard, traffic & harm


def _verdict(spec: _Spec, state: StagedState, onehot: Array, t: Array):
    """(why to roll back now: an index into :data:`CAUSES`, 0 for not; the stage's end
    reached) for the current stage at round ``t``."""
    at_end = t >= state.started_at + _pick(onehot, spec.schedule.rounds)
    guard, harm = _test_fails(spec, state, onehot, t, at_end)
    alarm = jnp.zeros((), bool) if spec.watch is None else spec.watch.alarm(state.watch)
    causes = jnp.stack([state.failures > 0, alarm, guard, harm])
    first = jnp.argmax(causes).astype(jnp.int32) + 1
    return jnp.where(jnp.any(causes), first, 0), at_end


def _advance(spec: _Spec, state: StagedState) -> StagedState:
    """The state at the start of round ``state.round``: the current stage promoted or
    rolled back when its rule says so."""
    t = state.round
    n_stages = spec.schedule.shares.shape[0]
    index = jnp.arange(n_stages, dtype=jnp.int32)
    onehot = index == state.stage
    live = ~state.rolled_back & (state.stage < n_stages - 1)
    cause, at_end = _verdict(spec, state, onehot, t)
    back = live & (cause > 0)
    promote = live & (cause == 0) & at_end
    band_open = t - state.changed_at < spec.window
    share = _pick(onehot, spec.schedule.shares)
    return state._replace(
        stage=state.stage + promote.astype(jnp.int32),
        rolled_back=state.rolled_back | back,
        rolled_back_at=jnp.where(back, t, state.rolled_back_at),
        cause=jnp.where(back, cause, state.cause),
        entered=jnp.where(promote & (index == state.stage + 1), t, state.entered),
        started_at=jnp.where(promote, t, state.started_at),
        stats=jnp.where(promote, 0.0, state.stats),
        failures=jnp.where(promote, 0, state.failures),
        changed_at=jnp.where(promote, t, state.changed_at),
        band_low=jnp.where(promote & ~band_open, share, state.band_low))


def _share(spec: _Spec, state: StagedState) -> Array:
    onehot = jnp.arange(spec.schedule.shares.shape[0]) == state.stage
    return jnp.where(state.rolled_back, 0.0, _pick(onehot, spec.schedule.shares))


def _decide(spec: _Spec, params, state: StagedState, noise, context, mask) -> Decision:
    now = _advance(spec, state)
    mine = spec.candidate.decide(spec.split(params), state.candidate, noise["candidate"],
                                 context, mask)
    theirs = spec.incumbent.decide(spec.incumbent_params, state.incumbent,
                                   noise["incumbent"], context, mask)
    routed = user_hash(context) < _share(spec, now)
    failed = jnp.zeros((), bool)
    if spec.validate:
        failed = decision_failures(mine, mask) & ~now.rolled_back
    serve = routed & ~failed
    weight, baseline = decision_terms(now.arm_rewards, mine.probs, theirs.probs,
                                      theirs.action)
    observes = (spec.candidate.observe is not None or spec.incumbent.observe is not None
                or spec.watch is not None)
    info = StagedInfo(serve, now.stage, failed, now.rolled_back,
                      mine.action != theirs.action, weight, baseline,
                      theirs.action.astype(jnp.int32), (mine, theirs) if observes else ())
    action = jnp.where(serve, mine.action, theirs.action).astype(jnp.int32)
    probs = jnp.where(serve, mine.probs, theirs.probs).astype(theirs.probs.dtype)
    return Decision(action, probs, info)


def _observe(spec: _Spec, params, state: StagedState, noise, context, mask,
             decision: Decision) -> StagedState:
    """After round ``state.round``'s decision: the transition ``decide`` saw, the
    candidate's failures, exposure, shadow disagreement, pending weight and baseline
    recorded, the round counted."""
    now = _advance(spec, state)
    info = decision.info
    n_stages = spec.schedule.shares.shape[0]
    onehot = jnp.arange(n_stages) == now.stage
    live = ~now.rolled_back & (now.stage < n_stages - 1)
    shadow = live & _pick(onehot, spec.schedule.shadow)
    region = (jnp.arange(now.disagreement.shape[0]) == info.region)[:, None]
    counts = vector(1.0, info.disagree)
    slot = jnp.arange(now.pending_hash.shape[0]) == now.round % now.pending_hash.shape[0]
    inner = (now.candidate, now.incumbent)
    if info.decisions:
        inner = (observed(spec.candidate, spec.split(params), now.candidate,
                          noise["candidate"], context, mask, info.decisions[0]),
                 observed(spec.incumbent, spec.incumbent_params, now.incumbent,
                          noise["incumbent"], context, mask, info.decisions[1]))
    return now._replace(
        candidate=inner[0], incumbent=inner[1], round=now.round + 1,
        watch=_watched(spec, now, info, context, mask),
        failures=now.failures + (live & info.failed).astype(jnp.int32),
        exposed=now.exposed + info.candidate.astype(jnp.int32),
        disagreement=now.disagreement + jnp.where(shadow & region, counts, 0.0),
        pending_hash=jnp.where(slot, context_hash(context), now.pending_hash),
        pending_weight=jnp.where(slot, jnp.where(shadow, info.weight, jnp.nan),
                                 now.pending_weight),
        pending_baseline=jnp.where(slot, jnp.where(shadow, info.baseline, jnp.nan),
                                   now.pending_baseline))


def _watched(spec: _Spec, state: StagedState, info: StagedInfo, context, mask):
    """The alert rules' state after the candidate's decision of round ``state.round``."""
    if spec.watch is None:
        return state.watch
    mine = info.decisions[0]
    fallback = jnp.asarray(getattr(mine.info, "fallback", False), bool)
    flags = WatchedFlags(jnp.asarray(info.failed, bool), fallback)
    watched = WatchedRound(mine.action, mine.probs, flags, context, mask,
                           jnp.take(mine.probs, mine.action))
    return spec.watch.step(state.watch, watched, state.round)


def _update(spec: _Spec, params, state: StagedState, context, action, reward
            ) -> StagedState:
    """Both policies learn the reward; the current stage's statistics count it for the
    branch the user's hash says served it, unless it falls in the ambiguous band; a shadow
    decision's reward adds its off-policy terms and feeds the DR reward model."""
    candidate = spec.candidate.update(spec.split(params), state.candidate, context, action,
                                      reward)
    incumbent = spec.incumbent.update(spec.incumbent_params, state.incumbent, context,
                                      action, reward)
    n_stages = spec.schedule.shares.shape[0]
    onehot = jnp.arange(n_stages) == state.stage
    share = _pick(onehot, spec.schedule.shares)
    u = user_hash(context)
    ambiguous = ((state.round - 1 - state.changed_at < spec.window) & (u >= state.band_low)
                 & (u < share))
    counted = ~state.rolled_back & (state.stage < n_stages - 1) & (share > 0) & ~ambiguous
    r = jnp.asarray(reward, jnp.float32)
    moments = vector(1.0, r, r * r)
    row = jnp.arange(2) == jnp.where(u < share, CANDIDATE, INCUMBENT)
    add = counted & row[:, None]
    terms, shadow = shadow_terms(state.pending_hash, state.pending_weight,
                                 state.pending_baseline, context, r)
    return state._replace(candidate=candidate, incumbent=incumbent,
                          stats=state.stats + jnp.where(add, moments, 0.0),
                          ope=state.ope + terms,
                          arm_rewards=learn_reward(state.arm_rewards, shadow, action, r))


def _init(spec: _Spec, params, key) -> StagedState:
    k_cand, k_inc = (None, None) if key is None else jax.random.split(key)
    n_stages = spec.schedule.shares.shape[0]
    zero = jnp.zeros((), jnp.int32)
    return StagedState(
        spec.candidate.init(spec.split(params), k_cand),
        spec.incumbent.init(spec.incumbent_params, k_inc), zero, zero,
        jnp.zeros((), bool), jnp.full((), -1, jnp.int32),
        jnp.where(jnp.arange(n_stages) == 0, 0, -1).astype(jnp.int32), zero,
        jnp.full((), NEVER, jnp.int32), jnp.zeros((), jnp.float32),
        jnp.zeros((2, MOMENTS), jnp.float32), zero, zero,
        jnp.zeros((spec.candidate.n_arms, 2), jnp.float32),
        jnp.zeros((N_OPE,), jnp.float32), jnp.zeros((spec.window + 1,), jnp.uint32),
        jnp.full((spec.window + 1,), jnp.nan, jnp.float32),
        jnp.full((spec.window + 1,), jnp.nan, jnp.float32),
        jnp.zeros((spec.candidate.n_arms, 2), jnp.float32), zero,
        () if spec.watch is None else spec.watch.init())


def _draw(spec: _Spec, params, key) -> dict:
    k_cand, k_inc = jax.random.split(key)
    return {"candidate": spec.candidate.draw(spec.split(params), k_cand),
            "incumbent": spec.incumbent.draw(spec.incumbent_params, k_inc)}


def staged_rollout(candidate: Policy, incumbent: Policy, stages=PLAYBOOK,
                   rule: PromotionRule = DEFAULT_RULE, attribution_window: int = 0,
                   incumbent_params=None, validate: bool = True, name: str | None = None,
                   watch: Watch | None = None) -> Policy:
    """``candidate`` rolled out against ``incumbent`` along ``stages`` (see the module
    docstring): one policy whose state is the rollout.

    Args:
        candidate: the new policy; its params are the wrapper's (a grid sweeps it).
        incumbent: the policy in production, with fixed params.
        stages: the schedule, :class:`Stage` s (default :data:`PLAYBOOK`), checked by
            :func:`check_stages`.
        rule: how a stage with traffic ends (:class:`PromotionRule`, :func:`check_rule`).
        attribution_window: the latest a reward arrives, in rounds (0: in its own
            round); rewards of the ambiguous band are dropped that long after a change.
        incumbent_params: the incumbent's fixed params (default its defaults).
        validate: check every candidate decision (:func:`bandits.safety.decision_failures`;
            a failure is served by the incumbent and rolls back); ``False`` for a
            candidate known to be valid, which compiles and runs faster.
        name: ``"staged_<candidate>_<incumbent>"`` by default.
        watch: alert rules on the candidate's decisions (:class:`Watch`, e.g. a
            monitor's high-severity rules through :func:`envs.monitor.rollout_watch`):
            while one is active the rollout rolls back, in any stage.

    Returns:
        A policy with the candidate's params, state :class:`StagedState` and
        ``Decision.info`` :class:`StagedInfo`. Both policies learn from every reward.
    """
    stages = check_stages(stages)
    rule = check_rule(PromotionRule(*rule))
    check_value("staged_rollout.attribution_window", Range(0, 2**20, integer=True),
                attribution_window)
    if watch is not None and watch.reads_failures and not validate:
        raise ConfigError("staged_rollout.watch reads the candidate's failed decisions "
                          "(error_rate), which needs validate=True, got validate=False")
    if (incumbent.n_arms, incumbent.dim) != (candidate.n_arms, candidate.dim):
        raise ConfigError(f"staged_rollout.incumbent {incumbent.name!r} has n_arms="
                          f"{incumbent.n_arms}, dim={incumbent.dim}; candidate "
                          f"{candidate.name!r} has n_arms={candidate.n_arms}, "
                          f"dim={candidate.dim}")
    fixed = incumbent.default_params if incumbent_params is None else incumbent_params
    spec = _Spec(candidate, incumbent, fixed, lambda params: params,
                 compiled_schedule(stages, rule), rule, int(attribution_window),
                 bool(validate), watch)
    policy = Policy(name or f"staged_{candidate.name}_{incumbent.name}", candidate.n_arms,
                    candidate.dim, candidate.default_params, partial(_init, spec),
                    partial(_draw, spec), partial(_decide, spec), partial(_update, spec),
                    partial(_observe, spec))
    return forward_training(policy, (Inner(candidate, spec.split, "candidate"),
                                     Inner(incumbent, lambda params: fixed, "incumbent")))

