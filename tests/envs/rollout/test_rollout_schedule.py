"""The staged-rollout study's config stops where it enters, naming the key and the value,
before anything is compiled."""

import pytest

from bandits.staged import PLAYBOOK
from common.errors import ConfigError
from envs.regret.study import run_study
from envs.rollout.schedule import rollout_from_config

STAGES = [{"name": "staging", "rounds": 100, "share": 0.0},
          {"name": "canary", "rounds": 200, "share": 0.1},
          {"name": "full", "share": 1.0}]


def _cfg(**changes):
    rollout = {"lifts": [-0.05, 0.05], "stages": [dict(s) for s in STAGES]}
    for path, value in changes.items():
        *head, last = path.split("__")
        node = rollout
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return rollout


def test_a_good_config_gives_the_schedule_and_defaults():
    rc = rollout_from_config(_cfg(), 400)
    assert [s.share for s in rc.stages] == [0.0, 0.1, 1.0]
    assert rc.rollout_rounds == 300 and rc.rule.kind == "confidence"
    assert rollout_from_config({"lifts": [0.0]}, 14_000).stages == PLAYBOOK


@pytest.mark.parametrize("changes, message", [
    ({"stages__1__share": 0.0, "stages__0__share": 0.2},
     "rollout.stages[1].share must not be below the previous stage's 0.2"),
    ({"stages__1__rounds": None}, "rollout.stages[1].rounds must be an integer"),
    ({"stages__1__share": 1.2}, "rollout.stages[1].share must be a number in [0.0, 1.0], "
     "got 1.2"),
    ({"stages__1__ramp": 3}, "rollout.stages[1] has no key 'ramp' (= 3)"),
    ({"stages__1__alpha": 0.0}, "rollout.stages[1].alpha must be a number in (0.0, 0.5], "
     "got 0.0"),
    ({"stages__1__tolerance": -1}, "rollout.stages[1].tolerance must be a number in "
     "[0.0, inf], got -1"),
    ({"rule": {"alpha": 2}}, "rollout.rule.alpha must be a number in (0.0, 0.5], got 2"),
    ({"rule": {"kind": "bayes"}}, "rollout.rule.kind must be one of confidence, sequential, "
     "got 'bayes'"),
    ({"rule": {"looks": 3}}, "rollout.rule has no key 'looks' (= 3)"),
    ({"lifts": [0.1, 0.1]}, "rollout.lifts must be distinct"),
    ({"lifts": [-2]}, "rollout.lifts[0] must be a number in [-0.9, 10.0], got -2"),
    ({"noise_std": -1}, "rollout.noise_std must be a number in [0.0, inf), got -1"),
    ({"warmup": 5}, "rollout has no key 'warmup' (= 5)"),
])
def test_bad_configs_stop_with_the_key_and_value(changes, message):
    with pytest.raises(ConfigError) as err:
        rollout_from_config(_cfg(**changes), 400)
    assert message in str(err.value)


def test_the_horizon_must_reach_the_full_rollout():
    with pytest.raises(ConfigError, match=r"study\.n_rounds must exceed the rounds before "
                                          r"full rollout \(300\), got 300"):
        rollout_from_config(_cfg(), 300)


def test_the_study_dispatch_checks_before_compiling():
    cfg = {"study": {"kind": "staged_rollout", "n_seeds": 10, "n_rounds": 400},
           "rollout": _cfg(stages__1__share=-0.1)}
    with pytest.raises(ConfigError, match=r"rollout\.stages\[1\]\.share .* got -0\.1"):
        run_study(cfg)
    cfg["feedback"] = {"delay": "fixed", "delay_mean": [1, 2]}
    cfg["rollout"] = _cfg()
    with pytest.raises(ConfigError, match="one feedback setting per key"):
        run_study(cfg)
    cfg["feedback"] = None
    cfg["drift"] = {"name": "abrupt", "rate": 0.001}
    with pytest.raises(ConfigError, match="drift must be null in the staged-rollout study"):
        run_study(cfg)
    cfg["drift"] = None
    cfg["sweep"] = {"alpha": [1, 2]}
    with pytest.raises(ConfigError, match="sweep is not read"):
        run_study(cfg)
