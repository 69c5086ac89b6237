"""Every config composes, every experiment runs at a tiny size, bad configs fail early."""

import csv
import glob
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import envs  # noqa: F401
from common.cli import experiments, open_overrides, script_groups
from envs.regret.study import run_study, validate
from envs.worlds.registry import world_class

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "conf")
EXPERIMENTS = experiments("simulate")  # conf/experiment/simulate/*.yaml


def _kind(experiment: str) -> str:
    """An experiment's ``study.kind`` as its file states it (regret when it does not)."""
    with open(os.path.join(CONF, "experiment", experiment + ".yaml")) as f:
        study = (yaml.safe_load(f) or {}).get("study") or {}
    return study.get("kind", "regret")


# Regret studies; the other kinds (alerts, safety, staged rollouts) have their own tests
# and run through their README commands.
REGRET_EXPERIMENTS = [e for e in EXPERIMENTS if _kind(e) == "regret"]
BANDITS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob(os.path.join(CONF, "bandit", "*.yaml")))
ENVS = sorted(os.path.splitext(os.path.basename(p))[0]
              for p in glob.glob(os.path.join(CONF, "env", "*.yaml")))
TINY = ["study.n_seeds=3", "study.n_rounds=24", "study.progress=false",
        "study.compilation_cache=false"]


def _env_name(config_name: str) -> str:
    """The world a ``conf/env/`` file makes (its ``name``)."""
    return OmegaConf.load(os.path.join(CONF, "env", f"{config_name}.yaml"))["name"]


def _compose(overrides):
    """The composed regret-study config, with the command line opened as the script opens
    it (``sweep.KEY=`` may add a key)."""
    overrides = open_overrides(list(overrides), ("sweep",))
    with initialize_config_dir(CONF, version_base=None):
        return OmegaConf.to_container(compose("simulate", overrides=overrides), resolve=True)


def test_config_files_cover_registries():
    import bandits

    assert set(BANDITS) == set(bandits.names())
    assert {_env_name(c) for c in ENVS} == set(envs.names())
    assert "simulate/regret_curves" in EXPERIMENTS


def test_every_registry_hyperparameter_can_be_swept_from_the_command_line():
    """sweep.<key> is open: every numeric hyperparameter of bandits/registry.py (including
    one a newly registered policy brings) is accepted on the command line, in the order
    given, with no line in conf/simulate.yaml."""
    import bandits

    keys = sorted({k for name in bandits.names() for k in bandits.spec(name).params})
    cfg = _compose([f"sweep.{k}=[1]" for k in reversed(keys)])
    assert list(cfg["sweep"]) == list(reversed(keys))
    assert _compose([])["sweep"] == {}
    assert open_overrides(["sweep.alpha=[1]", "+sweep.v=[2]", "study.n_seeds=3"],
                          ("sweep",)) == ["++sweep.alpha=[1]", "+sweep.v=[2]", "study.n_seeds=3"]


@pytest.mark.parametrize("bandit", BANDITS)
def test_bandit_files_hold_the_registry_hyperparameters(bandit):
    """conf/bandit/<name>.yaml sets every hyperparameter the registry allows (numeric and
    static), each within its range."""
    import bandits

    spec = bandits.spec(bandit)
    hyper = OmegaConf.to_container(OmegaConf.load(os.path.join(CONF, "bandit",
                                                               bandit + ".yaml")))
    assert set(hyper) == {*spec.params, *spec.static}
    if hyper.get("arm_features", 0) is None:  # null: the world's (study.bandit_options)
        hyper["arm_features"] = 0
    bandits.validate(bandit, hyper)


def _group_options(group):
    return sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(CONF, group))
                  if f.endswith(".yaml"))


def _every_choice():
    """(root config, override) for every option of every group in each root config's
    defaults list, each experiment of the script included."""
    out = []
    for script in ("simulate", "ope", "evaluate", "monitor"):
        for group, packages in script_groups(script).items():
            options = (experiments(script) if group == "experiment"
                       else _group_options(group))
            keys = [f"{group}@{p}" for p in packages] or [group]
            out += [(script, f"{key}={option}") for key in keys for option in options]
    return out


@pytest.mark.parametrize("script, override", _every_choice())
def test_every_config_composes(script, override):
    """Every root config composes with every option of its groups, under the shared Hydra
    settings (conf/hydra/default.yaml): a run directory per script, the working directory
    kept, the job named after the script."""
    with initialize_config_dir(CONF, version_base=None):
        cfg = compose(script, overrides=[override], return_hydra_config=True)
    assert cfg.hydra.run.dir.startswith(f"outputs/{script}/")
    assert cfg.hydra.sweep.dir.startswith(f"multirun/{script}/")
    assert cfg.hydra.job.chdir is False and cfg.hydra.job.name == script
    assert cfg.hydra.help.app_name == f"{script}.py"
    OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]),
                           resolve=True)


def test_default_is_the_full_regret_study():
    cfg = _compose([])
    assert cfg["study"]["n_seeds"] >= 1000 and cfg["study"]["n_rounds"] == 10_000
    assert cfg["env"]["name"] == "linear-gaussian"
    assert {"uniform", "eps_greedy", "ucb1", "ts_gaussian", "softmax", "lin_ucb", "lin_ts",
            "lin_eps_greedy"} <= set(cfg["bandit"])


def _grid_size(cfg, bandit) -> list[int]:
    """The lengths of the swept lists that apply to ``bandit`` (every bandit: None):
    its hyperparameters and the feedback settings."""
    import bandits
    from envs.feedback.spec import NUMERIC

    swept = {k: v for k, v in (cfg.get("sweep") or {}).items() if v is not None}
    own = [len(v) for k, v in swept.items() if k in NUMERIC
           or (bandit is not None and k in bandits.spec(bandit).params)]
    return own or [1]


def _readme_experiments() -> set[str]:
    """The experiments a README command runs with every bandit (tests/test_readme_commands
    runs them): ``experiment=simulate/NAME``, and the default one for a bare command."""
    from test_readme_commands import readme_commands

    cmds = [c for c in readme_commands() if c.startswith("python scripts/simulate.py")]
    named = {m for c in cmds for m in re.findall(r"experiment=(simulate/\w+)", c)}
    return named | ({"simulate/regret_curves"} if "python scripts/simulate.py" in cmds else set())


@pytest.mark.parametrize("experiment", REGRET_EXPERIMENTS)
def test_every_experiment_runs_tiny(experiment, tmp_path):
    """Every experiment runs at 3 seeds × 24 rounds, and its outputs agree with the
    per-round trajectories: final regret = the sum of every round's regret (≥ 0), the
    curves' last point and the reward per round are the trajectories' means. Every bandit
    is validated; the first one runs when the experiment holds a grid or a README command
    already runs every bandit of it."""
    cfg = _compose([f"experiment={experiment}", *TINY, "study.record=trajectories"])
    validate(cfg)  # the experiment as written, every bandit
    if _grid_size(cfg, None) != [1] or experiment in _readme_experiments():
        cfg["bandit"] = dict(list(cfg["bandit"].items())[:1])
    out = run_study(cfg, out_dir=str(tmp_path), echo=False)
    with open(tmp_path / "summary.json") as f:
        summary = json.load(f)

    expected_rows = sum(int(np.prod(_grid_size(cfg, name))) for name in cfg["bandit"])
    assert len(summary["results"]) == expected_rows
    assert len(out["rollouts"]) == len(cfg["bandit"])
    for row in summary["results"]:
        lo, hi = row["final_regret_ci95"]
        assert lo <= row["final_regret_mean"] <= hi
        assert row["final_regret_mean"] >= 0
    with open(tmp_path / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["algorithm"] for r in rows} == {r["algorithm"] for r in summary["results"]}
    _check_against_trajectories(out["rollouts"], summary["results"], rows)
    assert (tmp_path / "regret.png").stat().st_size > 10_000


def _check_against_trajectories(rollouts, results, curve_rows):
    """Summary rows and curves.csv against each grid point's (S, T) trajectories."""
    from envs.regret.report import label

    by_name = {r["algorithm"]: r for r in results}
    curve = {(r["algorithm"], int(r["round"])): float(r["mean"]) for r in curve_rows}
    for r in rollouts:
        for g in range(r.mean_regret.shape[0]):
            regret = r.trajectories["regret"][g].astype(np.float64)  # (S, T)
            reward = r.trajectories["reward"][g].astype(np.float64)
            assert (regret >= -1e-6).all()
            row, total = by_name[label(r, g)], regret.sum(-1).mean()
            np.testing.assert_allclose(row["final_regret_mean"], total, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(curve[label(r, g), len(r.rounds)], total, rtol=1e-4,
                                       atol=1e-4)
            np.testing.assert_allclose(row["mean_reward_per_round"], reward.mean(),
                                       rtol=1e-4, atol=1e-5)
            assert (np.diff(r.mean_regret[g]) >= -1e-5).all()


def _uniform_regret_rate(n_arms: int = 5, dim: int = 10) -> float:
    """E[max_a μ_a − mean_a μ_a] per round on the linear-Gaussian world with intercept:
    given x, μ_a = θ_a·x are independent N(0, |x|²/d) across arms and per-seed
    instances, with |x|² = 1 + χ²_{d−1}; both expectations by quadrature."""
    z = np.linspace(-12.0, 12.0, 400_001)
    phi = np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    e_max = np.trapezoid(z * n_arms * phi * cdf ** (n_arms - 1), z)
    k = (dim - 1) / 2
    q = np.linspace(0.0, 200.0, 400_001)
    chi2 = q ** (k - 1) * np.exp(-q / 2) / (2**k * math.gamma(k))
    return float(e_max * np.trapezoid(np.sqrt((1 + q) / dim) * chi2, q))


def test_regret_study_numbers():
    """regret_curves with uniform and LinUCB, 400 seeds × 300 rounds. Uniform's regret
    per round is within 4 s.e. of E[max − mean] = 1.1377 (measured 1.1279 ± 0.0071);
    LinUCB's final regret is below 0.4 × uniform's (measured 0.286 ± 0.003)."""
    cfg = _compose(["experiment=simulate/regret_curves", "bandit=[uniform,lin_ucb]",
                    "study.n_seeds=400", "study.n_rounds=300", *TINY[2:]])
    uniform, lin_ucb = run_study(cfg, echo=False)["rollouts"]
    u = uniform.final_regret[0].astype(np.float64) / 300
    assert abs(u.mean() - _uniform_regret_rate()) < 4 * u.std(ddof=1) / np.sqrt(len(u)), (
        u.mean(), _uniform_regret_rate())
    lin = lin_ucb.final_regret[0].astype(np.float64) / 300
    assert lin.mean() < 0.4 * u.mean(), (lin.mean(), u.mean())


@pytest.mark.parametrize("bandit", BANDITS)
@pytest.mark.parametrize("env", ENVS)
def test_every_bandit_env_pair_validates_or_explains(bandit, env):
    cfg = _compose([f"env={env}", f"bandit={bandit}", *TINY])
    import bandits

    binary_world = world_class(_env_name(env)).binary_rewards
    if bandits.spec(bandit).binary_rewards and not binary_world:
        with pytest.raises(ValueError, match="0/1 rewards"):
            validate(cfg)
    else:
        validate(cfg)


def test_in_process_sweep_makes_grid(tmp_path):
    cfg = _compose(["bandit=[lin_ucb,lin_ts]", "sweep.alpha=[0.1,1.0,3.0]", *TINY])
    out = run_study(cfg, out_dir=str(tmp_path), echo=False)
    names = [r["algorithm"] for r in out["summary"]["results"]]
    assert names == ["lin_ucb(alpha=0.1)", "lin_ucb(alpha=1)", "lin_ucb(alpha=3)", "lin_ts"]


@pytest.mark.parametrize("override, message", [
    ("bandit.lin_ucb.alpha=-1", r"bandit.lin_ucb.alpha must be a number in \[0.0, inf\], got -1"),
    ("bandit.lin_eps_greedy.epsilon=1.5", "bandit.lin_eps_greedy.epsilon"),
    ("env.n_arms=0", "env.n_arms"),
    ("env.context_std=-1", r"env.context_std must be a number in \[0.0, inf\], got -1"),
    ("study.n_rounds=0", "study.n_rounds"),
    ("study.n_seeds=-3", "study.n_seeds"),
    ("+bandit.lin_ucb.alfa=1", "no key 'alfa'; allowed: alpha, reg"),
    ("study.layout=rows", "study.layout must be one of lanes, vmap, got 'rows'"),
    ("study.record=logs", "study.record must be one of curves, trajectories, got 'logs'"),
    ("study.fixed_world=1", "study.fixed_world must be true or false, got 1"),
    ("+study.horizon=3", "study has no key 'horizon'; allowed: n_seeds"),
    ("sweep.temperature=[1]", "no selected bandit has a numeric hyperparameter"),
    ("+sweep.alfa=[1]", "no selected bandit has a numeric hyperparameter 'alfa'"),
    ("sweep.alpha=[-1]", r"sweep.alpha\[0\]"),
])
def test_invalid_config_names_the_key(override, message):
    base = ["bandit=[lin_ucb,lin_eps_greedy]"] if "sweep" not in override else [
        "bandit=[lin_ucb]"]
    cfg = _compose([*base, *TINY, override])
    with pytest.raises(ValueError, match=message):
        validate(cfg)


def test_unknown_names_list_the_allowed_values():
    cfg = _compose(TINY)
    cfg["bandit"] = {"lin_usb": {}}
    with pytest.raises(ValueError, match="unknown bandit 'lin_usb'; allowed: uniform"):
        validate(cfg)
    cfg = _compose(TINY)
    cfg["env"]["name"] = "linear"
    with pytest.raises(ValueError, match="unknown env 'linear'; allowed: linear-gaussian"):
        validate(cfg)


def _script(args, cwd):
    env = {**os.environ, "BANDAX_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "simulate.py"),
                           *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_cli_rejects_bad_config_before_compiling(tmp_path):
    p = _script(["bandit=lin_ucb", "bandit.lin_ucb.alpha=-2", f"hydra.run.dir={tmp_path}"],
                tmp_path)
    assert p.returncode == 2
    assert "bandit.lin_ucb.alpha" in p.stderr and "got -2" in p.stderr


@pytest.mark.slow
def test_multirun_writes_one_dir_per_job_and_a_combined_table(tmp_path):
    sweep = tmp_path / "sweep"
    p = _script(["-m", "bandit=lin_ucb,lin_ts", "env=linear_gaussian,slice_sum", *TINY,
                 f"hydra.sweep.dir={sweep}"], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    jobs = sorted(glob.glob(str(sweep / "*" / "summary.json")))
    assert len(jobs) == 4
    with open(sweep / "combined_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["env"], r["algorithm"]) for r in rows) == sorted(
        (e, b) for e in ("linear-gaussian", "slice-sum") for b in ("lin_ucb", "lin_ts"))


@pytest.mark.slow
def test_wandb_logger_runs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    from common import tracking

    cfg = _compose(["logger=wandb", "bandit=[lin_ucb]", *TINY])
    assert cfg["logger"]["mode"] == "offline"
    tracking.tracked(run_study, cfg, str(tmp_path), job_type="simulate", echo=False)
    runs = glob.glob(str(tmp_path / "wandb" / "offline-run-*"))
    assert len(runs) == 1
    assert glob.glob(os.path.join(runs[0], "*.wandb"))
