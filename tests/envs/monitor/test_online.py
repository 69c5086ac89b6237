"""The engine's monitor (envs/monitor/online.py) against the NumPy reference
(envs/monitor/reference.py) on the very rounds the engine played."""

import numpy as np
import pytest

import bandits
import envs
from envs.engine.driver import simulate
from envs.engine.options import EngineOptions
from envs.monitor import MonitorInputs, evaluate_rules, monitor_spec, window_kpis
from envs.monitor.online import LaneMonitor

# Thresholds chosen to sit inside each KPI's range on this world, so rules both fire and
# stay quiet across the seeds; several are grids.
RULES = {
    "reward_drop": {"when": "avg_reward < [0.9, 1.0, 1.1] * baseline", "window": 200,
                    "for": 50, "severity": "high"},
    "early_drop": {"when": "avg_reward < [1.0, 1.2] * baseline", "window": 100, "for": 0,
                   "severity": "high"},  # a window shorter than the reference rounds
    "concentration": {"when": "max_share > [0.3, 0.5]", "window": 100, "for": 0,
                      "severity": "medium"},
    "exploration": {"when": "exploration_rate < 0.1", "window": 200, "for": 100,
                    "severity": "medium"},
    "entropy": {"when": "action_entropy < 0.5", "window": 200, "for": 0,
                "severity": "medium"},
    "share_entropy": {"when": "share_entropy < 1.2", "window": 100, "for": 0,
                      "severity": "medium"},
    "propensity": {"when": "min_propensity < 0.03", "window": 100, "for": 0,
                   "severity": "medium"},
    "drift": {"when": "context_drift > [0.05, 0.1, 0.2]", "window": 200, "for": 0,
              "severity": "medium"},
    "regret": {"when": "regret > 0.2", "window": 100, "for": 0, "severity": "medium"},
}
SPEC = monitor_spec({"hop": 50, "reference": 200, "baseline": None, "rules": RULES})
N_SEEDS, N_ROUNDS = 5, 1000


@pytest.fixture(scope="module")
def run():
    world = envs.make("linear-gaussian", n_arms=4, dim=3)
    policy = bandits.make("lin_eps_greedy", n_arms=4, dim=3)
    return simulate(policy, world, n_rounds=N_ROUNDS, n_seeds=N_SEEDS, record="logs",
                    monitor=LaneMonitor(SPEC, 4, 3, watch_from=500))


def _reference(tr, s):
    inputs = MonitorInputs.from_arrays(
        reward=tr["reward"][0, s], action=tr["action"][0, s],
        propensity=tr["propensity"][0, s], context=tr["context"][0, s],
        probs=tr["action_dist"][0, s], regret=tr["regret"][0, s], n_arms=4)
    return evaluate_rules(window_kpis(inputs, SPEC), SPEC)


def test_engine_alerts_equal_the_reference_on_the_rounds_played(run):
    fired = 0
    for s in range(N_SEEDS):
        for name, want in _reference(run.trajectories, s).items():
            got = run.alerts[name]
            np.testing.assert_array_equal(got["episodes"][0, s], want["episodes"], name)
            np.testing.assert_array_equal(got["active"][0, s], want["active_count"], name)
            rounds = np.arange(SPEC.hop, N_ROUNDS + 1, SPEC.hop)
            active = want["active"]
            after = np.where(active & (rounds[:, None] > 500), rounds[:, None], 10**9).min(0)
            np.testing.assert_array_equal(got["first"][0, s],
                                          np.where(after < 10**9, after, -1), name)
            starts = active & ~np.vstack([np.zeros_like(active[:1]), active[:-1]])
            np.testing.assert_array_equal(got["episodes_before"][0, s],
                                          (starts & (rounds[:, None] <= 500)).sum(0), name)
            fired += int(want["episodes"].sum() > 0)
    assert fired >= 3 * len(RULES), "too few rules fired for the comparison to mean much"


def test_a_monitor_changes_no_number_of_the_run(run):
    world = envs.make("linear-gaussian", n_arms=4, dim=3)
    policy = bandits.make("lin_eps_greedy", n_arms=4, dim=3)
    plain = simulate(policy, world, n_rounds=N_ROUNDS, n_seeds=N_SEEDS, record="logs",
                     options=EngineOptions(layout="vmap"))
    for key in ("action", "reward", "propensity"):
        np.testing.assert_array_equal(plain.trajectories[key], run.trajectories[key])
    assert plain.alerts is None
