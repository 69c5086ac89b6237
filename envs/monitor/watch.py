"""A monitor's alert rules watching a staged rollout's candidate
(:class:`bandits.staged.Watch`): the KPIs of the candidate's own decisions, every round and
in every stage (staging and shadow included: the candidate decides there too), with the
definitions of :mod:`envs.monitor.online`; while a rule is active the rollout rolls back.

Rules on the candidate's decisions and the users' contexts are watched: ``max_share``,
``share_entropy``, ``action_entropy``, ``exploration_rate``, ``min_propensity``,
``error_rate`` (its failed decisions), ``fallback_rate`` (its own safety layer's) and
``context_drift``. Rules on rewards are not: the candidate sees rewards only of the users
it serves, and the rollout compares them with the incumbent's on the same stage's
traffic (``PromotionRule.guard_ratio``, the ``reward_drop`` rule's condition); ``regret``
needs the truth, which a deployment does not have.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from bandits.staged import Watch
from common.errors import ConfigError
from envs.monitor.online import LaneMonitor, MonitorState, close_hop, step
from envs.monitor.rules import MonitorSpec

UNWATCHED = ("avg_reward", "regret")  # KPIs a rollout's watch cannot read


def _checked(spec: MonitorSpec, where: str) -> MonitorSpec:
    for rule in spec.rules:
        if rule.kpi in UNWATCHED:
            raise ConfigError(
                f"{where}.rules.{rule.name}: a rollout's alert rules read the candidate's "
                f"decisions, not {rule.kpi} ({rule.when!r}); the rollout compares "
                f"rewards with the incumbent's on the stage's traffic "
                f"(rule.guard_ratio), and regret needs the truth")
    return spec


def active_now(monitor: LaneMonitor, state: MonitorState) -> Array:
    """() bool: whether any rule of ``monitor`` is active, at any of its thresholds, after
    the last evaluation."""
    hop = monitor.spec.hop
    flags = [jnp.any(rs.streak >= rule.for_rounds // hop + 1)
             for rule, rs in zip(monitor.spec.rules, state.rules)]
    return jnp.any(jnp.stack(flags))


def rollout_watch(spec: MonitorSpec, n_arms: int, dim: int, where: str = "monitor"
                  ) -> Watch:
    """A :class:`bandits.staged.Watch` of ``spec``'s rules (all of them: choose the
    high-severity ones before) on a candidate with ``n_arms`` arms and ``dim``
    features. Raises ``ConfigError`` naming ``<where>.rules.<name>`` for a rule on
    rewards or regret."""
    monitor = LaneMonitor(_checked(spec, where), n_arms, dim)
    hop = spec.hop

    def step_round(state: MonitorState, watched, t: Array) -> MonitorState:
        state = step(monitor, state, watched)
        seen = t + 1
        return jax.lax.cond(seen % hop == 0, lambda m: close_hop(monitor, m, seen),
                            lambda m: m, state)

    return Watch(init=monitor.init, step=step_round,
                 alarm=lambda state: active_now(monitor, state),
                 reads_failures=any(rule.kpi == "error_rate" for rule in spec.rules))
