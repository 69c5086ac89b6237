"""Every command the README prints runs as written, at a small size.

The README's ``bash`` blocks are read line by line; each command must appear in
:data:`SMALL` below with the arguments that shrink it (appended, so they override the
README's own sizes: Hydra and argparse both keep the last value). A command added to the
README without an entry here fails :func:`test_every_readme_command_is_listed`. Commands
run in order in one scratch directory, so a command can use the files an earlier one
wrote (``logs.parquet``, ``outputs/ck/lin_ts.npz``), as a reader following the README would.
The ``python`` blocks run as one script, as written.
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBD = os.path.join(ROOT, "..", "shared", "data", "obd")

SIM = "study.n_seeds=16 study.n_rounds=300"
OPE = "study.n_datasets=4 study.n_rows=600 study.n_boot=20 study.truth_contexts=20000"
GATE = "evaluation.n_boot=50"
PANELS = "study.n_seeds=2 study.n_rounds=40 bandit=[uniform,lin_ucb,neural_ts]"
ROLLOUT = ("study.n_seeds=16 study.n_rounds=600 \"rollout.stages=[{name:shadow,rounds:100,"
           "share:0.0,shadow:true},{name:canary,rounds:200,share:0.1},{name:full,share:1.0}]\"")

# README command -> arguments appended to run it small ("" runs it as written; None: not
# run here, with the reason in SKIPPED).
SMALL: dict[str, str] = {
    "python scripts/simulate.py": SIM,
    "python scripts/simulate.py experiment=simulate/lin_ucb_alpha": SIM,
    "python scripts/simulate.py bandit=[lin_ucb,lin_ts] sweep.alpha=[0.1,0.3,1,3] "
    "sweep.v=[0.3,1]": SIM,
    "python scripts/simulate.py -m bandit=lin_ucb,lin_ts env=linear_gaussian,slice_sum": SIM,
    "python scripts/simulate.py experiment=simulate/logistic_clicks logger=wandb": SIM,
    "python scripts/simulate.py env.context_std=0 bandit=[lin_ucb] sweep.alpha=[0,0.5,2]": SIM,
    "python scripts/simulate.py experiment=simulate/drift":
    "study.n_seeds=4 study.n_rounds=300 \"hydra.sweeper.params.drift='abrupt,gradual'\" "
    "bandit=[discounted_lin_ucb]",  # the presets need 10,000 rounds (test_drift_families)
    "python scripts/simulate.py experiment=simulate/delays":
    f"{SIM} bandit=[ucb1] sweep.delay_mean=[0,5] sweep.attribution_window=[10]",
    "python scripts/simulate.py experiment=simulate/retrain_cadence": f"{SIM} bandit=[ucb1]",
    "python scripts/simulate.py feedback=mixture feedback.update_every=10 "
    "bandit=[lin_ucb,ucb1]": SIM,
    "python scripts/simulate.py drift=abrupt sweep.drift_rate=[0,0.0003,0.001,0.003] "
    "bandit=[lin_ucb,discounted_lin_ucb] study.n_seeds=200": SIM,
    "python scripts/simulate.py env=delayed_clicks bandit=[lin_ts,lin_ucb]": SIM,
    "python scripts/early_evaluation.py": "--seeds 4 --rounds 200 --window 20",
    "python scripts/ope.py": OPE,
    "python scripts/ope.py estimator=[ipw,snipw,dr] target_policy.epsilon=0.3 "
    "reward_model=mlp": f"{OPE} reward_model.steps=50",
    "python scripts/ope.py policy@target_policy=bandit target_policy.name=lin_ts "
    "target_policy.warmup_rounds=500": f"{OPE} target_policy.warmup_rounds=100",
    "python scripts/ope.py policy@logging_policy=bandit logging_policy.name=lin_eps_greedy "
    "logging_policy.learning=true": OPE,
    "python scripts/ope.py sweep.path=logging_policy.temperature sweep.values=[0.3,1,3,10]":
        OPE,
    "python scripts/ope.py sweep.path=estimator.ipw.lambda_ sweep.values=[1,3,10,30,inf]":
        OPE,
    "python scripts/ope.py -m study.n_rows=1000,3000,10000":
        "study.n_datasets=3 study.n_boot=20 study.truth_contexts=20000",
    "python scripts/simulate.py -m hydra/launcher=joblib hydra.launcher.n_jobs=2 "
    "bandit=lin_ucb,lin_ts": SIM,
    "python scripts/simulate.py -m hydra/launcher=submitit_local bandit=lin_ucb,lin_ts": SIM,
    "python scripts/simulate.py -m hydra/launcher=joblib hydra.launcher.n_jobs=2 "
    "study.shard=0/3,1/3,2/3": f"{SIM} bandit=[lin_ucb,lin_ts]",
    "python scripts/simulate.py -m hydra/sweeper=optuna hydra.sweeper.n_trials=20 "
    "hydra.sweeper.sampler.seed=0 bandit=lin_ucb 'bandit.lin_ucb.alpha=interval(0.01,3)' "
    "study.objective=final_regret_mean study.n_seeds=200 study.n_rounds=2000":
    "hydra.sweeper.n_trials=2 study.n_seeds=8 study.n_rounds=200",
    "python scripts/simulate_log.py logs.parquet --rows 100000": "--rows 3000",
    "python scripts/evaluate.py data=logs.parquet candidate=lin_ts checkpoint_dir=outputs/ck":
        GATE,
    "python scripts/evaluate.py data=logs.parquet candidate=[lin_ucb,outputs/ck/lin_ts.npz]":
        GATE,
    "python scripts/simulate_log.py clicks.csv --rows 50000 --no-reward 0.2 --invalid 0.001":
        "--rows 4000",
    "python scripts/evaluate.py data=clicks.csv load.n_arms=10 load.missing_reward=0 "
    "load.on_invalid=reject load.rejects_path=rejects.csv candidate=lin_ts "
    "gate.min_ess=2000": GATE,
    "python scripts/simulate_log.py delayed.parquet --rows 3000 --delay geometric "
    "--delay-mean 600 --window-s 3600 --read-at end": "",
    "python scripts/evaluate.py data=delayed.parquet rewards.path=delayed.rewards.parquet "
    "rewards.window_s=3600 candidate=lin_ucb": GATE,
    "python scripts/simulate.py experiment=simulate/alerts":
    "study.n_seeds=16 study.n_rounds=2000 alerts.incident_round=1000 "
    "alerts.incidents=[broken_model]",
    "python scripts/simulate.py monitor=default bandit=[lin_eps_greedy,lin_ucb]":
    f"{SIM} bandit=[lin_eps_greedy]",
    "python scripts/simulate.py experiment=simulate/safety":
    "study.n_seeds=8 study.n_rounds=1000 '~safety.faults.healthy' "
    "'~safety.faults.nan_scores' '~safety.faults.stale' "
    "'~safety.faults.corrupted' '~safety.faults.slow' "
    "'safety.faults.outage.outages=[[400,500]]'",
    "python scripts/simulate.py experiment=simulate/wheel": PANELS + " '~panels.delta_70' "
    "'~panels.delta_90' '~panels.delta_95' '~panels.delta_99'",
    "python scripts/simulate.py experiment=simulate/neural": PANELS + " '~panels.wheel_95' "
    "'~panels.h1' '~panels.h2' '~panels.digits'",
    "python scripts/simulate.py experiment=simulate/staged_rollout": ROLLOUT,
    "python scripts/simulate.py experiment=simulate/staged_rollout "
    "rollout.rule.kind=sequential": ROLLOUT,
    "python scripts/simulate.py experiment=simulate/staged_rollout "
    "rollout.candidate_faults={greedy_from:6000} "
    "monitor.rules.exploration_too_low.severity=high": ROLLOUT,
    "python scripts/monitor.py data=logs.parquet": "",
    "python scripts/monitor.py data=obd obd.path=../shared/data/obd": "",
    "python scripts/bench_evaluate.py --numpy": "--rows 5000 --arms 4 --dim 3 --boot 20",
    "python scripts/simulate_log.py logs_by_hour --partitioned hour": "--rows 80000",
    "python scripts/evaluate.py data=logs_by_hour split.held_out_from=2026-01-01T10:00:00 "
    "candidate=[lin_ucb,lin_ts]": "evaluation.n_boot=50",
    "python scripts/evaluate.py data=logs_by_hour split.held_out_from=2026-01-01T10:00:00 "
    "stream.workers=2": "evaluation.n_boot=50",
    "python scripts/bench_partitioned.py": "--rows 20000 --days 4 --boot 20 --workers 2",
    "python scripts/obd_check.py --obd-path ../shared/data/obd": "--boot 50 --campaign men",
}
BENCHMARKS = "run at a small size by tests/test_bench_scripts.py"
# Options of a README command that need an extra, the module it installs, and the extra
PLUGINS = {"hydra/launcher=joblib": ("hydra_plugins.hydra_joblib_launcher", "cluster"),
           "hydra/launcher=submitit": ("hydra_plugins.hydra_submitit_launcher", "cluster"),
           "hydra/sweeper=optuna": ("hydra_plugins.hydra_optuna_sweeper", "cluster"),
           "stream.workers=": ("distributed", "dask")}
SKIPPED = {
    "python -m pytest": "the test suite itself",
    "python scripts/bench.py": BENCHMARKS,
    "python scripts/bench_ope.py": BENCHMARKS,
    "python scripts/bench_studies.py": BENCHMARKS,
    "python scripts/bench_feedback.py": BENCHMARKS,
    "python scripts/bench_neural.py": BENCHMARKS,
}


def readme_commands() -> list[str]:
    """The README's shell commands, in order, continuation lines joined, comments and the
    ``pip install ... &&`` prefix removed."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for cmd in block.replace("\\\n", " ").splitlines():
            cmd = re.sub(r"\s+#.*$", "", cmd).strip()
            cmd = re.sub(r"^pip install [^&]*&&\s*", "", cmd)
            if cmd:
                out.append(re.sub(r"\s+", " ", cmd))
    return out


def readme_python() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return "\n".join(re.findall(r"```python\n(.*?)```", f.read(), flags=re.S))


def _run(cmd: str, cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "BANDAX_CACHE_DIR": str(cwd / ".cache"), "WANDB_MODE": "offline",
           "PYTHONPATH": ROOT}
    cmd = cmd.replace("python scripts/", f"{sys.executable} {ROOT}/scripts/")
    cmd = cmd.replace("../shared/data/obd", OBD)
    return subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_every_readme_command_is_listed():
    cmds = readme_commands()
    assert cmds, "the README prints no command"
    missing = [c for c in cmds if c not in SMALL and c not in SKIPPED]
    assert not missing, f"README commands with no small-size entry here: {missing}"
    stale = [c for c in SMALL if c not in cmds]
    assert not stale, f"entries here that the README no longer prints: {stale}"


def test_benchmarks_skipped_here_run_in_test_bench_scripts():
    from test_bench_scripts import COMMANDS

    covered = {f"python {args[0]}" for args in COMMANDS.values()}
    skipped = [c for c, why in SKIPPED.items() if why == BENCHMARKS]
    assert skipped and all(c in covered for c in skipped), (skipped, covered)
    assert all(c in readme_commands() for c in skipped)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.mark.slow
@pytest.mark.parametrize("cmd", [c for c in readme_commands() if c not in SKIPPED])
def test_readme_command_runs(cmd, scratch):
    for option, (module, extra) in PLUGINS.items():
        if option in cmd:
            pytest.importorskip(module, reason=f"{option} is the optional extra: pip "
                                               f"install -e '.[{extra}]'")
    small = SMALL.get(cmd)
    if "../shared/data/obd" in cmd and not os.path.isdir(OBD):
        pytest.skip("the Open Bandit Dataset sample (../shared/data/obd) is not here")
    p = _run(f"{cmd} {small}" if small else cmd, scratch)
    assert p.returncode == 0, f"{cmd}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"


@pytest.mark.slow
def test_readme_python_runs(tmp_path):
    code = readme_python()
    assert code.strip()
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": ROOT,
                            "BANDAX_CACHE_DIR": str(tmp_path / ".cache")})
    assert p.returncode == 0, p.stderr[-3000:]
