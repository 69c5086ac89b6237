"""The safety study (``experiment=simulate/safety``): a tiny config runs end to end and
writes its files; under NaN scores and an outage the bare policy serves the expected
invalid decisions (the outage's rounds exactly, the NaNs within binomial tolerance) and
the guarded one none, its fallback serving exactly the rounds the policy failed (a
breaker that opens on every failure with no cooldown); the monitor counts failures,
bare or guarded, and the fallback's rounds; bad settings stop before compiling, naming
key and value."""

import json
import math
import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import envs  # noqa: F401
from bandits.safety import FAILURE_REASONS
from envs.regret.safety_config import check_config, onset
from envs.regret.study import run_study

CONF = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "..", "conf"))
SEEDS, ROUNDS, NAN_RATE, OUTAGE = 64, 400, 0.05, (100, 150)
MONITOR = {"hop": 50, "reference": 100, "baseline": None,
           "rules": {"high_error_rate": {"when": "error_rate > 0.01", "window": 100, "for": 0,
                                         "severity": "high"},
                     "fallback_serving": {"when": "fallback_rate > 0.5", "window": 100,
                                          "for": 0, "severity": "high"}}}


def _config(sizes=(f"study.n_seeds={SEEDS}", f"study.n_rounds={ROUNDS}"), **safety):
    """The experiment as composed, at ``sizes``, with ``safety`` settings replaced (a
    healthy run as the only fault unless given)."""
    with initialize_config_dir(CONF, version_base=None):
        cfg = OmegaConf.to_container(compose("simulate", overrides=[
            "experiment=simulate/safety", *sizes, "study.progress=false",
            "study.compilation_cache=false"]), resolve=True)
    if sizes:
        cfg["safety"]["faults"] = {"healthy": {}}
    cfg["safety"].update(safety)
    return cfg


def test_experiment_file_is_valid_and_names_every_fault():
    plan = check_config(_config(sizes=()))
    assert set(plan.faults) == {"healthy", "nan_scores", "outage", "stale", "corrupted",
                                "slow"}
    assert plan.faults["corrupted"]["corruption"] == "flip"
    assert [onset(plan.faults[f]) for f in ("healthy", "nan_scores", "outage")] == \
        [None, 0, 4000]
    assert [r.name for r in plan.monitor.rules][0] == "reward_drop"
    cfg = _config()
    cfg["monitor"] = None
    assert check_config(cfg).monitor is None  # monitor=null: runs without one


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("safety")
    cfg = _config(faults={"broken": {"nan_rate": NAN_RATE, "outages": [list(OUTAGE)]}},
                  breaker={"failures": 1, "window": 1, "cooldown": 0, "timeout": None})
    cfg["monitor"] = MONITOR
    return out, run_study(cfg, out_dir=str(out), echo=False)


def test_study_writes_its_files(study):
    out, result = study
    with open(out / "summary.json") as f:
        summary = json.load(f)
    assert [(r["fault"], r["mode"]) for r in summary["rows"]] == [("broken", "bare"),
                                                                  ("broken", "guarded")]
    for r in summary["rows"]:
        lo, hi = r["final_regret_ci95"]
        assert lo <= r["final_regret_mean"] <= hi
    assert "| broken | guarded |" in (out / "summary.md").read_text()
    assert (out / "safety.png").stat().st_size > 10_000
    assert summary["breaker"]["timeout"] is None


def test_bare_serves_every_fault_and_guarded_none(study):
    _, result = study
    bare = result["runs"]["broken", "bare"].final_state.counts
    guarded = result["runs"]["broken", "guarded"].final_state.counts
    reasons = {r: bare.reasons[0, :, i] for i, r in enumerate(FAILURE_REASONS)}
    outage = OUTAGE[1] - OUTAGE[0]
    assert (reasons["action_out_of_range"] == outage).all()  # every outage round, exactly
    n = SEEDS * (ROUNDS - outage)  # NaNs outside the outage (inside, the probs are 0)
    nans = reasons["probs_not_finite"].sum()
    assert abs(nans - NAN_RATE * n) < 4 * math.sqrt(n * NAN_RATE * (1 - NAN_RATE)), nans
    np.testing.assert_array_equal(bare.invalid[0], reasons["action_out_of_range"]
                                  + reasons["probs_not_finite"])
    assert (bare.fallback == 0).all() and (bare.openings == 0).all()
    assert (guarded.invalid == 0).all() and (guarded.reasons == 0).all()
    # both runs of a seed draw the same NaNs; this breaker hands over exactly the
    # rounds whose decision failed, and opens after each of them
    np.testing.assert_array_equal(guarded.fallback, bare.invalid)
    np.testing.assert_array_equal(guarded.openings, bare.invalid)


def test_summary_rows_and_alerts(study):
    _, result = study
    bare, guarded = result["summary"]["rows"]
    counts = result["runs"]["broken", "bare"].final_state.counts
    assert bare["incidents_per_10k"] == pytest.approx(counts.invalid.mean() * 1e4 / ROUNDS)
    assert guarded["incidents_per_10k"] == 0.0
    assert guarded["fallback_share"] == pytest.approx(counts.invalid.mean() / ROUNDS)
    assert bare["breaker_openings_mean"] is None
    # the monitor checks a bare policy's served decisions itself (FaultInfo has no flag)
    assert bare["alerts"]["high_error_rate"]["share_fired"] == 1.0
    assert guarded["alerts"]["high_error_rate"]["share_fired"] > 0.5
    # the fallback serves the outage's 50 rounds and the NaN rounds of rounds [100, 200)
    assert guarded["alerts"]["fallback_serving"]["share_fired"] == 1.0
    assert bare["alerts"]["fallback_serving"]["share_fired"] == 0.0


@pytest.mark.parametrize("safety, message", [
    ({"faults": {"nan": {"nan_rate": 2}}}, "safety.faults.nan.nan_rate must be a number in "
                                            "[0.0, 1.0], got 2"),
    ({"faults": {"nan": {"nan_rat": 0.1}}}, "safety.faults.nan has no key 'nan_rat' (value "
                                             "0.1)"),
    ({"faults": {"down": {"outages": [[300, 500]]}}}, "safety.faults.down.outages[0]=[300, "
                                                        "500] ends after study.n_rounds=400"),
    ({"faults": {"old": {"stale_from": 400}}}, "safety.faults.old.stale_from=400 is not "
                                                "before study.n_rounds=400"),
    ({"faults": {"bad": {"corruption": "scramble"}}}, "safety.faults.bad.corruption must be "
                                                       "one of negate, flip, reset, got "
                                                       "'scramble'"),
    ({"breaker": {"failures": 5, "window": 0, "cooldown": 10}},
     "safety.breaker.window must be an integer in [1, 1048576], got 0"),
    ({"breaker": {"failures": 5, "window": 100, "cooldown": 10, "timout": 5}},
     "safety.breaker has no key 'timout' (value 5)"),
    ({"fallback": {"name": "oracle"}}, "safety.fallback.name must be one of"),
    ({"fallback": {"name": "eps_greedy", "epsilon": 3}},
     "safety.fallback.epsilon must be a number in [0.0, 1.0], got 3"),
    ({"guard": True}, "safety has no key 'guard' (value True)"),
])
def test_bad_settings_stop_naming_key_and_value(safety, message):
    cfg = _config(**safety)
    with pytest.raises(ValueError) as err:
        run_study(cfg, echo=False)
    assert message in str(err.value)


def test_one_bandit_only():
    cfg = _config()
    cfg["bandit"]["lin_ucb"] = {"alpha": 1.0, "reg": 1.0}
    with pytest.raises(ValueError, match="the safety study runs one bandit"):
        run_study(cfg, echo=False)
