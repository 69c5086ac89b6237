"""The monitor inside the engine: one lane's KPIs over rolling windows and its alert
rules, in the compiled round loop.

Every round adds its sums to the current hop's, only those the rules read: the reward,
the regret, the entropy of the policy's distribution, whether the action was not its most
likely one, whether the decision failed validation, the action (one-hot), the context
and its square, and the hop's smallest propensity. Every ``hop`` rounds the hop's sums
enter a ring of the last hops, newest first, and each rule reads its window as the sum
of its newest ``window / hop`` hops: O(K + d) a round, O(hops · (K + d)) an evaluation.
The engine's blocks of rounds divide the hop, so a hop closes at the end of a block, in
one ``lax.cond`` for the whole lane group: the round loop itself only adds. The
definitions are those of :mod:`envs.monitor.reference` (its NumPy twin, against which
this is tested).

The rules' results per lane (:class:`RuleState`): the first round an alert was active
after ``watch_from`` (the round an incident starts, 0 for a healthy run), its number
of episodes in all and before ``watch_from``, and its number of active evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from bandits.base import Decision
from bandits.safety import decision_failures
from envs.monitor.rules import AlertRule, MonitorSpec

# KPI -> the per-round sums it reads (besides the count of rounds, known statically)
NEEDS = {"avg_reward": ("reward",), "regret": ("regret",), "action_entropy": ("entropy",),
         "exploration_rate": ("explored",), "error_rate": ("failed",),
         "fallback_rate": ("fallback",),
         "max_share": ("shares",), "share_entropy": ("shares",),
         "context_drift": ("context", "square"), "min_propensity": ()}
MEAN_KPIS = {"avg_reward": "reward", "regret": "regret", "action_entropy": "entropy",
             "exploration_rate": "explored", "error_rate": "failed",
             "fallback_rate": "fallback"}


class RuleState(NamedTuple):
    """One rule's alert state and results, one entry per threshold (Th,)."""

    streak: Array  # int32 consecutive evaluations at which the condition held
    first: Array  # int32 first round the alert was active after watch_from, or −1
    episodes: Array  # int32 runs of consecutive active evaluations
    episodes_before: Array  # int32 of them, those that began by round watch_from
    active: Array  # int32 evaluations at which the alert was active


class MonitorState(NamedTuple):
    """One lane's monitor: the current hop, the ring of past hops, the reference. Sums
    are dicts of the columns the rules read (:data:`NEEDS`); a ring's columns have a
    leading axis of S hops, newest first."""

    hop: dict  # the current hop's sums (and ``least``, its smallest propensity)
    ring: dict  # the last S hops' sums
    reference: dict  # sums over the reference rounds
    rules: tuple  # RuleState per rule


@dataclass(frozen=True)
class LaneMonitor:
    """A monitor of ``spec`` for a world of ``n_arms`` arms and ``dim`` features;
    detection is counted from round ``watch_from`` on."""

    spec: MonitorSpec
    n_arms: int
    dim: int
    watch_from: int = 0

    def __post_init__(self):
        if self.spec.reference % self.spec.hop:
            raise ValueError(f"monitor.reference={self.spec.reference} must be a multiple "
                             f"of monitor.hop={self.spec.hop}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-round sums the rules read, and ``least`` for the smallest
        propensity."""
        kpis = {rule.kpi for rule in self.spec.rules}
        names = {c for k in kpis for c in NEEDS[k]}
        if any(r.relative for r in self.spec.rules) and self.spec.baseline is None:
            names.add("reward")
        order = ("reward", "regret", "entropy", "explored", "failed", "fallback", "shares",
                 "context", "square")
        return tuple(c for c in order if c in names) + (
            ("least",) if "min_propensity" in kpis else ())

    @property
    def slots(self) -> int:
        return max(rule.window for rule in self.spec.rules) // self.spec.hop

    def empty(self) -> dict:
        """The sums of no round."""
        shapes = {"shares": (self.n_arms,), "context": (self.dim,), "square": (self.dim,)}
        return {c: jnp.full(shapes.get(c, ()), jnp.inf if c == "least" else 0.0,
                            jnp.float32) for c in self.columns}

    def init(self) -> MonitorState:
        """A lane's monitor before its first round."""
        rules = tuple(RuleState(*(jnp.full((len(r.thresholds),), v, jnp.int32)
                                  for v in (0, -1, 0, 0, 0))) for r in self.spec.rules)
        empty = self.empty()
        ring = {c: jnp.broadcast_to(v, (self.slots,) + v.shape) for c, v in empty.items()}
        return MonitorState(empty, ring, {c: v for c, v in empty.items() if c != "least"},
                            rules)


def _failed(record) -> Array:
    """Whether a round's decision failed: ``Decision.info.failed`` when the decision
    says (the safety layer: the guarded policy's decision failed, whoever served), else
    the decision as served checked by :func:`bandits.safety.decision_failures` (an arm
    out of range or ineligible, probabilities not finite, negative or not summing to 1,
    a zero propensity), so a bare faulty policy's errors count too."""
    failed = getattr(record.info, "failed", None)
    if failed is None:
        failed = decision_failures(Decision(record.action, record.probs, record.info),
                                   record.mask)
    return jnp.asarray(failed, jnp.float32)


def round_sums(monitor: LaneMonitor, record) -> dict:
    """The sums one round adds, from its record (reward, regret, action, probs, info,
    context, propensity): only the columns the rules read."""
    probs = record.probs
    values = {}
    for c in monitor.columns:
        if c == "entropy":
            logs = jnp.log(jnp.where(probs > 0, probs, 1.0))
            values[c] = -jnp.sum(probs * logs)
        elif c == "explored":
            values[c] = (record.action != jnp.argmax(probs)).astype(jnp.float32)
        elif c == "failed":
            values[c] = _failed(record)
        elif c == "fallback":  # 0 for a policy without a safety layer
            values[c] = jnp.asarray(getattr(record.info, "fallback", False), jnp.float32)
        elif c == "shares":
            values[c] = (jnp.arange(monitor.n_arms) == record.action).astype(jnp.float32)
        elif c == "context":
            values[c] = record.context
        elif c == "square":
            values[c] = record.context * record.context
        elif c == "least":
            values[c] = record.propensity
        else:
            values[c] = getattr(record, c)
    return {c: v.astype(jnp.float32) for c, v in values.items()}


def step(monitor: LaneMonitor, state: MonitorState, record) -> MonitorState:
    """One lane's monitor after a round: its sums added to the current hop's. The
    engine closes the hop (:func:`close_hop`) at the end of its last round."""
    row = round_sums(monitor, record)
    return state._replace(hop={c: jnp.minimum(state.hop[c], v) if c == "least"
                               else state.hop[c] + v for c, v in row.items()})


def close_hop(monitor: LaneMonitor, state: MonitorState, seen: Array) -> MonitorState:
    """The monitor once ``seen`` rounds are over, the end of a hop: the hop enters the
    ring (and the reference while ``seen`` is within it), every rule is evaluated, and a
    new hop starts."""
    ring = {c: jnp.concatenate([state.hop[c][None], state.ring[c][:-1]]) for c in state.ring}
    in_reference = (seen <= monitor.spec.reference).astype(jnp.float32)
    reference = {c: v + in_reference * state.hop[c] for c, v in state.reference.items()}
    rules = tuple(_judge(monitor, rule, rs, ring, reference, seen)
                  for rule, rs in zip(monitor.spec.rules, state.rules))
    return MonitorState(monitor.empty(), ring, reference, rules)


def window_value(monitor: LaneMonitor, kpi: str, sums: dict, n: int,
                 reference: dict) -> Array:
    """KPI ``kpi`` of a window of ``n`` rounds whose sums are ``sums``, for the KPIs that
    are not a count over rounds (:data:`COUNTED` are compared as sums in
    :func:`_condition`); ``reference`` holds the reference rounds' sums."""
    if kpi == "min_propensity":
        return sums["least"]
    if kpi == "context_drift":
        return _drift(sums, n, reference, monitor.spec.reference)
    if kpi == "share_entropy":
        shares = sums["shares"] / n
        return -jnp.sum(shares * jnp.log(jnp.where(shares > 0, shares, 1.0)))
    raise ValueError(f"KPI {kpi!r} is compared as a count over rounds (COUNTED)")


def _moments(sums: dict, n: int) -> tuple[Array, Array]:
    mean = sums["context"] / n
    return mean, jnp.maximum(sums["square"] / n - mean * mean, 0.0)


def _drift(sums: dict, n: int, reference: dict, n_reference: int) -> Array:
    """The largest standardised mean difference of a feature between the window and the
    reference; a feature constant in both counts 0."""
    m_w, v_w = _moments(sums, n)
    m_r, v_r = _moments(reference, n_reference)
    pooled = (v_w + v_r) / 2
    smd = jnp.abs(m_w - m_r) / jnp.sqrt(jnp.where(pooled > 0, pooled, 1.0))
    return jnp.max(jnp.where(pooled > 0, smd, 0.0))


COUNTED = {**MEAN_KPIS, "max_share": "shares"}  # KPIs that are a sum over rounds / n


def _condition(monitor: LaneMonitor, rule: AlertRule, ring: dict, reference: dict,
               seen: Array) -> Array:
    """(Th,) whether ``rule``'s condition holds once ``seen`` rounds are over: false
    before its window (and, when it reads the reference, the reference) is full.

    A KPI that is a sum over the window's n rounds divided by n is compared as the sum
    against threshold × n, computed in float64 before the program runs: a share of
    counts that equals its threshold then compares as equal, as in the reference."""
    hops = rule.window // monitor.spec.hop
    window = {c: (jnp.min if c == "least" else jnp.sum)(v[:hops], 0) for c, v in ring.items()}
    n = rule.window if rule.kpi in COUNTED else 1
    if rule.kpi == "max_share":
        value = jnp.max(window["shares"])
    elif rule.kpi in MEAN_KPIS:
        value = window[MEAN_KPIS[rule.kpi]]
    else:
        value = window_value(monitor, rule.kpi, window, rule.window, reference)
    limits = jnp.asarray(np.asarray(rule.thresholds, np.float64) * n, jnp.float32)
    needs_reference = rule.kpi == "context_drift" or (rule.relative
                                                      and monitor.spec.baseline is None)
    if rule.relative:
        baseline = (reference["reward"] / monitor.spec.reference
                    if monitor.spec.baseline is None else jnp.float32(monitor.spec.baseline))
        limits = limits * baseline
    holds = value < limits if rule.op == "<" else value > limits
    ready = seen >= rule.window
    if needs_reference:
        ready = ready & (seen >= monitor.spec.reference)
    return holds & ready


def _judge(monitor: LaneMonitor, rule: AlertRule, rs: RuleState, ring: dict,
           reference: dict, seen: Array) -> RuleState:
    """``rule``'s state after an evaluation once ``seen`` rounds are over."""
    holds = _condition(monitor, rule, ring, reference, seen)
    streak = jnp.where(holds, rs.streak + 1, 0)
    active = streak >= rule.for_rounds // monitor.spec.hop + 1
    was_active = rs.streak >= rule.for_rounds // monitor.spec.hop + 1
    begins = active & ~was_active
    after = seen > monitor.watch_from
    first = jnp.where((rs.first < 0) & active & after, seen, rs.first)
    return RuleState(streak, first.astype(jnp.int32), rs.episodes + begins,
                     rs.episodes_before + (begins & ~after), rs.active + active)


def lane_monitor(monitor: MonitorSpec | LaneMonitor | None, env) -> LaneMonitor | None:
    """The monitor a run keeps: ``None``, a :class:`LaneMonitor` as given, or one of a
    :class:`MonitorSpec` for ``env``'s arms and features, counting detections from the
    first round."""
    if monitor is None or isinstance(monitor, LaneMonitor):
        return monitor
    if not isinstance(monitor, MonitorSpec):
        raise ValueError(f"monitor must be an envs.monitor.MonitorSpec, a LaneMonitor or "
                         f"None, got {monitor!r}")
    return LaneMonitor(monitor, env.n_arms, env.dim)


def alert_results(monitor: LaneMonitor, state: MonitorState, per_seed) -> dict:
    """Every rule's results, ``{rule: {first, episodes, episodes_before, active}}``, each
    (G, S, Th) int, from the lanes' final monitor states; ``per_seed`` maps a lane-batched
    leaf to (G, S, ...)."""
    return {rule.name: {field: per_seed(getattr(rs, field))
                        for field in ("first", "episodes", "episodes_before", "active")}
            for rule, rs in zip(monitor.spec.rules, state.rules)}
