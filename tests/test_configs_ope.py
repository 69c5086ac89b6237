"""Estimator-study configs compose, run at a tiny size, and reject bad values early."""

import json
import os

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import envs  # noqa: F401
from estimators import registry
from estimators.study import run_study, validate

CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")
OPE_EXPERIMENTS = sorted(  # experiments that choose estimators belong to scripts/ope.py
    f[:-5] for f in os.listdir(os.path.join(CONF, "experiment"))
    if "override /estimator" in open(os.path.join(CONF, "experiment", f)).read())

TINY = ["study.n_datasets=4", "study.n_rows=300", "study.n_boot=20",
        "study.truth_contexts=2000"]


def _compose(overrides):
    with initialize_config_dir(CONF, version_base=None):
        return OmegaConf.to_container(compose("ope", overrides=overrides), resolve=True)


def test_estimator_files_cover_the_registry():
    files = {os.path.splitext(f)[0] for f in os.listdir(os.path.join(CONF, "estimator"))}
    assert files == set(registry.names())
    assert "estimator_comparison" in OPE_EXPERIMENTS


@pytest.mark.parametrize("experiment", OPE_EXPERIMENTS)
def test_every_ope_experiment_runs_tiny(experiment, tmp_path):
    cfg = _compose([f"experiment={experiment}", *TINY])
    out = run_study(cfg, out_dir=str(tmp_path), echo=False)
    with open(tmp_path / "summary.json") as f:
        summary = json.load(f)
    assert [r["estimator"] for r in summary["results"]] == list(cfg["estimator"])
    assert out["estimates"].shape == (4, len(cfg["estimator"]))
    assert (out["lower"] <= out["upper"]).all()
    assert (tmp_path / "estimators.png").stat().st_size > 10_000


@pytest.mark.parametrize("override, message", [
    ("estimator.ipw.lambda_=-1", r"estimator.ipw.lambda_ must be a number in \[0.0, inf\]"),
    ("+estimator.dr.lam=3", "estimator.dr has no key 'lam'; allowed: lambda_"),
    ("logging_policy.kind=greedy", "logging_policy.kind must be one of"),
    ("target_policy.epsilon=2", "target_policy.epsilon"),
    ("study.n_rows=1", "study.n_rows"),
    ("reward_model.name=forest", "reward_model.name must be ridge or mlp"),
])
def test_invalid_ope_config_names_the_key(override, message):
    cfg = _compose(["estimator=[ipw,dr]", *TINY, override])
    with pytest.raises(ValueError, match=message):
        validate(cfg)


@pytest.mark.slow
def test_multirun_over_n_writes_rmse_figure(tmp_path):
    import csv
    import subprocess
    import sys

    root = os.path.dirname(CONF)
    sweep = tmp_path / "sweep"
    p = subprocess.run(
        [sys.executable, os.path.join(root, "scripts", "ope.py"), "-m",
         "study.n_rows=200,800", "estimator=[ipw,dr]", *TINY[:1], *TINY[2:],
         f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "BANDAX_CACHE_DIR": str(tmp_path / "cache")})
    assert p.returncode == 0, p.stderr[-3000:]
    with open(sweep / "combined_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((int(r["n_rows"]), r["estimator"]) for r in rows) == [
        (200, "dr"), (200, "ipw"), (800, "dr"), (800, "ipw")]
    assert (sweep / "rmse_vs_n.png").stat().st_size > 10_000


def test_bandit_algorithms_serve_as_target_policies(tmp_path):
    cfg = _compose(["estimator=[ipw,dr]", *TINY, "policy@target_policy=bandit",
                    "target_policy.name=lin_ts", "+target_policy.params.v=0.5",
                    "target_policy.warmup_rounds=200", "policy@logging_policy=uniform"])
    out = run_study(cfg, echo=False)
    assert out["estimates"].shape == (4, 2)
    cfg["target_policy"]["name"] = "lin_usb"
    with pytest.raises(ValueError, match="target_policy.name must be one of uniform"):
        validate(cfg)
    cfg["target_policy"].update(name="lin_ucb", params={"alpha": -1})
    with pytest.raises(ValueError, match="target_policy.params.alpha must be"):
        validate(cfg)
