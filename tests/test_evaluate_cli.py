"""The two real-log commands end to end: a simulated deployment log, then the gate."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, cwd, timeout=600):
    env = {**os.environ, "BANDAX_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _simulate_log(path, cwd):
    p = _run([os.path.join(ROOT, "scripts", "simulate_log.py"), str(path), "--rows", "6000",
              "--arms", "4", "--dim", "5"], cwd)
    assert p.returncode == 0, p.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def parquet_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("log")
    return _simulate_log(folder / "logs.parquet", folder)


@pytest.mark.slow
def test_simulated_log_through_the_gate(parquet_log, tmp_path):
    log = parquet_log
    p = _run([os.path.join(ROOT, "scripts", "evaluate.py"), f"data={log}",
              "candidate=[lin_ucb,uniform]", "evaluation.n_boot=100",
              f"hydra.run.dir={tmp_path / 'out'}"], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    with open(tmp_path / "out" / "report.json") as f:
        report = json.load(f)
    lin, uni = report["candidates"]
    assert report["data"]["test_rows"] == 1800 and report["data"]["train_rows"] == 4200
    # the softmax logging policy is good; uniform is clearly worse, LinUCB clearly better
    assert uni["decision"] == "do not ship" and uni["estimates"]["dr"]["lift_pct"]["upper"] < 0
    assert lin["decision"] == "ship"
    assert (tmp_path / "out" / "lin_ucb.npz").exists()
    # a trained candidate can be evaluated again from its checkpoint
    p = _run([os.path.join(ROOT, "scripts", "evaluate.py"), f"data={log}",
              f"candidate={tmp_path / 'out' / 'lin_ucb.npz'}", "evaluation.n_boot=100",
              f"hydra.run.dir={tmp_path / 'again'}"], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    with open(tmp_path / "again" / "report.json") as f:
        again = json.load(f)["candidates"][0]
    assert again["estimates"]["dr"]["value"] == pytest.approx(lin["estimates"]["dr"]["value"])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_every_format_holds_the_log_the_gate_reads(parquet_log, tmp_path, fmt):
    """The same simulated log written as CSV or JSON Lines loads as the Parquet one: the
    gate sees the same rows, so the Parquet run above stands for every format."""
    from envs.data.loading import load_logs

    other = _simulate_log(tmp_path / f"logs.{fmt}", tmp_path)
    want, want_t, _, _ = load_logs({"data": str(parquet_log)})
    got, got_t, _, _ = load_logs({"data": str(other)})
    np.testing.assert_array_equal(got_t, want_t)
    assert got.n_arms == want.n_arms
    for name in ("action", "reward", "pscore", "context"):
        np.testing.assert_allclose(np.asarray(getattr(got, name), np.float64),
                                   np.asarray(getattr(want, name), np.float64),
                                   rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("override, message", [
    ("candidate=lin_usb", "neither a checkpoint"),
    ("gate.min_ess=-1", "gate.min_ess must be >= 0"),
    ("+candidate_params.lin_ucb.alpha=-2", "candidate_params.lin_ucb.alpha must be"),
    ("data=missing.parquet", "no such file"),
    ("data=obd", "data=obd needs obd.path"),
])
def test_bad_gate_configs_stop_with_the_key(tmp_path, override, message):
    p = _run([os.path.join(ROOT, "scripts", "evaluate.py"), "data=x.parquet", override,
              f"hydra.run.dir={tmp_path / 'out'}"], tmp_path, timeout=120)
    assert p.returncode == 2 and message in p.stderr, p.stderr[-2000:]


def test_simulated_log_with_lost_rewards_and_broken_rows(tmp_path):
    """--no-reward blanks exactly that share of rewards, --invalid breaks exactly that share
    of propensities; the reader fills the first with load.missing_reward and rejects the
    second with its reason."""
    from envs.data.events import read_events

    log = tmp_path / "clicks.csv"
    p = _run([os.path.join(ROOT, "scripts", "simulate_log.py"), str(log), "--rows", "2000",
              "--arms", "4", "--dim", "3", "--no-reward", "0.2", "--invalid", "0.01"],
             tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "rewards never arrived: 400, broken propensities: 20" in p.stdout
    got = read_events(log, missing_reward=0.0, on_invalid="reject",
                      rejects_path=str(tmp_path / "rejects.csv"))
    assert got.report["rows_rejected"] == 20
    assert got.report["rejected"] == {"propensity:range": 20}
    assert got.report["rewards_filled"] == int((~got.has_reward).sum())
    assert 380 <= got.report["rewards_filled"] <= 400  # 400 lost, some on rejected rows
    assert np.all(got.data.reward[~got.has_reward] == 0.0)
