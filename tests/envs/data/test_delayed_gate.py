"""Simulated delayed logs through the gate's loading: decisions written with their rewards'
timestamps, read before every reward has arrived, give the early estimates of
envs/data/delayed.py exactly, and read after, the truth."""

import numpy as np
import pytest

import bandits
from envs.data.delayed import START, early_evaluation, read_at
from envs.data.events import write_events
from envs.data.loading import load_logs
from envs.data.logged import LoggedData, events_from_logged
from envs.engine import simulate
from envs.feedback import Feedback
from envs.worlds import registry

T = 400
EARLY = 15  # the log is read 15 rounds after its last decision


@pytest.fixture(scope="module")
def delayed_run():
    world = registry.make("logistic-bernoulli", n_arms=3, dim=4)
    policy = bandits.make("lin_eps_greedy", world.n_arms, world.dim, epsilon=0.2)
    return simulate(policy, world, n_rounds=T, n_seeds=1, record="logs", seed=4,
                    feedback=Feedback("geometric", delay_mean=8, attribution_window=T))


def _log(run, tmp_path, now_round):
    data = LoggedData.from_rollout(run)
    delay = run.trajectories["delay"][0, 0].astype(np.float64)
    cols = events_from_logged(data, policy_version="sim", algorithm="lin_eps_greedy",
                              exploration={"epsilon": 0.2}, start=START, interval_s=1.0,
                              reward_delay_s=delay)
    path = tmp_path / f"log_{now_round}.parquet"
    write_events(path, read_at(cols, START + np.timedelta64(now_round, "s")))
    return str(path)


def test_the_gate_reads_a_delayed_log_as_the_collector_does(delayed_run, tmp_path):
    tr = delayed_run.trajectories
    arrays = (tr["action"][0, 0], tr["reward"][0, 0], tr["propensity"][0, 0],
              tr["delay"][0, 0])
    table = early_evaluation(*arrays, window_rounds=T, eval_rounds=[EARLY, T])
    early = _log(delayed_run, tmp_path, T - 1 + EARLY)
    zero, *_ = load_logs({"data": early, "load": {"missing_reward": 0.0}})
    dropped, *_ = load_logs({"data": early, "load": {"on_invalid": "reject",
                                                   "rejects_path": str(tmp_path / "r.csv")}})
    pending = int(table["pending"][0])
    assert pending > 0 and dropped.n_rows == T - pending and zero.n_rows == T
    mean = lambda x: np.mean(x, dtype=np.float64)  # noqa: E731
    assert mean(zero.reward) == pytest.approx(table["naive"][0], abs=1e-12)
    assert mean(dropped.reward) == pytest.approx(table["drop_pending"][0], abs=1e-12)
    assert table["naive_bias"][0] < 0  # pending clicks counted as 0 pull the value down
    late = _log(delayed_run, tmp_path, 2 * T)
    full, *_ = load_logs({"data": late, "load": {"missing_reward": 0.0}})
    assert mean(full.reward) == pytest.approx(table["truth"][0], abs=1e-12)
    assert np.array_equal(full.reward, tr["reward"][0, 0])


def test_per_row_reward_delays_are_checked(delayed_run):
    data = LoggedData.from_rollout(delayed_run)
    bad = np.zeros(T)
    bad[7] = -1.0
    with pytest.raises(Exception, match=r"reward_delay_s must be finite and >= 0, got -1.0 "
                                        r"\(row 7\)"):
        events_from_logged(data, policy_version="sim", algorithm="x", exploration={},
                           start=START, reward_delay_s=bad)


def test_the_gate_held_out_split_is_where_pending_rewards_are(delayed_run, tmp_path):
    """The gate holds out the latest 30% of rows, exactly where rewards are still on their
    way: read early with missing rewards as 0, the logging policy's value on that split is
    the held-out rows' early rewards, below the value read once every reward is in."""
    from estimators.gate import run_from_config

    tr = delayed_run.trajectories
    reward, delay = tr["reward"][0, 0].astype(np.float64), tr["delay"][0, 0]
    test = np.arange(T) >= T - int(round(0.3 * T))
    arrived = np.arange(T) + delay <= T - 1 + EARLY
    values = {}
    for name, now in (("early", T - 1 + EARLY), ("late", 2 * T)):
        cfg = {"data": _log(delayed_run, tmp_path, now), "candidate": "uniform",
               "load": {"missing_reward": 0.0}, "estimator": ["ipw"],
               "evaluation": {"n_boot": 20}, "gate": {"decide_on": "ipw", "min_ess": 1}}
        values[name] = run_from_config(cfg, out_dir=str(tmp_path / name))["logging"]["value"]
    assert values["early"] == pytest.approx(np.mean(np.where(arrived, reward, 0.0)[test]),
                                            abs=1e-6)
    assert values["late"] == pytest.approx(np.mean(reward[test]), abs=1e-6)
    assert (~arrived[test]).sum() > (~arrived[~test]).sum()  # pending rows are recent
    assert values["early"] < values["late"]
