"""Bandit policies: pure functions for one round of one simulation.

>>> import bandits
>>> policy = bandits.make("lin_ucb", n_arms=5, dim=10, alpha=0.5)
>>> params = policy.default_params
"""

from bandits.base import Decision, Policy
from bandits.combinators import exploration_floor, restart
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

__all__ = ["Decision", "Policy", "PolicySpec", "REGISTRY", "make", "names", "register",
           "registered", "restart", "exploration_floor", "spec", "unregister",
           "validate"]
