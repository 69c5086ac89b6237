"""The deployment gate on simulated logs whose truth is known."""

import json

import jax
import numpy as np
import pytest

import envs
from bandits.checkpoints import save_checkpoint
from bandits.train import train_checkpoint
from envs.data.generate import simulate_logs
from envs.data.logged import LoggedData
from envs.data.truth import policy_value
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


def test_reward_file_is_joined_and_pending_decisions_are_counted(tmp_path, capsys):
    """Decisions logged without rewards + a reward-event file: id joins, window joins, the
    explicit missing-reward value, and decisions still pending left out with a count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from envs.data.events import events_from_logged, write_events
    from envs.data.loading import load_logs

    n = 6
    data = LoggedData(np.ones((n, 2), np.float32), np.zeros(n, np.int32),
                      np.full(n, np.nan, np.float32), np.full(n, 0.5, np.float32), 2)
    # (NaN rewards: decisions logged before their outcome, written as pending)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    cols = events_from_logged(data, policy_version="v1", algorithm="uniform", exploration={},
                              start=start, interval_s=600.0,
                              user_id=np.array([b"a", b"b", b"c", b"a", b"d", b"e"]))
    write_events(str(tmp_path / "log.parquet"), cols)
    t = lambda minutes: start + np.timedelta64(int(minutes * 60e6), "us")
    pq.write_table(pa.table({
        "event_id": ["ev0000001", None, None, None],
        "user_id": ["x", "a", "c", "e"],
        "timestamp": pa.array([t(11), t(31), t(20 + 61), t(52)], pa.timestamp("us")),
        "value": [1.0, 2.0, 5.0, 3.0]}), tmp_path / "rewards.parquet")
    cfg = {"data": str(tmp_path / "log.parquet"), "load": {"missing_reward": 0.0},
           "rewards": {"path": str(tmp_path / "rewards.parquet"), "window_s": 3600}}
    got, ts, _, _ = load_logs(cfg)
    # row 0 (a, 0 min): no reward, closed -> 0; row 1 (b): by id -> 1; row 2 (c, 20 min):
    # reward at 81 min is 61 min later -> late, so 0; row 3 (a, 30 min) -> 2; row 4 (d,
    # 40 min): window open at 'now' (52 min) -> pending, left out; row 5 (e, 50 min) -> 3
    np.testing.assert_array_equal(got.reward, [0.0, 1.0, 0.0, 2.0, 3.0])
    assert len(ts) == 5 and got.n_rows == 5
    out = capsys.readouterr().out
    assert "1 decisions have no reward and are left out of the evaluation: 1 pending" in out
