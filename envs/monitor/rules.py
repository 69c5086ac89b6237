"""The monitor's settings: KPIs over rolling windows and alert rules, parsed from a config
mapping into frozen dataclasses and checked before anything runs.

A rule reads ``<kpi> <op> <threshold>`` or ``<kpi> <op> <factor> * baseline`` with ``op``
``<`` or ``>``; a threshold (or factor) may be a list, ``max_share > [0.8, 0.9]``, a grid
of thresholds evaluated at once::

    hop: 100            # rounds between evaluations
    reference: 1000     # the first rounds: baseline reward and context reference
    baseline: null      # a number, or null: the reference rounds' mean reward
    rules:
      reward_drop: {when: "avg_reward < 0.8 * baseline", window: 1000, for: 300,
                    severity: high}

``window`` is a positive multiple of ``hop``, ``for`` a non-negative multiple of it
(default 0), ``severity`` one of :data:`SEVERITIES` (default ``medium``). Every error is a
:class:`common.errors.ConfigError` naming the key (``monitor.rules.reward_drop.window``)
and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import ConfigError
from common.validation import ANY, NONNEG, POSITIVE, PROBABILITY, Choice, Range, check_int

# KPI -> the range its thresholds must lie in (see envs.monitor.reference for each one)
KPI_RANGES: dict[str, Range] = {
    "avg_reward": ANY,
    "regret": ANY,
    "max_share": PROBABILITY,
    "share_entropy": NONNEG,
    "action_entropy": NONNEG,
    "exploration_rate": PROBABILITY,
    "min_propensity": PROBABILITY,
    "error_rate": PROBABILITY,
    "fallback_rate": PROBABILITY,
    "context_drift": NONNEG,
}
KPIS = tuple(KPI_RANGES)
# KPI -> the optional per-round input it cannot do without
KPI_INPUTS: dict[str, str] = {"regret": "regret", "action_entropy": "probs",
                              "exploration_rate": "probs", "fallback_rate": "fallback"}
# KPIs whose rules may compare with a factor of the baseline (a mean reward)
RELATIVE_KPIS = ("avg_reward",)
OPS = ("<", ">")
SEVERITIES = ("low", "medium", "high")
SPEC_KEYS = ("hop", "reference", "baseline", "rules")
RULE_KEYS = ("when", "window", "for", "severity")
GRAMMAR = ("'<kpi> <op> <threshold>' or '<kpi> <op> <factor> * baseline' with op < or >, "
           "a threshold a number or a list of numbers [a, b]")

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_WHEN = re.compile(rf"^\s*(?P<kpi>[A-Za-z_]\w*)\s*(?P<op>[<>=!]=?|=>|=<)\s*"
                   rf"(?P<value>{_NUMBER}|\[[^\]]*\])\s*(?P<rel>\*\s*baseline)?\s*$")


@dataclass(frozen=True)
class AlertRule:
    """One alert rule: ``kpi op threshold`` (or ``kpi op threshold * baseline`` when
    ``relative``) over a window of ``window`` rounds, active once it held for
    ``for_rounds`` rounds."""

    name: str
    kpi: str
    op: str
    thresholds: tuple[float, ...]
    relative: bool
    window: int
    for_rounds: int
    severity: str

    @property
    def when(self) -> str:
        """The condition as written in a config (one threshold, or the list)."""
        t = self.thresholds
        value = f"{t[0]:g}" if len(t) == 1 else "[" + ", ".join(f"{x:g}" for x in t) + "]"
        return f"{self.kpi} {self.op} {value}" + (" * baseline" if self.relative else "")


@dataclass(frozen=True)
class MonitorSpec:
    """The monitor: evaluation every ``hop`` rounds, the first ``reference`` rounds as the
    reference (baseline reward, context statistics), ``baseline`` a number or None (the
    reference rounds' mean reward), and the alert ``rules``."""

    hop: int
    reference: int
    baseline: float | None
    rules: tuple[AlertRule, ...]

    @property
    def windows(self) -> tuple[int, ...]:
        """The distinct windows of the rules, ascending."""
        return tuple(sorted({r.window for r in self.rules}))


def required_inputs(kpis) -> dict[str, str]:
    """KPI -> the optional per-round input it needs (``probs`` or ``regret``), for those of
    ``kpis`` that need one. ``error_rate`` reads ``failed`` when given and is 0 without."""
    return {k: KPI_INPUTS[k] for k in kpis if k in KPI_INPUTS}


def _thresholds(where: str, text: str) -> tuple[float, ...]:
    """The number or ``[a, b, ...]`` list of a rule's condition."""
    inner = text[1:-1] if text.startswith("[") else text
    items = [s.strip() for s in inner.split(",")]
    if not items or not all(re.fullmatch(_NUMBER, s) for s in items):
        raise ConfigError(f"{where} must read {GRAMMAR}; got the threshold {text!r}")
    return tuple(float(s) for s in items)


def parse_when(where: str, when: Any) -> tuple[str, str, tuple[float, ...], bool]:
    """``(kpi, op, thresholds, relative)`` of a rule's condition ``when``; raises
    ``ConfigError`` naming ``where`` on bad grammar, an unknown KPI or operator, a
    threshold outside the KPI's range or a factor of the baseline that is not > 0."""
    if not isinstance(when, str):
        raise ConfigError(f"{where} must be text reading {GRAMMAR}, got {when!r}")
    m = _WHEN.match(when)
    if m is None:
        raise ConfigError(f"{where} must read {GRAMMAR}, got {when!r}")
    kpi, op, relative = m["kpi"], m["op"], m["rel"] is not None
    if kpi not in KPI_RANGES:
        raise ConfigError(f"{where}: unknown KPI {kpi!r} in {when!r}; known: {', '.join(KPIS)}")
    if op not in OPS:
        raise ConfigError(f"{where}: the operator must be < or >, got {op!r} in {when!r}")
    thresholds = _thresholds(where, m["value"])
    if relative and kpi not in RELATIVE_KPIS:
        raise ConfigError(f"{where}: '* baseline' compares with a mean reward, so only "
                          f"{', '.join(RELATIVE_KPIS)} takes it; got {when!r}")
    check = POSITIVE if relative else KPI_RANGES[kpi]
    what = "the factor of the baseline" if relative else f"a {kpi} threshold"
    for t in thresholds:
        try:
            check.check(where, t)
        except ValueError:
            raise ConfigError(f"{where}: {what} must be {check.describe()}, got {t:g} in "
                              f"{when!r}") from None
    return kpi, op, thresholds, relative


def _check_keys(where: str, value: Any, allowed: tuple[str, ...]) -> None:
    """``value`` is a mapping whose keys are among ``allowed``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping with keys {', '.join(allowed)}, got "
                          f"{value!r}")
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{where} has no key {key!r}; allowed: {', '.join(allowed)}")


def _multiple(where: str, value: Any, hop: int, low: int) -> int:
    """``value`` as an int after checking it is a multiple of ``hop``, at least ``low``."""
    try:
        n = check_int(where, value, low)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if n % hop:
        kind = "positive" if low > 0 else "non-negative"
        raise ConfigError(f"{where} must be a {kind} multiple of monitor.hop={hop} "
                          f"(rounds between evaluations), got {value!r}")
    return n


def parse_rule(name: str, rule: Any, hop: int, where: str = "monitor.rules") -> AlertRule:
    """One rule of ``monitor.rules`` (``name: {when, window, for, severity}``)."""
    at = f"{where}.{name}"
    _check_keys(at, rule, RULE_KEYS)
    for key in ("when", "window"):
        if rule.get(key) is None:
            raise ConfigError(f"{at}.{key} is required (e.g. {at}.when=\"max_share > 0.9\" "
                              f"{at}.window={10 * hop})")
    kpi, op, thresholds, relative = parse_when(f"{at}.when", rule["when"])
    severity = rule.get("severity", "medium")
    try:
        Choice(SEVERITIES).check(f"{at}.severity", severity)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return AlertRule(name=str(name), kpi=kpi, op=op, thresholds=thresholds,
                     relative=relative, window=_multiple(f"{at}.window", rule["window"], hop, 1),
                     for_rounds=_multiple(f"{at}.for", rule.get("for", 0), hop, 0),
                     severity=severity)


def _spec_numbers(cfg: Mapping[str, Any], where: str) -> tuple[int, int, float | None]:
    """The checked ``hop``, ``reference`` and ``baseline``."""
    try:
        hop = check_int(f"{where}.hop", cfg.get("hop"), 1)
        reference = check_int(f"{where}.reference", cfg.get("reference"), 1)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    _multiple(f"{where}.reference", reference, hop, 1)
    baseline = cfg.get("baseline")
    if baseline is not None:
        try:
            ANY.check(f"{where}.baseline", baseline)
        except ValueError as err:
            raise ConfigError(f"{err} (or null: the reference rounds' mean reward)") from None
        if not math.isfinite(float(baseline)):
            raise ConfigError(f"{where}.baseline must be finite or null, got {baseline!r}")
        baseline = float(baseline)
    return hop, reference, baseline


def monitor_spec(cfg: Mapping[str, Any] | None, where: str = "monitor") -> MonitorSpec:
    """The :class:`MonitorSpec` of a config mapping (``conf/monitor/default.yaml``);
    raises ``ConfigError`` naming the key and the value on anything wrong."""
    _check_keys(where, cfg, SPEC_KEYS)
    hop, reference, baseline = _spec_numbers(cfg, where)
    rules = cfg.get("rules")
    if not isinstance(rules, Mapping) or not rules:
        raise ConfigError(f"{where}.rules must be a mapping of at least one rule "
                          f"(name: {{when, window, for, severity}}), got {rules!r}")
    parsed = tuple(parse_rule(name, rule, hop, f"{where}.rules")
                   for name, rule in rules.items())
    return MonitorSpec(hop=hop, reference=reference, baseline=baseline, rules=parsed)
