"""Which of a monitor's alert rules roll a staged rollout back, and how.

The playbook rolls back on any high-severity alert. Of the monitor's high-severity rules
(``conf/monitor/``, ``severity: high``):

* rules on the candidate's decisions and the users' contexts watch the candidate every
  round (:func:`envs.monitor.watch.rollout_watch`);
* a ``avg_reward < f * baseline`` rule is the rollout's guardrail, which compares the
  candidate's mean reward with the incumbent's on the stage's concurrent traffic (the
  baseline a canary has): its factor must equal ``rollout.rule.guard_ratio``;
* any other rule on rewards (a fixed baseline, ``>``, several factors) or on regret
  (which needs the truth) is refused with its name.

Rules of lower severity do not roll back; the summary lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from bandits.staged import PromotionRule, Watch
from common.errors import ConfigError
from envs.monitor.rules import AlertRule, monitor_spec
from envs.monitor.watch import UNWATCHED, rollout_watch


class RolloutAlerts(NamedTuple):
    """The rules of a monitor, sorted by what they do in a rollout."""

    watch: Watch | None  # the watched rules, None without any
    watched: tuple[str, ...]  # names of rules on the candidate's decisions
    guardrail: tuple[str, ...]  # names of rules the guardrail implements
    not_rolling_back: tuple[str, ...]  # names of rules below high severity


NONE = RolloutAlerts(None, (), (), ())


def _is_guardrail(rule: AlertRule, guard_ratio: float) -> bool:
    """Whether ``rule`` is the guardrail's condition; raises ``ConfigError`` for a rule
    on rewards or regret that a rollout cannot apply."""
    where = f"monitor.rules.{rule.name}"
    if rule.kpi == "regret":
        raise ConfigError(f"{where}: {rule.when!r} needs the truth, which a rollout does "
                          f"not have; give it a severity below high")
    shape_ok = rule.relative and rule.op == "<" and len(rule.thresholds) == 1
    if not shape_ok:
        raise ConfigError(f"{where}: a rollout judges rewards against the incumbent's on "
                          f"the stage's traffic, as 'avg_reward < f * baseline' with one "
                          f"factor f; got {rule.when!r}")
    if rule.thresholds[0] != guard_ratio:
        raise ConfigError(f"{where}: {rule.when!r} is the rollout's guardrail, whose "
                          f"factor is rollout.rule.guard_ratio={guard_ratio!r}; make them "
                          f"equal")
    return True


def rollout_alerts(monitor: Mapping[str, Any] | None, rule: PromotionRule, n_arms: int,
                   dim: int) -> RolloutAlerts:
    """The monitor config's rules (``None``: no monitor) sorted for a rollout of a
    candidate with ``n_arms`` arms and ``dim`` features under ``rule``."""
    if not monitor:
        return NONE
    spec = monitor_spec(monitor)
    high = [r for r in spec.rules if r.severity == "high"]
    guardrail = tuple(r.name for r in high
                      if r.kpi in UNWATCHED and _is_guardrail(r, rule.guard_ratio))
    watched = tuple(r for r in high if r.kpi not in UNWATCHED)
    watch = (rollout_watch(replace(spec, rules=watched), n_arms, dim) if watched
             else None)
    return RolloutAlerts(watch, tuple(r.name for r in watched), guardrail,
                         tuple(r.name for r in spec.rules if r.severity != "high"))
