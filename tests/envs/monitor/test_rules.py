"""The monitor's config: conf/monitor/default.yaml parses into its rules, and every bad
setting stops before anything runs, naming the key and the value."""

import copy
import os

import pytest
import yaml

from common.errors import ConfigError
from envs.monitor import AlertRule, monitor_spec, parse_when, required_inputs

CONF = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf", "monitor",
                    "default.yaml")
GOOD = {"hop": 10, "reference": 50, "baseline": None,
        "rules": {"drop": {"when": "avg_reward < 0.8 * baseline", "window": 100, "for": 30,
                           "severity": "high"}}}


def test_the_default_config_parses_into_the_playbook_rules():
    with open(CONF) as f:
        spec = monitor_spec(yaml.safe_load(f))
    assert (spec.hop, spec.reference, spec.baseline) == (100, 1000, None)
    rules = {r.name: r for r in spec.rules}
    assert rules["reward_drop"] == AlertRule("reward_drop", "avg_reward", "<", (0.8,), True,
                                             1000, 300, "high")
    assert rules["high_error_rate"].for_rounds == 0
    assert {r.name: (r.kpi, r.op, r.thresholds) for r in spec.rules if not r.relative} == {
        "action_concentration": ("max_share", ">", (0.9,)),
        "exploration_too_low": ("exploration_rate", "<", (0.05,)),
        "entropy_low": ("action_entropy", "<", (0.5,)),
        "high_error_rate": ("error_rate", ">", (0.01,)),
        "context_drift": ("context_drift", ">", (0.25,))}
    assert spec.windows == (1000,)
    assert rules["reward_drop"].when == "avg_reward < 0.8 * baseline"


def test_threshold_grids_defaults_and_what_each_kpi_needs():
    assert parse_when("w", "max_share>[0.8, 0.9,.95]") == ("max_share", ">", (0.8, 0.9, 0.95),
                                                           False)
    assert parse_when("w", " avg_reward < [0.5,1e-1] * baseline ") == (
        "avg_reward", "<", (0.5, 0.1), True)
    assert parse_when("w", "avg_reward < -0.5") == ("avg_reward", "<", (-0.5,), False)
    spec = monitor_spec({**GOOD, "rules": {"c": {"when": "max_share > [0.8, 0.9]",
                                                 "window": 20}}})
    assert (spec.rules[0].for_rounds, spec.rules[0].severity) == (0, "medium")
    assert spec.rules[0].when == "max_share > [0.8, 0.9]"
    assert required_inputs(["avg_reward", "regret", "action_entropy", "exploration_rate",
                            "error_rate"]) == {"regret": "regret", "action_entropy": "probs",
                                               "exploration_rate": "probs"}


def _with(path: str, value):
    """GOOD with the key at dotted ``path`` (under the monitor mapping) set to ``value``
    (``...`` deletes it)."""
    cfg = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return cfg


BAD = [
    ("rules.drop.when", "avg_rewrd < 0.8 * baseline",
     r"monitor.rules.drop.when: unknown KPI 'avg_rewrd'.*known: avg_reward, regret, max_share"),
    ("rules.drop.when", "max_share >= 0.9",
     r"monitor.rules.drop.when: the operator must be < or >, got '>='"),
    ("rules.drop.when", "max_share == 0.9", r"operator must be < or >, got '=='"),
    ("rules.drop.when", "max_share > high", r"monitor.rules.drop.when must read .*got "
                                            r"'max_share > high'"),
    ("rules.drop.when", "max_share > [0.9, x]", r"monitor.rules.drop.when must read .*"
                                                r"threshold '\[0.9, x\]'"),
    ("rules.drop.when", 0.9, r"monitor.rules.drop.when must be text .*got 0.9"),
    ("rules.drop.when", "max_share > 1.5",
     r"monitor.rules.drop.when: a max_share threshold must be a number in \[0.0, 1.0\], "
     r"got 1.5"),
    ("rules.drop.when", "exploration_rate < [0.05, -0.1]", r"exploration_rate threshold .* "
                                                           r"got -0.1"),
    ("rules.drop.when", "min_propensity < 2", r"min_propensity threshold .*got 2"),
    ("rules.drop.when", "error_rate > 1.01", r"error_rate threshold .*got 1.01"),
    ("rules.drop.when", "action_entropy < -1", r"action_entropy threshold must be a number "
                                               r"in \[0.0, inf\], got -1"),
    ("rules.drop.when", "context_drift > -0.25", r"context_drift threshold .*got -0.25"),
    ("rules.drop.when", "avg_reward < 0 * baseline",
     r"the factor of the baseline must be a number in \(0.0, inf\], got 0"),
    ("rules.drop.when", "max_share > 0.5 * baseline", r"only avg_reward takes it"),
    ("rules.drop.window", 105, r"monitor.rules.drop.window must be a positive multiple of "
                               r"monitor.hop=10 .*got 105"),
    ("rules.drop.window", 0, r"monitor.rules.drop.window must be an integer in \[1, inf\], "
                             r"got 0"),
    ("rules.drop.window", ..., r"monitor.rules.drop.window is required"),
    ("rules.drop.for", 25, r"monitor.rules.drop.for must be a non-negative multiple of "
                           r"monitor.hop=10 .*got 25"),
    ("rules.drop.for", -10, r"monitor.rules.drop.for must be an integer in \[0, inf\], got -10"),
    ("rules.drop.severity", "critical", r"monitor.rules.drop.severity must be one of low, "
                                        r"medium, high, got 'critical'"),
    ("rules.drop.after", 3, r"monitor.rules.drop has no key 'after'; allowed: when, window"),
    ("rules.drop", "avg_reward < 1", r"monitor.rules.drop must be a mapping"),
    ("rules", {}, r"monitor.rules must be a mapping of at least one rule"),
    ("hop", 0, r"monitor.hop must be an integer in \[1, inf\], got 0"),
    ("hop", 2.5, r"monitor.hop must be an integer .*got 2.5"),
    ("reference", 5, r"monitor.reference must be a positive multiple of monitor.hop=10 .*got 5"),
    ("reference", 15, r"monitor.reference must be a positive multiple of monitor.hop=10 .*got 15"),
    ("baseline", "high", r"monitor.baseline must be a number .*got 'high'"),
    ("baseline", float("inf"), r"monitor.baseline must be finite or null, got inf"),
    ("cooldown", 3, r"monitor has no key 'cooldown'; allowed: hop, reference, baseline, rules"),
]


@pytest.mark.parametrize("path, value, message", BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_a_bad_setting_stops_naming_the_key_and_the_value(path, value, message):
    with pytest.raises(ConfigError, match=message):
        monitor_spec(_with(path, value))
