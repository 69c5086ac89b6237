"""The command lines as a user meets them: errors named by kind, experiments sent to their
script, help that lists what a script uses, clean argument errors, where outputs went."""

import os
import subprocess
import sys

import pytest

import envs  # noqa: F401
from common.cli import (
    _experiment_args,
    check_experiment,
    check_required,
    experiment_script,
    experiments,
    list_outputs,
    run_entry,
    script_groups,
)
from common.errors import ConfigError, DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENT_DIR = os.path.join(ROOT, "conf", "experiment")
EXPERIMENTS = sorted(f"{folder}/{os.path.splitext(f)[0]}"
                     for folder in os.listdir(EXPERIMENT_DIR)
                     for f in os.listdir(os.path.join(EXPERIMENT_DIR, folder)))


def _script(name, *args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *args],
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize("err, prefix", [
    (DataError("row 7: propensity must be in (0, 1]"), "data error: row 7"),
    (ConfigError("study.n_rows must be >= 2"), "config error: study.n_rows"),
    (ValueError("estimator.ipw.lambda_ must be > 0"), "config error: estimator.ipw"),
])
def test_errors_are_named_by_kind_with_status_2(tmp_path, capsys, err, prefix):
    def study(cfg, out_dir):
        raise err

    with pytest.raises(SystemExit) as stop:
        run_entry({"logger": {"name": "none"}}, study, str(tmp_path), "ope")
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith(prefix)


def test_every_experiment_lives_in_its_scripts_folder():
    assert {e.split("/")[0] for e in EXPERIMENTS} == {"simulate", "ope"}, EXPERIMENTS
    owners = {e: experiment_script(e) for e in EXPERIMENTS}
    assert all(owner == e.split("/")[0] for e, owner in owners.items()), owners
    assert experiment_script("estimator_comparison") == "ope"  # a bare name is looked up
    assert experiment_script("regret_curves") == "simulate"
    assert experiments("ope") == [e for e in EXPERIMENTS if owners[e] == "ope"]
    assert experiments("evaluate") == []
    with pytest.raises(ConfigError, match="no experiment 'simulate/estimator_comparison'"):
        experiment_script("simulate/estimator_comparison")


@pytest.mark.parametrize("script, experiment, message", [
    ("simulate", "ope/estimator_comparison", "experiment=ope/estimator_comparison is an "
     "estimator study: run python scripts/ope.py experiment=ope/estimator_comparison"),
    ("ope", "simulate/regret_curves", "experiment=simulate/regret_curves is a regret study: "
     "run python scripts/simulate.py experiment=simulate/regret_curves"),
    ("evaluate", "simulate/logistic_clicks", "run python scripts/simulate.py "
     "experiment=simulate/logistic_clicks"),
    ("simulate", "estimator_comparison", "experiment=estimator_comparison is an estimator "
     "study: run python scripts/ope.py experiment=ope/estimator_comparison"),
    ("simulate", "lin_ucb_alpha", "experiment=lin_ucb_alpha: an experiment is named with "
     "its script's folder: run python scripts/simulate.py experiment=simulate/lin_ucb_alpha"),
    ("simulate", "simulate/regret_curvs", "no such experiment; scripts/simulate.py runs: "
     "simulate/alerts, simulate/delays, simulate/drift"),
    ("evaluate", "regret_curvs", r"no such experiment; scripts/evaluate.py runs: \(none\)"),
])
def test_an_experiment_of_another_script_names_the_right_one(script, experiment, message):
    with pytest.raises(ConfigError, match=message):
        check_experiment(script, experiment)
    check_experiment("simulate", "simulate/lin_ucb_alpha")  # its own: no error


def test_experiments_on_the_command_line():
    argv = ["experiment=a", "+experiment=b", "-m", "experiment=c,d", "env=x",
            "experiment=choice(e, f)", "experiment=[g,h]", "sweep.experiment=z"]
    assert _experiment_args(argv) == list("abcdefgh")
    assert _experiment_args(["experiment=simulate/a,ope/b"]) == ["simulate/a", "ope/b"]


def test_a_config_of_another_script_stops_before_running(tmp_path, capsys):
    calls = []
    with pytest.raises(SystemExit):
        run_entry({"logger": {"name": "none"}}, lambda cfg, out_dir: calls.append(cfg),
                  str(tmp_path), "simulate", experiment="ope/estimator_comparison")
    assert calls == [] and "run python scripts/ope.py" in capsys.readouterr().err
    run_entry({"logger": {"name": "none"}}, lambda cfg, out_dir: calls.append(cfg),
              str(tmp_path), "ope", experiment="ope/estimator_comparison")
    assert calls == [{"logger": {"name": "none"}}]


def test_a_required_key_left_unset_is_named():
    from omegaconf import OmegaConf

    check_required(OmegaConf.create({"data": "logs.csv", "load": {"n_arms": None}}),
                   "evaluate")
    with pytest.raises(ConfigError, match=r"^data is required \(no default\): python "
                                          r"scripts/evaluate.py data=VALUE"):
        check_required(OmegaConf.create({"data": "???", "candidate": "lin_ucb"}), "evaluate")
    with pytest.raises(ConfigError, match="data, load.path are required"):
        check_required(OmegaConf.create({"data": "???", "load": {"path": "???"}}), "evaluate")


def test_cli_names_a_required_key_before_running(tmp_path):
    p = _script("evaluate.py", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.startswith("config error: data is required (no default): python "
                               "scripts/evaluate.py data=VALUE")
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("script, args, message", [
    ("simulate.py", ["experiment=ope/estimator_comparison"],
     "run python scripts/ope.py experiment=ope/estimator_comparison"),
    ("ope.py", ["experiment=simulate/regret_curves"],
     "run python scripts/simulate.py experiment=simulate/regret_curves"),
    ("simulate.py", ["-m", "experiment=simulate/slice_sum,estimator_comparison"],
     "run python scripts/ope.py experiment=ope/estimator_comparison"),
])
def test_cli_sends_an_experiment_to_its_script(tmp_path, script, args, message):
    p = _script(script, *args, f"hydra.run.dir={tmp_path}")
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.startswith("config error: ") and message in p.stderr
    assert "Traceback" not in p.stderr


# ------------------------------------------------------------------------ help


def _groups(help_text):
    section = help_text.split("== Config groups")[1].split("== Main keys")[0]
    return {line.split(":")[0].strip() for line in section.splitlines()[1:]
            if ":" in line and not line.strip().startswith("(")}


def test_script_groups_come_from_each_defaults_list():
    assert set(script_groups("simulate")) == {"env", "bandit", "logger", "drift", "feedback",
                                                 "monitor", "experiment"}
    assert script_groups("ope")["policy"] == ["logging_policy", "target_policy"]
    assert {"reward_model", "logger"} <= set(script_groups("evaluate"))


@pytest.mark.parametrize("script, present, absent", [
    ("simulate.py", {"env", "bandit", "logger", "experiment"},
     {"estimator", "policy", "reward_model"}),
    ("ope.py", {"env", "estimator", "policy", "reward_model", "logger", "experiment"},
     {"bandit"}),
    ("evaluate.py", {"reward_model", "logger"}, {"bandit", "env", "experiment", "policy"}),
])
def test_help_lists_only_the_groups_a_script_uses(script, present, absent):
    p = _script(script, "--help")
    assert p.returncode == 0, p.stderr[-2000:]
    groups = _groups(p.stdout)
    assert present <= groups and not absent & groups, groups
    assert "Powered by Hydra" not in p.stdout and "Examples:" in p.stdout


def test_help_describes_the_main_keys_with_current_values():
    p = _script("simulate.py", "--help", "study.n_seeds=7")
    assert "Regret-curve study" in p.stdout and "study.n_seeds=7 " in p.stdout
    experiment_lines = p.stdout.split("experiment:")[1].split("\n\n")[0]
    assert "simulate/regret_curves" in experiment_lines
    assert "estimator_comparison" not in experiment_lines
    p = _script("evaluate.py", "--help")
    assert "data=???   required" in p.stdout
    p = _script("evaluate.py", "--help", "data=logs.csv")
    assert "data=logs.csv   required" in p.stdout


# ------------------------------------------------------------------------ simulate_log.py


def test_simulate_log_help_shows_defaults():
    p = _script("simulate_log.py", "--help")
    assert p.returncode == 0
    assert "(default: 100000)" in p.stdout and "(default: softmax)" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["logs.txt"], "unknown output format '.txt' for 'logs.txt': use .parquet, .csv, .jsonl"),
    (["logs"], "unknown output format '(none)'"),
    (["missing/logs.csv"], "the folder of 'missing/logs.csv' does not exist"),
    (["logs.csv", "--rows", "0"], "--rows must be >= 1, got 0"),
    (["logs.csv", "--rows", "ten"], "argument --rows: invalid int value: 'ten'"),
    (["logs.csv", "--arms", "1"], "--arms must be >= 2, got 1"),
    (["logs.csv", "--dim", "0"], "--dim must be >= 1"),
    (["logs.csv", "--seed", "-1"], "--seed must be >= 0"),
    (["logs.csv", "--temperature", "0"], "--temperature must be a finite number > 0"),
    (["logs.csv", "--temperature", "nan"], "--temperature must be a finite number > 0"),
    (["logs.csv", "--reward-delay", "-5"], "--reward-delay must be a finite number >= 0"),
    (["logs.csv", "--param", "alpha=1"], "--param sets a bandit logging policy's"),
    (["logs.csv", "--logging", "lin_ucb", "--param", "alpha=x"],
     "argument --param: takes key=number, got 'alpha=x'"),
    (["logs.csv", "--logging", "lin_ucb", "--param", "alfa=1"],
     "bandit.lin_ucb has no key 'alfa'"),
    (["logs.csv", "--logging", "lin_usb"], "--logging must be uniform, softmax or an "
                                           "algorithm of bandits/"),
    (["logs.csv", "--world", "supervised"], "--world must be one of linear-gaussian"),
    (["logs.csv", "--bogus"], "unrecognized arguments: --bogus"),
    (["logs.csv", "--delay", "poisson"], "argument --delay: invalid choice: 'poisson'"),
    (["logs.csv", "--delay", "geometric"], "--delay geometric needs --delay-mean SECONDS"),
    (["logs.csv", "--delay-mean", "600"], "--delay-mean needs --delay fixed, geometric or "
                                          "lognormal"),
    (["logs.csv", "--window-s", "60"], "--window-s needs --delay fixed, geometric"),
    (["logs.csv", "--delay", "geometric", "--delay-mean", "-1"],
     "--delay-mean must be a finite number > 0 (seconds), got -1.0"),
    (["logs.csv", "--delay", "fixed", "--delay-mean", "0.3"],
     "--delay-mean must be a multiple of 0.5 s"),
    (["logs.csv", "--delay", "geometric", "--delay-mean", "9", "--delay-sigma", "1"],
     "--delay-sigma is for --delay lognormal, not --delay geometric"),
    (["logs.csv", "--delay", "lognormal", "--delay-mean", "9", "--delay-sigma", "0"],
     "--delay-sigma must be a number in (0, 10], got 0.0"),
    (["logs.csv", "--delay", "fixed", "--delay-mean", "9", "--window-s", "inf"],
     "--window-s must be a finite number >= 0 (seconds), got inf"),
    (["logs.csv", "--read-at", "later"], "--read-at must be end or an ISO time"),
    (["logs.csv", "--rows", "10", "--read-at", "2026-01-01T00:00:01"],
     "--read-at 2026-01-01T00:00:01 is before the last decision (2026-01-01T00:00:04.500000)"),
])
def test_simulate_log_bad_arguments_are_one_line_errors(tmp_path, args, message):
    p = _script("simulate_log.py", *args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulate_log.py: error: "), p.stderr
    assert message in lines[0]
    assert not os.listdir(tmp_path)


def test_simulate_log_writes_a_small_log(tmp_path):
    p = _script("simulate_log.py", "logs.csv", "--rows", "30", "--arms", "3", "--dim", "2",
                cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "logs.csv").stat().st_size > 0
    assert p.stdout.startswith("wrote 30 decisions to logs.csv")


# ------------------------------------------------------------------------ outputs


def test_the_output_listing_names_the_directory_and_files(tmp_path):
    for name in ("summary.json", "regret.png"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".hydra").mkdir()
    line = list_outputs(str(tmp_path))
    assert line == f"wrote {tmp_path}{os.sep}: regret.png, summary.json; config in .hydra/"


def _summary():
    rows = [{"algorithm": a, "final_regret_mean": m, "final_regret_ci95": [m - 1, m + 1],
             "final_regret_p2.5": m - 5, "final_regret_p97.5": m + 5,
             "loglog_slope_last_decade": s, "mean_reward_per_round": 0.5, "runtime_s": 0.1,
             "agent_rounds_per_s": 1e6, "n_seeds": 1000, "n_rounds": 10_000}
            for a, m, s in (("uniform", 9000.0, 1.0), ("lin_ucb", 200.0, 0.2))]
    return {"env": "linear-gaussian", "n_seeds": 1000, "n_rounds": 10_000, "results": rows,
            "machine": {"platform": "test", "cpu_count": 2, "jax": "0"}}


def test_regret_table_states_the_study_and_the_slope():
    from envs.regret.report import format_markdown, format_table

    summary = _summary()
    for text in (format_table(summary["results"], "linear-gaussian"),
                 format_markdown(summary)):
        assert "linear-gaussian world, 1000 seeds × 10,000 rounds" in text
        assert "log-log slope of mean regret between rounds 1,000 and 10,000" in text
        assert "~1: regret grows linearly, ~0.5: like sqrt(T)" in text
        assert text.index("lin_ucb") < text.index("uniform")  # best first
    assert "| lin_ucb | 200.0 | [199.0, 201.0] |" in format_markdown(summary)
