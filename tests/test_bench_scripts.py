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
                     "8", "--rounds", "40", "--loop-seeds", "2", "--repeat", "1",
                     "--torch-seeds", "1"],
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
        extra = {"bench_studies": ["--out", str(tmp / "studies.json")],
                 "bench_neural": ["--json", str(tmp / "neural.json")]}.get(name, [])
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


def test_bench_neural_prints_bandax_both_loops_and_training(scripts):
    """With torch installed the PyTorch row is timed, in the table and the JSON; without
    it the script says how to install it and leaves the two cells empty."""
    text = _finished(scripts, "bench_neural")
    assert ("| policy | bandax agent-rounds/s | compile s | one seed at a time (JAX, jitted)"
            in text and "| speed-up vs PyTorch loop |" in text)
    row = next(line for line in text.splitlines() if line.startswith("| neural_eps_greedy |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 9 and cells[4].endswith("×") and "%" in cells[8]
    with open(scripts[1] / "neural.json") as f:
        saved = json.load(f)[0]
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "pip install torch==2.13.0" in text and cells[5:7] == ["–", "–"]
        assert "torch" not in saved
        return
    assert float(cells[5].replace(",", "")) > 0 and cells[6].endswith("×")
    t = saved["torch"]
    assert t["seconds_per_seed"] > 0 and t["threads"] >= 1
    assert t["run_s_for_all_seeds"] == pytest.approx(8 * t["seconds_per_seed"])
    assert saved["speedup_torch"] == pytest.approx(t["run_s_for_all_seeds"]
                                                   / saved["bandax"]["run_s"])


def _uniform_wheel_regret(delta: float, mu_1=1.2, mu_2=1.0, mu_3=50.0) -> float:
    """The uniform policy's expected regret per round on the wheel: inside the disc
    (probability δ²) arm 0 is best, on the rim the quadrant's arm."""
    inside = mu_1 - (mu_1 + 4 * mu_2) / 5
    rim = mu_3 - (mu_1 + mu_3 + 3 * mu_2) / 5
    return delta ** 2 * inside + (1 - delta ** 2) * rim


def test_torch_wheel_matches_the_jax_wheel():
    """The PyTorch baseline's NumPy wheel gives the JAX world's mean rewards, and its
    contexts the uniform disc's radius distribution (E‖x‖² = 1/2)."""
    pytest.importorskip("torch")
    import jax
    import torch_neural

    from envs.worlds import WheelWorld

    world = WheelWorld(delta=0.5)
    wheel = torch_neural.Wheel(world, np.random.default_rng(0))
    xs = np.stack([wheel.context() for _ in range(4000)])
    assert np.all(np.sum(xs ** 2, 1) <= 1 + 1e-6)
    assert abs(np.mean(np.sum(xs ** 2, 1)) - 0.5) < 0.02  # sd 0.29/√4000 = 0.005
    ours = np.stack([wheel.mean_rewards(x).copy() for x in xs[:300]])
    params = world.sample_params(jax.random.key(0))
    ref = jax.vmap(lambda x: world.mean_rewards(params, (), x))(xs[:300])
    np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-6)
    assert np.mean(ours.max(1) - ours.mean(1)) == pytest.approx(_uniform_wheel_regret(0.5),
                                                               rel=0.1)


def test_torch_arm_gradients_match_autograd():
    """The hand-written per-arm gradients of NeuralUCB equal a backward pass per arm."""
    torch = pytest.importorskip("torch")
    import torch_neural

    agent = torch_neural.make_agent("neural_ucb", 3, {"hidden": 16, "depth": 2})
    agent.set_context(np.array([0.3, -0.6], np.float32))
    with torch.no_grad():
        f = torch_neural.arm_gradients(agent.net, agent.arm_in, agent.views)
    params = list(agent.net.parameters())
    for a in range(5):
        out = agent.net(agent.arm_in[a:a + 1])[0, 0]
        ref = torch.cat([g.reshape(-1) for g in torch.autograd.grad(out, params)])
        torch.testing.assert_close(agent.grads[a], ref, atol=1e-6, rtol=1e-5)
        assert float(f[a]) == pytest.approx(float(out.detach()), abs=1e-6)
    assert agent.arm_in[2, 4:6].tolist() == pytest.approx([0.3, -0.6])
    assert float(agent.arm_in.abs().sum()) == pytest.approx(5 * 0.9)


def test_torch_eps_greedy_learns_the_wheel_and_the_loop_row_times_it():
    """1,500 rounds at δ = 0.5: the PyTorch neural ε-greedy's regret is far below the
    uniform policy's (≈ 29.4 a round; a learning seed ends near 5,000 of 44,000), and
    ``torch_loop_row`` times every policy."""
    pytest.importorskip("torch")
    import torch_neural
    from bench_neural import SETTINGS

    from envs.worlds import WheelWorld

    uniform = 1500 * _uniform_wheel_regret(0.5)
    regret = torch_neural.torch_rollout("neural_eps_greedy", 0, 1500, SETTINGS,
                                        WheelWorld(delta=0.5))
    assert 0 < regret < 0.3 * uniform, (regret, uniform)
    for name in ("neural_ucb", "neural_linear"):
        row = torch_neural.torch_loop_row(name, 100, 20, 2, SETTINGS)
        assert row["compile_s"] > 0 and row["seconds_per_seed"] > 0 and row["threads"] >= 1
        assert row["run_s_for_all_seeds"] == pytest.approx(100 * row["seconds_per_seed"])
        assert row["agent_rounds_per_s"] == pytest.approx(20 / row["seconds_per_seed"])
    with pytest.raises(ValueError, match="policy_name.*'neural_ts'"):
        torch_neural.torch_rollout("neural_ts", 0, 10, SETTINGS)


@pytest.mark.slow
def test_torch_ucb_and_linear_learn_the_wheel():
    """NeuralUCB and NeuralLinear in PyTorch: 1,500 rounds at δ = 0.5 end well below the
    uniform policy's regret (learning seeds end near 2,000–16,000 of 44,000)."""
    pytest.importorskip("torch")
    import torch_neural
    from bench_neural import SETTINGS

    from envs.worlds import WheelWorld

    uniform = 1500 * _uniform_wheel_regret(0.5)
    for name in ("neural_ucb", "neural_linear"):
        regret = torch_neural.torch_rollout(name, 0, 1500, SETTINGS, WheelWorld(delta=0.5))
        assert 0 < regret < 0.5 * uniform, (name, regret, uniform)

