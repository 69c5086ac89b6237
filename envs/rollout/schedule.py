"""The staged-rollout study's ``rollout`` config, checked where it enters: the schedule
(``rollout.stages``), the promotion rule (``rollout.rule``) and the world of known lifts
(``rollout.lifts``, ``value``, ``noise_std``, ``epsilon``, ``dim``). Every error is a
``ConfigError`` naming the key (``rollout.stages[2].share``) and the value, raised before
anything is compiled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from bandits.faults import faulty
from bandits.staged import PLAYBOOK, PromotionRule, Stage, check_rule, check_stages
from bandits.staged_schedule import check_value
from common.errors import ConfigError
from common.validation import Range
from envs.rollout.candidates import fixed_arm

STAGE_KEYS = ("name", "rounds", "share", "tolerance", "alpha", "shadow")
WORLD_KEYS = {"value": Range(0.0, math.inf, low_open=True, high_open=True),
              "noise_std": Range(0.0, math.inf, high_open=True),
              "epsilon": Range(0.0, 1.0, low_open=True, high_open=True),
              "dim": Range(2, 1024, integer=True)}
ROLLOUT_KEYS = ("lifts", "stages", "rule", "candidate_faults", *WORLD_KEYS)
FAULT_KEYS = ("nan_rate", "outages", "stale_from", "corrupt_at", "corruption",
              "latency_mean", "latency_sigma", "greedy_from", "propensity_lost_from")
LIFT = Range(-0.9, 10.0)


class RolloutConfig(NamedTuple):
    """The checked ``rollout`` config."""

    stages: tuple[Stage, ...]
    rule: PromotionRule
    lifts: tuple[float, ...]
    value: float = 1.0
    noise_std: float = 0.5
    epsilon: float = 0.1
    dim: int = 4
    candidate_faults: tuple[tuple[str, Any], ...] = ()  # faulty()'s arguments, sorted

    @property
    def rollout_rounds(self) -> int:
        """Rounds before the last stage (full) can begin."""
        return sum(int(s.rounds) for s in self.stages[:-1])


def _unknown(where: str, given: Mapping[str, Any], allowed) -> None:
    extra = sorted(set(given) - set(allowed))
    if extra:
        raise ConfigError(f"{where} has no key {extra[0]!r} (= {given[extra[0]]!r}); "
                          f"allowed: {', '.join(allowed)}")


def stage_from_config(i: int, entry: Any) -> Stage:
    """``rollout.stages[i]`` as a :class:`Stage` (its values are checked with the whole
    schedule by :func:`bandits.staged.check_stages`)."""
    where = f"rollout.stages[{i}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping of {', '.join(STAGE_KEYS)}, got "
                          f"{entry!r}")
    _unknown(where, entry, STAGE_KEYS)
    for key in ("share",):
        if key not in entry:
            raise ConfigError(f"{where}.{key} is required")
    name = entry.get("name", f"stage_{i}")
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, got {name!r}")
    shadow = entry.get("shadow", False)
    if not isinstance(shadow, bool):
        raise ConfigError(f"{where}.shadow must be true or false, got {shadow!r}")
    return Stage(name, entry.get("rounds"), entry["share"], entry.get("tolerance"),
                 entry.get("alpha"), shadow)


def stages_from_config(entries: Any) -> tuple[Stage, ...]:
    """``rollout.stages`` (a list of mappings; ``None``: the playbook), checked."""
    if entries is None:
        return PLAYBOOK
    if isinstance(entries, (str, Mapping)) or not hasattr(entries, "__iter__"):
        raise ConfigError(f"rollout.stages must be a list of stages, got {entries!r}")
    return check_stages([stage_from_config(i, e) for i, e in enumerate(entries)],
                        "rollout.stages")


def rule_from_config(entry: Any) -> PromotionRule:
    """``rollout.rule`` (a mapping of :class:`PromotionRule` fields; ``None``: the
    defaults), checked."""
    if entry is None:
        return PromotionRule()
    if not isinstance(entry, Mapping):
        raise ConfigError(f"rollout.rule must be a mapping, got {entry!r}")
    _unknown("rollout.rule", entry, PromotionRule._fields)
    return check_rule(PromotionRule(**entry), "rollout.rule")


def lifts_from_config(values: Any) -> tuple[float, ...]:
    """``rollout.lifts``: distinct relative lifts, each in [−0.9, 10]."""
    if isinstance(values, (str, Mapping)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"rollout.lifts must be a list of numbers, got {values!r}")
    values = list(values)
    if not values:
        raise ConfigError("rollout.lifts must hold at least one lift, got []")
    for i, v in enumerate(values):
        check_value(f"rollout.lifts[{i}]", LIFT, v)
    if len(set(values)) != len(values):
        raise ConfigError(f"rollout.lifts must be distinct, got {values!r}")
    return tuple(float(v) for v in values)


def faults_from_config(entry: Any) -> tuple[tuple[str, Any], ...]:
    """``rollout.candidate_faults``: :func:`bandits.faults.faulty`'s arguments injected
    into every candidate (``None``: none), checked by building a faulty policy once."""
    if entry is None:
        return ()
    if not isinstance(entry, Mapping):
        raise ConfigError(f"rollout.candidate_faults must be a mapping of "
                          f"{', '.join(FAULT_KEYS)}, got {entry!r}")
    _unknown("rollout.candidate_faults", entry, FAULT_KEYS)
    faults = tuple(sorted((k, _plain(v)) for k, v in entry.items()))
    try:
        faulty(fixed_arm(2, 1), **dict(faults))
    except ValueError as e:
        raise ConfigError(str(e).replace("faulty.", "rollout.candidate_faults.")) from None
    return faults


def _plain(value: Any) -> Any:
    """A config value as plain Python (lists of lists as tuples of tuples)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return value
    return tuple(_plain(v) for v in value)


def rollout_from_config(cfg: Any, n_rounds: int) -> RolloutConfig:
    """The ``rollout`` config checked; ``n_rounds`` (``study.n_rounds``) must reach the
    last stage."""
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"config needs a mapping at 'rollout' (the schedule, rule and "
                          f"lifts), got {cfg!r}")
    _unknown("rollout", cfg, ROLLOUT_KEYS)
    if "lifts" not in cfg:
        raise ConfigError("rollout.lifts is required (true lifts of the candidates)")
    world = {}
    for key, spec in WORLD_KEYS.items():
        if key in cfg:
            check_value(f"rollout.{key}", spec, cfg[key])
            world[key] = cfg[key]
    out = RolloutConfig(stages_from_config(cfg.get("stages")),
                        rule_from_config(cfg.get("rule")), lifts_from_config(cfg["lifts"]),
                        **world, candidate_faults=faults_from_config(
                            cfg.get("candidate_faults")))
    if n_rounds <= out.rollout_rounds:
        raise ConfigError(f"study.n_rounds must exceed the rounds before full rollout "
                          f"({out.rollout_rounds}), got {n_rounds!r}")
    return out
