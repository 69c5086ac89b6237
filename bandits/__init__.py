"""Bandit policies: pure functions for one round of one simulation.

>>> import bandits
>>> policy = bandits.make("lin_ucb", n_arms=5, dim=10, alpha=0.5)
>>> params = policy.default_params
"""

from bandits.base import Decision, Policy
from bandits.combinators import exploration_floor, restart
from bandits.faults import faulty
from bandits.registry import (
    REGISTRY,
    PolicySpec,
    make,
    names,
    register,
    registered,
    spec,
    unregister,
    validate,
)
from bandits.safety import (
    circuit_breaker,
    decision_failures,
    failure_reasons,
    traffic_cap,
    user_hash,
    validated,
)
from bandits.staged import PLAYBOOK, PromotionRule, Stage, staged_rollout

__all__ = ["Decision", "PLAYBOOK", "Policy", "PolicySpec", "PromotionRule", "REGISTRY",
           "Stage", "circuit_breaker", "decision_failures", "exploration_floor",
           "failure_reasons", "faulty", "make", "names", "register", "registered",
           "restart", "spec", "staged_rollout", "traffic_cap", "unregister", "user_hash",
           "validate", "validated"]
