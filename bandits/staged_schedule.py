"""A staged rollout's schedule and promotion rule (:func:`bandits.staged.staged_rollout`):
the stages, the rule, their checks, and the schedule as the compiled program reads it."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from common.errors import ConfigError
from common.validation import Choice, Range

RULES = ("confidence", "sequential")
FOREVER = 2**30  # the duration of the last stage


class Stage(NamedTuple):
    """One step of the schedule: ``rounds`` long (``None``: until the end, the last stage
    only), the candidate serving users with hash below ``share``; ``tolerance`` and
    ``alpha`` override the rule's for this stage; ``shadow``: the candidate decides
    beside the incumbent (share 0 only)."""

    name: str
    rounds: int | None
    share: float
    tolerance: float | None = None
    alpha: float | None = None
    shadow: bool = False


class PromotionRule(NamedTuple):
    """How a stage with traffic ends (see the module docstring)."""

    kind: str = "confidence"
    alpha: float = 0.05
    tolerance: float = 0.02
    look_every: int = 100
    tau: float = 0.05
    guard_ratio: float = 0.8
    min_rewards: int = 100


DEFAULT_RULE = PromotionRule()

# The playbook: canary stages of 3,000 rounds, each allowing a smaller shortfall than the
# one before (tolerances in reward units: they suit rewards whose mean is near 1).
PLAYBOOK = (Stage("staging", 500, 0.0), Stage("shadow", 1000, 0.0, shadow=True),
            Stage("canary_5", 3000, 0.05, tolerance=0.15),
            Stage("canary_10", 3000, 0.10, tolerance=0.10),
            Stage("canary_20", 3000, 0.20, tolerance=0.05),
            Stage("canary_50", 3000, 0.50, tolerance=0.02), Stage("full", None, 1.0))

_RULE_RANGES = {"alpha": Range(0.0, 0.5, low_open=True), "tolerance": Range(0.0),
                "look_every": Range(1, 2**30, integer=True),
                "tau": Range(0.0, math.inf, low_open=True, high_open=True),
                "guard_ratio": Range(0.0, 1.0),
                "min_rewards": Range(2, 2**30, integer=True)}


def check_value(where: str, spec, value) -> None:
    try:
        spec.check(where, value)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def check_rule(rule: PromotionRule, where: str = "staged_rollout.rule") -> PromotionRule:
    """``rule`` with every field in range; raises ``ConfigError`` naming
    ``<where>.<field>`` and the value."""
    check_value(f"{where}.kind", Choice(RULES), rule.kind)
    for key, spec in _RULE_RANGES.items():
        check_value(f"{where}.{key}", spec, getattr(rule, key))
    return rule


def check_stages(stages, where: str = "staged_rollout.stages") -> tuple[Stage, ...]:
    """The schedule, checked: shares in [0, 1] and not decreasing, a whole number of
    rounds for every stage but the last, the last at share 1, shadow stages at share 0,
    overrides in the rule's ranges; errors name ``<where>[i].<key>`` and the value."""
    stages = tuple(stages)
    if len(stages) < 2:
        raise ConfigError(f"{where} needs at least two stages (the last is full), got "
                          f"{len(stages)}")
    previous = 0.0
    for i, stage in enumerate(stages):
        here, last = f"{where}[{i}]", i == len(stages) - 1
        check_value(f"{here}.share", Range(0.0, 1.0), stage.share)
        if stage.share < previous:
            raise ConfigError(f"{here}.share must not be below the previous stage's "
                              f"{previous!r} (shares only grow), got {stage.share!r}")
        previous = stage.share
        if last and stage.share != 1.0:
            raise ConfigError(f"{here}.share must be 1.0 (the last stage is the full "
                              f"rollout), got {stage.share!r}")
        if not last or stage.rounds is not None:
            check_value(f"{here}.rounds", Range(1, FOREVER, integer=True), stage.rounds)
        if stage.shadow and stage.share != 0.0:
            raise ConfigError(f"{here}.shadow needs share 0 (the incumbent serves), got "
                              f"share {stage.share!r}")
        for key in ("tolerance", "alpha"):
            if getattr(stage, key) is not None:
                check_value(f"{here}.{key}", _RULE_RANGES[key], getattr(stage, key))
    return stages


class Schedule(NamedTuple):
    """The schedule as the program reads it (host arrays, one entry per stage)."""

    shares: np.ndarray  # (S,) float32
    rounds: np.ndarray  # (S,) int32, FOREVER for the last
    tolerance: np.ndarray  # (S,) float32
    z: np.ndarray  # (S,) float32 one-sided normal quantile 1 − alpha
    log_bound: np.ndarray  # (S,) float32 log(1/alpha), the mixture SPRT's threshold
    shadow: np.ndarray  # (S,) bool


def compiled_schedule(stages: tuple[Stage, ...], rule: PromotionRule) -> Schedule:
    alpha = [rule.alpha if s.alpha is None else s.alpha for s in stages]
    rounds = [FOREVER if s.rounds is None else int(s.rounds) for s in stages]
    rounds[-1] = FOREVER
    return Schedule(np.array([s.share for s in stages], np.float32),
                     np.array(rounds, np.int32),
                     np.array([rule.tolerance if s.tolerance is None else s.tolerance
                               for s in stages], np.float32),
                     np.array([NormalDist().inv_cdf(1 - a) for a in alpha], np.float32),
                     np.array([math.log(1 / a) for a in alpha], np.float32),
                     np.array([s.shadow for s in stages], bool))
