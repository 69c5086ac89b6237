"""Experiment tracking: the logger config, the early stop of an online run without
credentials, what each kind of result logs, and offline W&B runs from every entry point."""

import glob
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import envs  # noqa: F401
from common import tracking
from common.cli import run_entry
from common.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B offline and quiet, its settings, cache and data under ``tmp_path``."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    return tmp_path


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """No W&B credentials anywhere this process could find them."""
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))


# ------------------------------------------------------------------------ config


def test_validate_fills_in_the_defaults():
    assert tracking.validate(None)["name"] == "none"
    cfg = tracking.validate({"name": "wandb"})
    assert cfg == {"name": "wandb", "mode": "offline", "project": "bandax", "entity": None,
                   "group": None, "tags": []}
    assert tracking.enabled(cfg)
    assert not tracking.enabled(tracking.validate({"name": "wandb", "mode": "disabled"}))


@pytest.mark.parametrize("logger, message", [
    ({"name": "wandb", "mode": "bogus"}, "logger.mode must be one of offline, online, "
                                         "disabled, got 'bogus'"),
    ({"name": "mlflow"}, "logger.name must be one of none, wandb"),
    ({"name": "wandb", "projct": "x"}, "logger has no key 'projct'; allowed: name, mode"),
    ({"name": "wandb", "tags": "a,b"}, "logger.tags must be a list of text"),
    ({"name": "wandb", "project": ""}, "logger.project must be a non-empty name"),
    ({"name": "wandb", "entity": 3}, "logger.entity must be text or null"),
])
def test_bad_logger_configs_name_the_key(logger, message):
    with pytest.raises(ConfigError, match=message):
        tracking.validate(logger)


def test_regret_study_validation_uses_the_logger_rules():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from envs.regret.study import validate

    with initialize_config_dir(os.path.join(ROOT, "conf"), version_base=None):
        cfg = OmegaConf.to_container(compose("simulate", overrides=[
            "logger=wandb", "logger.mode=bogus"]), resolve=True)
    with pytest.raises(ConfigError, match="logger.mode"):
        validate(cfg)


def test_credentials_from_the_environment_or_netrc(tmp_path):
    netrc = tmp_path / "netrc"
    assert tracking.has_credentials({"WANDB_API_KEY": "k" * 40})
    assert not tracking.has_credentials({"NETRC": str(netrc)})
    netrc.write_text("machine api.wandb.ai login user password " + "k" * 40 + "\n")
    assert tracking.has_credentials({"NETRC": str(netrc)})
    assert not tracking.has_credentials({"NETRC": str(netrc),
                                         "WANDB_BASE_URL": "https://wandb.example.com"})
    netrc.write_text("machine wandb.example.com login user password secret\n")
    assert tracking.has_credentials({"NETRC": str(netrc),
                                     "WANDB_BASE_URL": "https://wandb.example.com"})


def test_online_without_credentials_stops_before_the_study(tmp_path, monkeypatch, capsys,
                                                           no_credentials):
    import socket

    import wandb

    def no_network(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(wandb, "init", no_network)
    calls = []
    cfg = {"logger": {"name": "wandb", "mode": "online"}, "study": {}}
    with pytest.raises(SystemExit) as stop:
        run_entry(cfg, lambda c, out_dir: calls.append(c), str(tmp_path / "out"), "ope")
    assert stop.value.code == 2 and calls == []
    err = capsys.readouterr().err
    assert err.startswith("config error: logger.mode=online but no W&B credentials")
    assert "wandb login" in err and "WANDB_API_KEY" in err and "logger.mode=offline" in err


# ------------------------------------------------------------------------ what is logged


class FakeRun:
    """Records what a study logs, in the shape of ``wandb.Run``."""

    def __init__(self):
        self.rows, self.metrics, self.summary = [], [], {}

    def log(self, row):
        self.rows.append(row)

    def define_metric(self, name, step_metric=None):
        self.metrics.append((name, step_metric))


def _fake_rollout(policy, scale, checkpoints=(1, 10, 100)):
    T = checkpoints[-1]
    mean = scale * np.arange(1, T + 1, dtype=float)[None]
    return SimpleNamespace(policy=policy, grid={}, checkpoints=np.array(checkpoints),
                           mean_regret=mean)


def _regret_rows(names):
    return [{"algorithm": n, "final_regret_mean": 10.0 * (i + 1), "final_regret_std": 1.0,
             "loglog_slope_last_decade": 0.5, "runtime_s": 0.1, "n_seeds": 4,
             "n_rounds": 100} for i, n in enumerate(names)]


def test_regret_curves_share_one_round_axis(monkeypatch):
    monkeypatch.setattr(tracking, "table", lambda rows, cols: ("table", len(rows)))
    run = FakeRun()
    rollouts = [_fake_rollout("lin_ucb", 0.5), _fake_rollout("uniform", 2.0)]
    summary = {"env": "toy", "n_seeds": 4, "n_rounds": 100,
               "results": _regret_rows(["lin_ucb", "uniform"])}
    tracking.log_result(run, {"summary": summary, "rollouts": rollouts})
    assert ("round", None) in run.metrics and ("regret/*", "round") in run.metrics
    curves = [r for r in run.rows if "round" in r]
    assert [r["round"] for r in curves] == [1, 10, 100]
    for r in curves:
        assert set(r) == {"round", "regret/lin_ucb", "regret/uniform"}
    assert curves[-1]["regret/uniform"] == pytest.approx(200.0)
    assert run.summary["final_regret/uniform"] == 20.0 and run.summary["best"] == "lin_ucb"


def _estimator_summary(sweep=False):
    rows = [{"estimator": e, "bias": 0.01, "bias_se": 0.001, "std": 0.02, "rmse": 0.03,
             "rmse_se": 0.001, "relative_error": 0.02, "coverage": 0.94,
             "coverage_se": 0.01, "ci_width": 0.05} for e in ("ipw", "dr")]
    summary = {"truth": 1.0, "truth_std_error": 0.001, "n_datasets": 4, "n_rows": 100,
               "wall_s": 1.0, "results": rows}
    if sweep:
        points = [{"sweep_value": v, "results": [dict(r, sweep_value=v) for r in rows]}
                  for v in (0.1, 1.0, float("inf"))]
        summary.update(sweep={"path": "estimator.ipw.lambda_", "values": [0.1, 1.0, "inf"]},
                       points=points, results=[r for p in points for r in p["results"]])
    return summary


def test_estimator_study_scalars_and_sweep_axis(monkeypatch):
    monkeypatch.setattr(tracking, "table", lambda rows, cols: ("table", cols))
    run = FakeRun()
    tracking.log_result(run, {"summary": _estimator_summary(), "estimates": None})
    assert run.summary["rmse/dr"] == 0.03 and run.summary["coverage/ipw"] == 0.94
    run = FakeRun()
    tracking.log_result(run, {"summary": _estimator_summary(sweep=True)})
    assert ("rmse/*", "sweep_value") in run.metrics
    points = [r for r in run.rows if "sweep_value" in r]
    assert [p["sweep_value"] for p in points] == [0.1, 1.0]  # inf: in the table only
    assert "sweep_value" in run.rows[0]["summary"][1]


def _gate_report():
    est = {"value": 0.5, "lower": 0.45, "upper": 0.55, "p_value": 0.01,
           "lift_pct": {"value": 5.0, "lower": 1.0, "upper": 9.0}}
    cand = {"name": "lin_ucb", "decision": "ship",
            "estimates": {"dr": est, "ipw": {**est, "lift_pct": None}},
            "diagnostics": {"ess": 900.0, "ess_fraction": 0.9, "max_weight": 3.0,
                            "nonzero_fraction": 1.0, "support_violation": 0.0,
                            "n_rows": 1000, "support_basis": "logging distribution"},
            "checks": [{"check": "ess", "value": 900.0, "ok": True}]}
    return {"logging": {"value": 0.47, "lower": 0.46, "upper": 0.48},
            "rule": {"decide_on": "dr"}, "candidates": [cand]}


def test_gate_report_tables_and_decisions(monkeypatch):
    monkeypatch.setattr(tracking, "table", lambda rows, cols: (rows, cols))
    run = FakeRun()
    tracking.log_result(run, _gate_report())
    estimates, _ = run.rows[0]["estimates"]
    assert [(r["candidate"], r["estimator"]) for r in estimates] == [
        ("lin_ucb", "dr"), ("lin_ucb", "ipw")]
    assert estimates[1]["lift_pct"] is None
    assert run.summary["decision/lin_ucb"] == "ship"
    assert run.summary["lift_pct/lin_ucb/lower"] == 1.0


# ------------------------------------------------------------------------ offline runs


def _offline_run(out_dir):
    runs = glob.glob(os.path.join(out_dir, "wandb", "offline-run-*"))
    assert len(runs) == 1, runs
    assert glob.glob(os.path.join(runs[0], "run-*.wandb"))
    return runs[0]


def _write_png(out_dir):
    from common.figures import pyplot, save_figure

    fig, ax = pyplot().subplots()
    ax.plot([0, 1], [0, 1])
    save_figure(fig, os.path.join(out_dir, "figure.png"))


@pytest.mark.parametrize("script, result", [
    ("ope", {"summary": _estimator_summary()}),
    ("evaluate", _gate_report()),
])
def test_offline_run_through_the_entry_hook(offline_wandb, capsys, script, result):
    out = offline_wandb / "out"
    seen = []

    def fake_study(cfg, out_dir):
        seen.append(cfg)
        os.makedirs(out_dir, exist_ok=True)
        _write_png(out_dir)
        return result

    cfg = {"logger": {"name": "wandb", "mode": "offline", "project": "bandax"},
           "study": {"n_rows": 100}}
    assert run_entry(cfg, fake_study, str(out), script) is result
    assert seen[0]["logger"]["name"] == "wandb"
    run = _offline_run(str(out))
    media = os.path.join(run, "files", "media")
    assert glob.glob(os.path.join(media, "images", "figures", "figure_*.png"))
    tables = {os.path.basename(p).split("_")[0]
              for p in glob.glob(os.path.join(media, "table", "*.table.json"))}
    assert tables == ({"summary"} if script == "ope" else {"estimates", "decisions"})
    printed = capsys.readouterr().out
    assert f"wrote {out}{os.sep}: figure.png" in printed and "W&B run in wandb/offline-run-" \
        in printed


def test_a_failed_study_marks_its_run_failed(offline_wandb, capsys):
    from common.errors import DataError

    def broken(cfg, out_dir):
        raise DataError("row 3: propensity 0")

    with pytest.raises(SystemExit):
        run_entry({"logger": {"name": "wandb"}}, broken, str(offline_wandb / "out"), "ope")
    assert capsys.readouterr().err.startswith("data error: row 3")
    _offline_run(str(offline_wandb / "out"))


@pytest.mark.slow
def test_simulate_end_to_end_writes_an_offline_run(offline_wandb):
    out = offline_wandb / "run"
    env = {**os.environ, "BANDAX_CACHE_DIR": str(offline_wandb / "cache")}
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "simulate.py"),
                        "logger=wandb", "bandit=[lin_ucb,uniform]", "study.n_seeds=3",
                        "study.n_rounds=40", "study.progress=false", f"hydra.run.dir={out}"],
                       cwd=offline_wandb, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    run = _offline_run(str(out))
    assert glob.glob(os.path.join(run, "files", "media", "images", "figures", "regret_*.png"))
    assert f"wrote {out}{os.sep}: curves.csv, regret.png" in p.stdout
    with open(out / "summary.json") as f:
        assert len(json.load(f)["results"]) == 2
    assert "slope: log-log slope of mean regret" in (out / "summary.md").read_text()
