"""Bandit policies: pure functions for one round of one simulation.

>>> import bandits
>>> policy = bandits.make("lin_ucb", n_arms=5, dim=10, alpha=0.5)
>>> params = policy.default_params
"""

from bandits.base import Decision, Policy
from bandits.registry import REGISTRY, PolicySpec, make, names, spec, validate
from common.validation import Range

__all__ = ["Decision", "Policy", "PolicySpec", "Range", "REGISTRY", "make", "names",
           "spec", "validate"]
