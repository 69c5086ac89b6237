"""The gate runs each estimator at its configured hyperparameters, states them, and keeps
going (with the reason in the report) when a log's arm count is suspicious."""

import csv
import json
import math

import jax
import numpy as np
import pytest

import envs  # noqa: F401
from envs.data.loading import describe_load
from envs.data.logged import LoggedData
from estimators import ope
from estimators import registry as est_registry
from estimators.gate import evaluate_candidate, run_from_config

N, K = 3_000, 4


@pytest.fixture(scope="module")
def held_out():
    """Uniform logs of a 4-arm problem with a reward model that is deliberately off, so
    DM, DR and the shrunk or switched estimators all give different numbers."""
    rng = np.random.default_rng(0)
    action = rng.integers(0, K, N).astype(np.int32)
    reward = (action == 2).astype(np.float32) + rng.normal(0, 0.5, N).astype(np.float32)
    data = LoggedData.from_arrays(context=rng.normal(size=(N, 3)).astype(np.float32),
                                  action=action, reward=reward,
                                  pscore=np.full(N, 1 / K), action_dist=np.full((N, K), 1 / K))
    target = np.tile(np.array([0.05, 0.05, 0.85, 0.05], np.float32), (N, 1))
    q_hat = np.tile(np.array([0.3, 0.1, 0.5, 0.2], np.float32), (N, 1))
    return data, target, q_hat


def _by_hand(data, target, q_hat, name, **hyper):
    rows = ope.rows(data.reward, data.action, np.asarray(data.pscore, np.float32), target, q_hat)
    return float(est_registry.bind(name, **hyper)(rows).value)


def test_configured_hyperparameters_reach_the_estimates(held_out):
    """dros at λ = 100 (its config) is neither DM (λ = 0) nor DR (λ = ∞); switch_dr at
    λ = 10 and the sub-Gaussian estimators at λ = 0.1 likewise differ from their limits."""
    data, target, q_hat = held_out
    names = ["dm", "dr", "ipw", "dros", "switch_dr", "sg_ipw", "sg_dr"]
    res = evaluate_candidate(data, target, q_hat, key=jax.random.key(0), estimators=names,
                             n_boot=20, rule=est_rule())["estimates"]
    for name in ("dros", "switch_dr", "sg_ipw", "sg_dr"):
        want = _by_hand(data, target, q_hat, name, **est_registry.REGISTRY[name].defaults)
        assert res[name]["value"] == pytest.approx(want, rel=1e-5), name
    assert abs(res["dros"]["value"] - res["dm"]["value"]) > 1e-3
    assert abs(res["dros"]["value"] - res["dr"]["value"]) > 1e-4
    assert abs(res["sg_ipw"]["value"] - res["ipw"]["value"]) > 1e-3
    # an explicit value wins over the default
    res10 = evaluate_candidate(data, target, q_hat, key=jax.random.key(0),
                               estimators={"dros": {"lambda_": 10.0}}, n_boot=20,
                               rule=est_rule("dros"))["estimates"]
    assert res10["dros"]["value"] == pytest.approx(
        _by_hand(data, target, q_hat, "dros", lambda_=10.0), rel=1e-5)


def est_rule(decide_on="dr"):
    from estimators.gate import GateRule

    return GateRule(decide_on=decide_on)


def test_unknown_estimator_is_rejected_with_the_known_names():
    with pytest.raises(ValueError, match="unknown estimator 'drr'; allowed: replay, ipw"):
        est_registry.from_config(["dr", "drr"])
    with pytest.raises(ValueError, match=r"estimator.dros.lambda_ must be a number in \[0.0"):
        est_registry.from_config({"dros": {"lambda_": -1}})


def test_estimator_defaults_match_their_config_files():
    """conf/estimator/<name>.yaml and the registry's defaults say the same thing."""
    import os

    import yaml

    root = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "estimator")
    for name in est_registry.names():
        with open(os.path.join(root, f"{name}.yaml")) as f:
            cfg = yaml.safe_load(f) or {}
        assert est_registry.hyperparameters(name, **cfg) == dict(
            est_registry.REGISTRY[name].defaults), name


def _log_with_a_stray_arm(path, n=2_000):
    """A CSV decision log with arms {0, 1} and one row logging arm 99, no eligible sets."""
    rng = np.random.default_rng(1)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "timestamp", "context_0", "context_1", "action",
                    "propensity", "reward"])
        for i in range(n):
            a = 99 if i == 500 else int(rng.integers(0, 2))
            w.writerow([f"e{i}", f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                        f"{rng.normal():.4f}", f"{rng.normal():.4f}", a, 0.5,
                        int(rng.random() < 0.3 + 0.2 * (a == 1))])


@pytest.mark.parametrize("estimators", [["ipw"], ["dr", "ipw", "snipw", "dm"]])
def test_a_stray_arm_id_is_reported_not_a_crash(tmp_path, estimators, capsys):
    """Action 99 among arms {0, 1}: the run finishes, the report says the arm count was
    inferred and names the arms that have no rows and that the candidate still uses."""
    path = tmp_path / "clicks.csv"
    _log_with_a_stray_arm(path)
    report = run_from_config({"data": str(path), "candidate": "lin_ucb",
                              "estimator": estimators, "evaluation": {"n_boot": 50},
                              "gate": {"decide_on": estimators[0]}},
                             out_dir=str(tmp_path / "out"))
    load = report["data"]["load"]
    assert load["n_arms"] == 100 and load["rows_read"] == 2_000
    printed = capsys.readouterr().out
    assert "arms: 100" in printed and "rows: 2,000 read" in printed
    cand = report["candidates"][0]
    assert cand["decision"] == "do not ship"
    assert cand["diagnostics"]["unsupported_arms"], cand["diagnostics"]
    assert "mass on arms without support" in printed
    with open(tmp_path / "out" / "report.json") as f:
        saved = json.load(f)
    assert saved["estimators"] == {n: est_registry.hyperparameters(n) for n in estimators}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "arms: 100" in md and "rule: ship when" in md


def test_report_states_hyperparameters_and_the_rule_in_words(held_out, tmp_path):
    data, _, _ = held_out
    cfg_path = tmp_path / "log.csv"
    _log_with_a_stray_arm(cfg_path, n=400)
    report = run_from_config({"data": str(cfg_path), "candidate": "uniform",
                              "load": {"n_arms": 100},
                              "estimator": {"dros": {"lambda_": 7}, "ipw": {}},
                              "evaluation": {"n_boot": 20}, "gate": {"decide_on": "dros"}},
                             out_dir=str(tmp_path / "out"), echo=False)
    assert report["estimators"] == {"dros": {"lambda_": 7.0}, "ipw": {"lambda_": math.inf}}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "dros (lambda_=7)" in md and "ipw (lambda_=inf)" in md
    assert "{" not in report["rule_text"] and "dros estimate's lift" in report["rule_text"]


def test_old_estimator_key_names_the_new_one():
    with pytest.raises(ValueError, match=r"estimator=\[ipw\]"):
        run_from_config({"data": "x.csv", "evaluation": {"estimators": ["ipw"]}})


def test_describe_load_lists_rejections_and_arms_without_rows():
    lines = describe_load({"rows_read": 10, "rows_kept": 8, "rows_rejected": 2,
                           "rejected": {"action:range": 2}, "n_arms": 6, "dim": 3,
                           "n_arms_source": "inferred", "arms_without_rows": [2, 3, 4, 5],
                           "format": "csv"})
    assert lines[0] == "rows: 10 read (csv), 8 kept, 2 rejected"
    assert "action:range 2" in lines[1]
    assert "4 arm ids have no rows: 2..5" in lines[2]
