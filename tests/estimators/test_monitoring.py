"""The log monitor (scripts/monitor.py's run function) on a hand-made decision log written
with the event writer, and on the Open Bandit Dataset fixture: KPIs computed by hand, the
rules' outcomes, and the files it writes."""

import csv
import json
import math
import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import envs  # noqa: F401
from common.errors import ConfigError
from envs.data.events import events_from_logged, write_events
from envs.data.logged import LoggedData
from estimators.monitoring import run_monitor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OBD_MINI = os.path.join(ROOT, "tests", "data", "obd_mini")
NAN = math.nan
LN2 = math.log(2)
START = np.datetime64("2026-01-01T00:00:00", "us")

MONITOR = {"hop": 2, "reference": 4, "baseline": None, "rules": {
    "reward_drop": {"when": "avg_reward < 0.5 * baseline", "window": 4, "for": 2,
                    "severity": "high"},
    "concentration": {"when": "max_share > [0.7, 0.9]", "window": 4, "for": 0},
    "drift": {"when": "context_drift > 1", "window": 4, "for": 2},
    "explore": {"when": "exploration_rate < 0.05", "window": 4},
    "long": {"when": "avg_reward < 0.1", "window": 20},
}}


@pytest.fixture(scope="module")
def hand_log(tmp_path_factory):
    """12 decisions over 3 arms, one every 10 s, written in a shuffled file order (the
    monitor puts them back in timestamp order). Feature 0 alternates 0 and 2 in the
    reference rows 0-3 (mean 1, variance 1); feature 1 is constant."""
    reward = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1], np.float32)
    action = np.array([0, 1, 0, 1, 0, 0, 0, 0, 0, 2, 1, 2])
    pscore = np.array([.5, .5, .5, .5, .5, .9, .9, .9, .9, .2, .5, .5])
    context = np.column_stack([[0, 2, 0, 2, 0, 2, 4, 6, 4, 6, 4, 6],
                               np.ones(12)]).astype(np.float32)
    data = LoggedData.from_arrays(context=context, action=action, reward=reward,
                                  pscore=pscore, n_arms=3)
    cols = events_from_logged(data, policy_version="v1", algorithm="softmax",
                              exploration={"temperature": 1.0}, start=START, interval_s=10.0)
    order = np.random.default_rng(0).permutation(12)
    cols = {k: (v[order] if isinstance(v, np.ndarray) and v.shape[:1] == (12,) else v)
            for k, v in cols.items()}
    path = str(tmp_path_factory.mktemp("monitor") / "decisions.jsonl")
    write_events(path, cols)
    return path


@pytest.fixture(scope="module")
def hand_run(hand_log, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("monitor_out"))
    cfg = {"data": hand_log, "monitor": MONITOR, "logger": {"name": "none"}}
    return run_monitor(cfg, out_dir=out, echo=False), out


def test_the_kpis_of_a_hand_made_log(hand_run):
    alerts = hand_run[0]["alerts"]
    assert alerts["n_rounds"] == 12 and alerts["kpis"]["rounds"] == [2, 4, 6, 8, 10, 12]
    assert alerts["baseline"]["value"] == 1.0
    k = {name: np.array([NAN if v is None else v for v in values])
         for name, values in alerts["kpis"]["windows"]["4"].items()}
    # windows at e = 4, 6, 8, 10, 12: rows 0-3, 2-5, 4-7, 6-9, 8-11
    np.testing.assert_allclose(k["avg_reward"], [NAN, 1, .75, .25, 0, .5])
    np.testing.assert_allclose(k["max_share"], [NAN, .5, .75, 1, .75, .5])
    h31 = -(.75 * math.log(.75) + .25 * math.log(.25))
    np.testing.assert_allclose(k["share_entropy"], [NAN, LN2, h31, 0, h31, 1.5 * LN2],
                               atol=1e-12)
    np.testing.assert_allclose(k["min_propensity"], [NAN, .5, .5, .5, .2, .2])
    np.testing.assert_allclose(k["context_drift"], [NAN, 0, 0, 2 / math.sqrt(3), 4, 4],
                               atol=1e-9)
    assert set(k) == {"avg_reward", "max_share", "share_entropy", "min_propensity",
                      "context_drift"}
    assert set(alerts["unavailable"]) == {"regret", "action_entropy", "exploration_rate",
                                          "error_rate", "fallback_rate"}
    assert alerts["last_window_shares"] == {"window": 4, "from": 8, "to": 12,
                                            "shares": [.25, .25, .5]}
    # the evaluation at round end e is stamped with its last round's time, (e - 1) * 10 s
    assert alerts["kpis"]["timestamps"][0] == "2026-01-01T00:00:10.000000"


def test_the_rules_of_a_hand_made_log(hand_run):
    (result, out) = hand_run
    rules = {r["name"]: r for r in result["alerts"]["rules"]}
    drop = rules["reward_drop"]["thresholds"][0]
    # avg_reward < 0.5 at e = 8, 10: active at 10 (held at two points in a row)
    assert (drop["first_active_round"], drop["episodes"], drop["active_evaluations"],
            drop["active_periods"]) == (10, 1, 1, [[10, 10]])
    assert drop["first_active_timestamp"] == "2026-01-01T00:01:30.000000"
    assert rules["reward_drop"]["evaluations"] == 5
    conc = rules["concentration"]["thresholds"]
    assert [(t["first_active_round"], t["episodes"], t["active_evaluations"]) for t in conc] \
        == [(6, 1, 3), (8, 1, 1)]
    drift = rules["drift"]["thresholds"][0]
    assert (drift["first_active_round"], drift["active_evaluations"],
            drift["active_at_end"]) == (10, 2, True)
    assert rules["explore"]["status"] == "skipped"
    assert "full action distribution" in rules["explore"]["reason"]
    assert rules["long"]["reason"] == ("not evaluated: its window of 20 rounds is longer than "
                                       "the 12 rounds evaluated")
    summary = result["summary"]
    assert summary["active_at_end"] == ["drift"]
    assert summary["fired"] == ["reward_drop", "concentration", "drift"]
    for name in ("dashboard.png", "alerts.json", "summary.json", "summary.md"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "dashboard.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "alerts.json")) as f:
        assert json.load(f)["rules"][0]["thresholds"][0]["first_active_round"] == 10
    with open(os.path.join(out, "summary.md")) as f:
        md = f.read()
    assert "rule explore skipped: exploration_rate not available" in md
    assert "- regret: not available: a decision log carries no expected rewards" in md


def test_bad_settings_stop_before_the_log_is_read(tmp_path):
    missing = str(tmp_path / "absent.parquet")
    bad = {**MONITOR, "rules": {"x": {"when": "avg_reward <= 1", "window": 4}}}
    with pytest.raises(ConfigError, match="monitor.rules.x.when: the operator must be"):
        run_monitor({"data": missing, "monitor": bad}, echo=False)
    with pytest.raises(ConfigError, match="unknown config key 'candidate'"):
        run_monitor({"data": missing, "monitor": MONITOR, "candidate": "lin_ucb"}, echo=False)
    with pytest.raises(ConfigError, match="load has no key 'n_arm'; allowed: n_arms"):
        run_monitor({"data": missing, "monitor": MONITOR, "load": {"n_arm": 3}}, echo=False)
    with pytest.raises(ValueError, match="no such file"):
        run_monitor({"data": missing, "monitor": MONITOR}, echo=False)


def test_the_open_bandit_fixture_through_the_composed_config(tmp_path):
    """conf/monitor.yaml with data=obd: every rule at a window of 100 rows of the 300-row
    fixture; the KPIs against the CSV read directly, in timestamp order."""
    names = OmegaConf.load(os.path.join(ROOT, "conf", "monitor", "default.yaml"))["rules"]
    overrides = ["data=obd", f"obd.path={OBD_MINI}", "monitor.hop=50", "monitor.reference=100",
                 *[f"monitor.rules.{n}.window=100" for n in names],
                 *[f"monitor.rules.{n}.for=50" for n in names]]
    with initialize_config_dir(os.path.join(ROOT, "conf"), version_base=None):
        cfg = OmegaConf.to_container(compose("monitor", overrides=overrides), resolve=True)
    result = run_monitor(cfg, out_dir=str(tmp_path), echo=False)
    with open(os.path.join(OBD_MINI, "random", "all", "all.csv")) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["timestamp"])
    item = np.array([int(r["item_id"]) for r in rows])
    prop = np.array([float(r["propensity_score"]) for r in rows])
    windows = result["alerts"]["kpis"]["windows"]["100"]
    for i, e in enumerate(range(50, 301, 50)):
        if e < 100:
            continue
        shares = np.bincount(item[e - 100:e]) / 100
        assert windows["max_share"][i] == pytest.approx(shares.max())
        assert windows["min_propensity"][i] == pytest.approx(prop[e - 100:e].min())
        assert windows["avg_reward"][i] == pytest.approx(
            np.mean([float(r["click"]) for r in rows[e - 100:e]]))
    summary = result["summary"]
    assert "CC BY 4.0" in summary["attribution"] and "Saito" in summary["attribution"]
    assert summary["n_rounds"] == 300
    with open(tmp_path / "summary.md") as f:
        assert "CC BY 4.0" in f.read()
    assert os.path.exists(tmp_path / "dashboard.png")
