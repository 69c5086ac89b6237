"""The staged-rollout study's alert rules: which of a monitor's rules roll back (and the
ones it refuses, by name), faults injected into the candidates, and a study in which every
rollout is rolled back by an alert at the round the rule says.

In the study, the candidates (K = 3 arms, ε = 0.5: exploration rate 1/3 a round) stop
exploring at round 500. ``exploration_rate < 0.05`` over 200 rounds, evaluated every 100,
first holds at round 700 (the window ending at 600 holds ~33 explorations of its 100
rounds before the fault; fewer than the 10 it needs has probability ~1e-10), so every
rollout rolls back at the start of round 700, in the canary, by the alert. The guardrail
is off and the stage's test only judges at its end (round 2,200), so nothing else can.
"""

import copy
import os

import numpy as np
import pytest
import yaml

from bandits.staged import CAUSES, PromotionRule
from common.errors import ConfigError
from envs.rollout.alerts import rollout_alerts
from envs.rollout.schedule import faults_from_config
from envs.rollout.study import run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
with open(os.path.join(ROOT, "conf", "monitor", "default.yaml")) as f:
    DEFAULT = yaml.safe_load(f)


def test_the_default_monitor_sorts_its_rules_by_severity():
    alerts = rollout_alerts(DEFAULT, PromotionRule(guard_ratio=0.8), 3, 2)
    assert alerts.watched == ("high_error_rate",)
    assert alerts.guardrail == ("reward_drop",)
    assert set(alerts.not_rolling_back) == {"action_concentration", "exploration_too_low",
                                            "entropy_low", "context_drift"}
    assert alerts.watch is not None and alerts.watch.reads_failures
    assert rollout_alerts(None, PromotionRule(), 3, 2).watch is None


@pytest.mark.parametrize("when, guard, message", [
    ("avg_reward < 0.8 * baseline", 0.7, r"reward_drop: .*guard_ratio=0\.7; make them equal"),
    ("avg_reward < 0.5", 0.8, r"reward_drop: .*with one factor f; got 'avg_reward < 0.5'"),
    ("regret > 0.1", 0.8, r"reward_drop: 'regret > 0.1' needs the truth"),
])
def test_a_high_severity_rule_a_rollout_cannot_apply_is_refused(when, guard, message):
    cfg = copy.deepcopy(DEFAULT)
    cfg["rules"]["reward_drop"]["when"] = when
    with pytest.raises(ConfigError, match=message):
        rollout_alerts(cfg, PromotionRule(guard_ratio=guard), 3, 2)


@pytest.mark.parametrize("entry, message", [
    ({"greedy_form": 10}, r"rollout.candidate_faults has no key 'greedy_form'"),
    ({"nan_rate": 1.5}, r"rollout.candidate_faults.nan_rate must be .*1.5"),
    ([1, 2], r"rollout.candidate_faults must be a mapping"),
])
def test_bad_candidate_faults_stop_with_the_key_and_value(entry, message):
    with pytest.raises(ConfigError, match=message):
        faults_from_config(entry)


def test_a_candidate_whose_exploration_collapses_is_rolled_back_by_the_alert():
    monitor = {"hop": 100, "reference": 200, "baseline": None, "rules": {
        "collapse": {"when": "exploration_rate < 0.05", "window": 200, "severity": "high"},
        "noisy": {"when": "max_share > 0.01", "window": 100, "severity": "medium"}}}
    cfg = {"study": {"kind": "staged_rollout", "n_seeds": 40, "n_rounds": 2300,
                     "compilation_cache": False},
           "monitor": monitor,
           "rollout": {"lifts": [0.0, 0.1], "epsilon": 0.5, "dim": 2,
                       "candidate_faults": {"greedy_from": 500},
                       "rule": {"guard_ratio": 0.0},
                       "stages": [{"name": "staging", "rounds": 200, "share": 0.0},
                                  {"name": "canary", "rounds": 2000, "share": 0.5},
                                  {"name": "full", "share": 1.0}]}}
    result = run(cfg, echo=False)
    out = result["outcomes"]
    np.testing.assert_array_equal(out["rolled_back_at"], 700)
    np.testing.assert_array_equal(out["cause"], CAUSES.index("alert"))
    summary = result["summary"]
    assert summary["alerts"]["watched"] == ("collapse",)
    assert summary["alerts"]["not_rolling_back"] == ("noisy",)
    assert all(row["rolled_back_by"] == {"alert": 40} for row in summary["lifts"])
