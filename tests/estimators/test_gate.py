"""The deployment gate on simulated logs whose truth is known."""

import json

import jax
import numpy as np
import pytest

import envs
from bandits.train import save_checkpoint, train_checkpoint
from envs.logged import LoggedData
from envs.truth import policy_value, simulate_logs
from estimators.gate import GateRule, run_gate, time_split

K, D, N = 5, 10, 12_000


@pytest.fixture(scope="module")
def world_and_logs():
    env = envs.make("linear-gaussian", n_arms=K, dim=D)
    params = env.sample_params(jax.random.key(11))
    uniform = lambda x, m: m / m.sum()
    logs = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), simulate_logs(
        env, params, uniform, jax.random.key(12), N, 1))
    data = LoggedData.from_arrays(context=logs.context, action=logs.action,
                                  reward=logs.reward, pscore=logs.pscore,
                                  action_dist=logs.action_dist, mask=logs.mask)
    truth = float(policy_value(env, params, uniform, jax.random.key(13), 400_000).value)
    return env, params, data, truth


def _true_value(env, params, ck):
    policy = ck.policy()
    noise = policy.draw(ck.params, jax.random.key(0))
    target = lambda x, m: policy.decide(ck.params, ck.state, noise, x, m).probs
    return float(policy_value(env, params, target, jax.random.key(14), 400_000).value)


def test_report_covers_the_truth_and_flips_for_a_worse_candidate(world_and_logs, tmp_path):
    env, params, data, logging_truth = world_and_logs
    train_idx, _ = time_split(np.arange(N), N, 0.5)
    train = data.take(train_idx)
    worse = train_checkpoint("lin_eps_greedy", {"epsilon": 0.0}, train.context, train.action,
                             -train.reward, n_arms=K, version="inverted")
    path = str(tmp_path / "worse.npz")
    save_checkpoint(path, worse)
    report = run_gate(data, np.arange(N), [
        {"name": "greedy", "algorithm": "lin_eps_greedy", "params": {"epsilon": 0.0}},
        {"name": "worse", "checkpoint": path}], test_fraction=0.5, n_boot=400,
        rule=GateRule(min_ess=200), out_dir=str(tmp_path / "out"), seed=3)
    good, bad = report["candidates"]
    good_truth = _true_value(env, params, train_checkpoint(
        "lin_eps_greedy", {"epsilon": 0.0}, train.context, train.action, train.reward,
        n_arms=K))
    lv = report["logging"]
    assert lv["lower"] <= logging_truth <= lv["upper"]
    dr = good["estimates"]["dr"]
    assert dr["lower"] <= good_truth <= dr["upper"], (dr, good_truth)
    assert good_truth > logging_truth + 0.3  # a real lift, which the gate must see
    assert good["decision"] == "ship" and dr["lift_pct"]["lower"] > 0 and dr["p_value"] < 0.01
    assert bad["decision"] == "do not ship"
    assert bad["estimates"]["dr"]["lift_pct"]["upper"] < 0
    assert bad["version"] == "inverted" and bad["source"].startswith("checkpoint")
    # uniform logging: ESS of a greedy target ≈ n/K; no support violation
    d = good["diagnostics"]
    assert d["ess"] == pytest.approx(N / 2 / K, rel=0.1) and d["support_violation"] == 0.0
    assert d["nonzero_fraction"] == pytest.approx(1 / K, abs=0.02)
    out = tmp_path / "out"
    with open(out / "report.json") as f:
        assert json.load(f)["candidates"][0]["decision"] == "ship"
    assert "**ship**" in (out / "report.md").read_text()
    assert (out / "report.png").stat().st_size > 10_000 and (out / "greedy.npz").exists()


def test_the_rule_is_explicit(world_and_logs):
    _, _, data, _ = world_and_logs
    small = data.take(np.arange(3000))
    report = run_gate(small, None, [{"name": "g", "algorithm": "lin_ucb",
                                     "params": {"alpha": 0.0}}],
                      n_boot=100, rule=GateRule(min_ess=10_000))
    c = report["candidates"][0]
    assert c["decision"] == "do not ship"
    assert [ch["ok"] for ch in c["checks"]] == [True, False, True]
    with pytest.raises(ValueError, match="gate has no key 'min_lift'"):
        GateRule.from_config({"min_lift": 1})
    with pytest.raises(ValueError, match="gate.decide_on must be one of"):
        GateRule.from_config({"decide_on": "magic"})


def test_support_violation_counts_mass_on_arms_never_logged(world_and_logs):
    _, _, data, _ = world_and_logs
    keep = data.action != 4  # arm 4 never appears, and the logging distribution is unknown
    blind = LoggedData.from_arrays(context=data.context[keep], action=data.action[keep],
                                   reward=data.reward[keep], pscore=data.pscore[keep],
                                   n_arms=K)
    from estimators.gate import evaluate_candidate

    probs = np.full((blind.n_rows, K), 0.1, np.float32)
    probs[:, 0] = 0.6
    res = evaluate_candidate(blind, probs, None, key=jax.random.key(0),
                             estimators=("ipw", "snipw"), n_boot=50,
                             rule=GateRule(decide_on="ipw"))
    assert res["diagnostics"]["support_violation"] == pytest.approx(0.1)
    assert res["diagnostics"]["support_basis"] == "arms present in the held-out logs"
    assert res["decision"] == "do not ship"
