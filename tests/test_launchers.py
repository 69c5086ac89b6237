"""Hydra launchers and sweepers that run bandax's jobs elsewhere than in one process:
``hydra/launcher=joblib`` (local worker processes), ``submitit_local`` (the code path
of ``submitit_slurm``) and ``ray`` (a local Ray cluster; the optional extra ``ray``,
skipped without it) give every job the numbers the basic launcher gives, and the
combined table names each job's own overrides; ``hydra/sweeper=optuna`` minimises
``study.objective`` (the job's return value) and reports the best job's value."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["study.n_seeds=4", "study.n_rounds=60", "study.progress=false",
        "study.compilation_cache=false"]


def _multirun(tmp_path, name, *args):
    sweep = tmp_path / name
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "simulate.py"), "-m",
                        *args, *TINY, f"hydra.sweep.dir={sweep}"], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return sweep, p


def _finals(sweep):
    """{overrides: final regret mean} from the combined table, and the jobs' own files."""
    with open(sweep / "combined_summary.csv") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        with open(sweep / r["job"] / "summary.json") as f:
            assert json.load(f)["results"][0]["final_regret_mean"] == float(
                r["final_regret_mean"])
    return {r["overrides"]: float(r["final_regret_mean"]) for r in rows}


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    sweep, _ = _multirun(tmp_path_factory.mktemp("basic"), "basic", "bandit=lin_ucb,uniform")
    return _finals(sweep)


@pytest.mark.parametrize("launcher", [["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                      ["hydra/launcher=submitit_local"],
                                      ["hydra/launcher=ray"]])
def test_a_launcher_gives_every_job_the_basic_launchers_numbers(tmp_path, basic, launcher):
    pytest.importorskip(f"hydra_plugins.hydra_{launcher[0].split('=')[1].split('_')[0]}"
                        f"_launcher")
    sweep, _ = _multirun(tmp_path, "sweep", *launcher, "bandit=lin_ucb,uniform")
    got = _finals(sweep)
    assert set(got) == {"bandit=lin_ucb", "bandit=uniform"}
    assert got == basic
    assert got["bandit=lin_ucb"] < got["bandit=uniform"]
    assert "| bandit=lin_ucb |" in (sweep / "combined_summary.md").read_text()


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
                    reason="the Optuna sweeper is the optional extra: pip install -e "
                           "'.[cluster]'")
def test_optuna_minimises_the_study_objective(tmp_path):
    sweep, _ = _multirun(tmp_path, "optuna", "hydra/sweeper=optuna",
                         "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.seed=1",
                         "bandit=lin_ucb", "bandit.lin_ucb.alpha=interval(0.05,3.0)",
                         "study.objective=final_regret_mean")
    finals = _finals(sweep)
    assert len(finals) == 3 and all(k.startswith("bandit.lin_ucb.alpha=") for k in finals)
    with open(sweep / "optimization_results.yaml") as f:
        best = yaml.safe_load(f)
    assert best["best_value"] == min(finals.values())
    assert finals[f"bandit.lin_ucb.alpha={best['best_params']['bandit.lin_ucb.alpha']}"] \
        == best["best_value"]


def test_an_objective_needs_one_bandit_and_no_sweep(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "simulate.py"),
                        "bandit=[lin_ucb,uniform]", "study.objective=final_regret_mean",
                        *TINY, f"hydra.run.dir={tmp_path}"], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 2
    assert "study.objective=final_regret_mean makes each job return one number" in p.stderr
    assert "bandit=lin_ucb,uniform" in p.stderr


def test_a_study_split_in_three_jobs_combines_into_the_single_run(tmp_path, basic):
    """``study.shard=0/3,1/3,2/3`` on joblib workers: ``combined/summary.json`` holds the
    single run's final regret exactly (every seed's numbers are the same)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep, p = _multirun(tmp_path, "shards", "hydra/launcher=joblib",
                         "hydra.launcher.n_jobs=2", "study.shard=0/3,1/3,2/3",
                         "bandit=lin_ucb")
    with open(sweep / "combined" / "summary.json") as f:
        combined = json.load(f)
    assert combined["n_seeds"] == 4
    assert combined["results"][0]["final_regret_mean"] == basic["bandit=lin_ucb"]
    assert "combined 3 shards (4 seeds)" in p.stdout
