"""An audit of what a policy served: per-lane counters kept in its state, exact by round.

:func:`audited` wraps a policy without changing a number it draws, decides or learns: its
decision passes through as it is (``Decision.info`` included, so a monitor reads the
same), and in ``observe`` the wrapper counts, for the decision actually served, every
reason :func:`bandits.safety.failure_reasons` rejects it for (with the study's timeout),
whether it was invalid at all, whether the safety layer's fallback served it
(``SafetyInfo.fallback``) and whether a circuit breaker opened after it (its
``reopen_at`` moved, which every opening does and nothing else does). The counts come
back with the rollout's final state (``Rollout.final_state.counts``), one per seed.

With ``pair_noise`` the wrapper initialises the policy and draws its noise from the
first key of ``split(key)``, as the safety layer's guarded branch does (:mod:`bandits.safety`), so a
bare run and a guarded one of the same seed decide from the same random numbers until
the safety layer first intervenes (common random numbers: the two runs differ only where
the guard changed what was served).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from bandits.base import Decision, Inner, Policy, forward_training, observed
from bandits.safety import FAILURE_REASONS, BreakerState, failure_reasons


class AuditCounts(NamedTuple):
    """Rounds counted over a run (int32 each)."""

    invalid: Array  # () served decisions that fail validation
    reasons: Array  # (len(FAILURE_REASONS),) served decisions failing each check
    fallback: Array  # () decisions the safety layer's fallback served
    openings: Array  # () times a circuit breaker opened


class AuditState(NamedTuple):
    inner: Any  # the audited policy's state
    counts: AuditCounts


def _zero_counts(n_reasons: int) -> AuditCounts:
    zero = jnp.zeros((), jnp.int32)
    return AuditCounts(zero, jnp.zeros((n_reasons,), jnp.int32), zero, zero)


def _opened(before: Any, after: Any) -> Array:
    """() bool: a circuit breaker opened between the two states (0 for other states)."""
    if isinstance(before, BreakerState):
        return after.reopen_at != before.reopen_at
    return jnp.zeros((), bool)


def _counted(counts: AuditCounts, decision: Decision, mask: Array, timeout: float,
             opened: Array) -> AuditCounts:
    reasons = failure_reasons(decision, mask, timeout)
    fallback = jnp.asarray(getattr(decision.info, "fallback", False), bool)
    return AuditCounts(counts.invalid + jnp.any(reasons).astype(jnp.int32),
                       counts.reasons + reasons.astype(jnp.int32),
                       counts.fallback + fallback.astype(jnp.int32),
                       counts.openings + opened.astype(jnp.int32))


def audited(policy: Policy, timeout: float = math.inf, pair_noise: bool = False,
            name: str | None = None) -> Policy:
    """``policy`` unchanged, with :class:`AuditCounts` of its served decisions kept in
    its state (see the module docstring).

    Args:
        policy: the policy as served (bare, or inside the safety layer).
        timeout: the latency in ms above which a served decision counts as ``too_slow``.
        pair_noise: draw the noise as a safety layer's guarded branch does (a bare run
            paired with a guarded one); otherwise exactly as ``policy`` does.
        name: the wrapped policy's name (``policy.name`` by default).

    Returns:
        A policy with ``policy``'s params, decisions and updates (and noise, unless
        ``pair_noise``), and state :class:`AuditState`.
    """
    def first(key):
        return jax.random.split(key)[0] if pair_noise and key is not None else key

    def init(params, key) -> AuditState:
        return AuditState(policy.init(params, first(key)), _zero_counts(len(FAILURE_REASONS)))

    def draw(params, key):
        return policy.draw(params, first(key))

    def decide(params, state: AuditState, noise, context, mask) -> Decision:
        return policy.decide(params, state.inner, noise, context, mask)

    def update(params, state: AuditState, context, action, reward) -> AuditState:
        return state._replace(inner=policy.update(params, state.inner, context, action,
                                                  reward))

    def observe(params, state: AuditState, noise, context, mask, decision) -> AuditState:
        inner = observed(policy, params, state.inner, noise, context, mask, decision)
        counts = _counted(state.counts, decision, mask, timeout, _opened(state.inner, inner))
        return AuditState(inner, counts)

    return forward_training(Policy(name or policy.name, policy.n_arms, policy.dim,
                                   policy.default_params, init, draw, decide, update,
                                   observe), (Inner(policy, lambda params: params, "inner"),))
