"""The benchmark scripts run at tiny sizes, and their NumPy baselines agree with bandax."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

COMMANDS = {
    "bench": ["scripts/bench.py", "--seeds", "16", "--rounds", "200", "--numpy-rounds", "100",
              "--loop-rounds", "100", "--repeat", "1", "--policies", "lin_ucb",
              "--no-cache-check"],
    "bench_ope": ["scripts/bench_ope.py", "--n", "2000", "--boot", "20", "--repeat", "1"],
    "bench_studies": ["scripts/bench_studies.py", "--quick", "--jobs", "evaluate"],
    "bench_feedback": ["scripts/bench_feedback.py", "--seeds", "8", "--rounds", "64",
                       "--repeat", "1", "--cases", "stationary,fixed_100,refresh_10"],
    "bench_neural": ["scripts/bench_neural.py", "--policies", "neural_eps_greedy", "--seeds",
                     "8", "--rounds", "40", "--loop-seeds", "2", "--repeat", "1"],
    "bench_ab": ["scripts/bench_ab.py", "--base", "HEAD", "--kinds", "lin_ucb", "--pairs", "2",
                 "--repeat", "1", "--seeds", "8", "--rounds", "64"],
}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """The scripts started together (they wait mostly on start-up and compiling);
    each test waits for its own."""
    tmp = tmp_path_factory.mktemp("bench")
    procs = {}
    for name, args in COMMANDS.items():
        extra = ["--out", str(tmp / "studies.json")] if name == "bench_studies" else []
        out = open(tmp / f"{name}.txt", "w+")
        procs[name] = (subprocess.Popen([sys.executable, *args, *extra], cwd=ROOT, stdout=out,
                                        stderr=subprocess.STDOUT, text=True), out)
    yield procs, tmp
    for proc, out in procs.values():
        if proc.poll() is None:
            proc.kill()
        out.close()


def _finished(scripts, name: str) -> str:
    proc, out = scripts[0][name]
    rc = proc.wait(timeout=600)
    out.seek(0)
    text = out.read()
    assert rc == 0, text[-3000:]
    return text


def test_bench_prints_both_baselines(scripts):
    text = _finished(scripts, "bench")
    assert "| policy | implementation | seeds | rounds | compile / set-up s |" in text
    assert "vs vectorised NumPy" in text and "vs NumPy loop (1 seed)" in text
    for impl in ("NumPy loop | 1 |", "NumPy vectorised | 16 | 100 |", "bandax | 16 | 200 |"):
        assert f"| LinUCB | {impl}" in text
    assert "mean regret after 100 rounds NumPy vectorised" in text


def test_bench_ope_prints_every_implementation(scripts):
    text = _finished(scripts, "bench_ope")
    assert "| implementation | compile s | run s | vs NumPy count vectors |" in text
    for impl in ("NumPy, obp procedure", "NumPy count vectors", "bandax, multinomial",
                 "bandax, poisson"):
        assert f"| {impl} |" in text
    assert "| SNIPS |" in text


def test_bench_studies_runs_cold_and_warm(scripts):
    text = _finished(scripts, "bench_studies")
    assert "| job | compilation cache | wall s | peak memory MiB | exit code |" in text
    with open(scripts[1] / "studies.json") as f:
        rows = json.load(f)["rows"]
    assert [r["cache"] for r in rows] == ["–", "cold", "warm"]
    assert all(r["exit_code"] == 0 and r["wall_s"] > 0 and r["peak_mib"] > 50 for r in rows)


def test_bench_ab_alternates_and_reports_every_run(scripts):
    """Against HEAD (a worktree of the same commit), each run appears in both orders and
    the table has one row per kind with a ratio."""
    text = _finished(scripts, "bench_ab")
    for kind in ("lin_ucb",):
        assert text.count(f" {kind} ") >= 4, text  # 2 pairs x 2 sides
        row = [line for line in text.splitlines() if line.startswith(f"| {kind} |")]
        assert len(row) == 1 and 0 < float(row[0].split("|")[4]) < 10, text
    first = [line.split()[3] for line in text.splitlines() if line.startswith("pair ")]
    assert first == ["base", "this", "this", "base"], text


def test_numpy_vectorised_linucb_matches_bandax_regret():
    """Mean cumulative regret after 100 rounds over 500 seeds (different random numbers on
    each side): within 4 standard errors of the difference (false alarm rate 6e-5)."""
    import bench

    numpy = bench.numpy_row("lin_ucb", 500, 100, repeat=1)
    bandax = bench.bandax_run("lin_ucb", 500, 100, repeat=1)
    se = np.hypot(numpy["se_final_regret"], bandax["se_regret_at_check"])
    assert 0 < se < 1.5
    assert abs(numpy["mean_final_regret"] - bandax["mean_regret_at_check"]) < 4 * se


def test_count_vector_bootstrap_matches_bandax():
    """Same point estimates to 1e-6; 95% interval widths within 25% (each width from 400
    resamples has a Monte Carlo error of ~5%)."""
    import bench_ope

    rows = bench_ope.make_rows(2000, 10)
    numpy = bench_ope.numpy_count_vectors(rows, 400, seed=0)
    bandax = bench_ope.bandax_procedure(rows, 400, "multinomial")[1](rows, 0)
    np.testing.assert_allclose(numpy["estimate"], bandax["estimate"], atol=1e-6)
    ratio = (bandax["upper"] - bandax["lower"]) / (numpy["upper"] - numpy["lower"])
    assert np.all((ratio > 0.75) & (ratio < 1.33)), ratio


def test_bench_feedback_prints_each_case_against_the_stationary_run(scripts):
    text = _finished(scripts, "bench_feedback")
    assert "| policy | case | seeds | rounds | compile / set-up s | run s |" in text
    for case in ("stationary", "fixed_100", "refresh_10"):
        assert f"| lin_ucb | {case} | 8 | 64 |" in text
    assert "| lin_ucb | stationary | 8 | 64 |" in text and "| 1.00× |" in text


def test_bench_neural_prints_bandax_the_one_seed_loop_and_training(scripts):
    text = _finished(scripts, "bench_neural")
    assert "| policy | bandax agent-rounds/s | compile s | one seed at a time" in text
    row = next(line for line in text.splitlines() if line.startswith("| neural_eps_greedy |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 7 and cells[4].endswith("×") and "%" in cells[6]
