"""Alert rules on simulated deployments: on healthy runs the false-alarm rates are those
of closed forms and of an independent Monte Carlo of the same process; an injected reward
drop is detected on ≥ 95 % of seeds within a stated delay; the study's config is checked
before anything runs."""

import math

import numpy as np
import pytest

import bandits
import envs
from common.errors import ConfigError
from envs.engine.driver import simulate
from envs.monitor import monitor_spec
from envs.monitor.online import LaneMonitor
from envs.regret.alerts import check_alerts, incident_setup

K, D = 5, 10
EPSILON = 0.06875  # ε-greedy explores (plays a non-greedy arm) w.p. q = ε(K−1)/K = 0.055
Q = EPSILON * (K - 1) / K
SEEDS, ROUNDS, HOP = 200, 10_000, 100


def binom_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.fixture(scope="module")
def healthy():
    """One healthy run: a tumbling-window rule (window = hop: independent windows) and the
    default exploration_too_low rule (window 1,000, for 300, threshold 0.05)."""
    spec = monitor_spec({"hop": HOP, "reference": 1000, "baseline": None, "rules": {
        "tumbling": {"when": "exploration_rate < [0.03, 0.05, 0.07]", "window": HOP,
                     "for": 0, "severity": "low"},
        "exploration_too_low": {"when": "exploration_rate < 0.05", "window": 1000,
                                "for": 300, "severity": "medium"}}})
    policy = bandits.make("lin_eps_greedy", K, D, epsilon=EPSILON)
    return simulate(policy, envs.make("linear-gaussian"), n_rounds=ROUNDS, n_seeds=SEEDS,
                    monitor=spec).alerts


def test_tumbling_windows_fire_at_the_binomial_rate(healthy):
    """Each 100-round window's exploration count is Binomial(100, q) and windows are
    independent, so the share of active evaluations is P(X < 100·threshold). (The first
    window's few rounds of exact ties among untried arms shift it by < 0.3 SE.)"""
    active = healthy["tumbling"]["active"][0]  # (S, 3)
    n = SEEDS * (ROUNDS // HOP)
    for j, limit in enumerate((3, 5, 7)):
        p = binom_cdf(limit - 1, HOP, Q)
        got = active[:, j].sum() / n
        se = math.sqrt(p * (1 - p) / n)
        assert abs(got - p) < 4 * se, (limit, got, p, se)


def _episodes_monte_carlo(rng, n_runs: int) -> np.ndarray:
    """Episodes per run of the default rule on the same Bernoulli(q) process, in NumPy:
    windows of 10 hops, active after 4 consecutive holding evaluations."""
    counts = rng.binomial(HOP, Q, size=(n_runs, ROUNDS // HOP))
    window = np.cumsum(counts, axis=1)
    window[:, 10:] -= window[:, :-10].copy()
    holds = window < 0.05 * 1000
    holds[:, :9] = False  # the window fills at the 10th evaluation
    streak = np.zeros(n_runs, int)
    active = np.zeros_like(holds)
    for e in range(holds.shape[1]):
        streak = np.where(holds[:, e], streak + 1, 0)
        active[:, e] = streak >= 4
    starts = active[:, 1:] & ~active[:, :-1]
    return active[:, 0] + starts.sum(axis=1)


def test_default_rule_false_alarms_match_a_monte_carlo_of_the_same_process(healthy):
    engine = healthy["exploration_too_low"]["episodes"][0][:, 0]
    reference = _episodes_monte_carlo(np.random.default_rng(0), 20_000)
    se = math.hypot(engine.std(ddof=1) / math.sqrt(engine.size),
                    reference.std(ddof=1) / math.sqrt(reference.size))
    assert reference.mean() > 0.5, "the process must raise alarms for the test to mean much"
    assert abs(engine.mean() - reference.mean()) < 4 * se, (engine.mean(), reference.mean())


def test_a_broken_model_is_detected_on_95_percent_of_seeds_within_1000_rounds():
    at, seeds = 2000, 200
    spec = monitor_spec({"hop": 100, "reference": 1000, "baseline": None, "rules": {
        "reward_drop": {"when": "avg_reward < 0.8 * baseline", "window": 1000, "for": 300,
                        "severity": "high"}}})
    policy, world = incident_setup("broken_model", bandits.make("lin_eps_greedy", K, D),
                                   envs.make("linear-gaussian"), at, 1.0)
    out = simulate(policy, world, n_rounds=4000, n_seeds=seeds,
                   monitor=LaneMonitor(spec, K, D, watch_from=at)).alerts["reward_drop"]
    delay = out["first"][0, :, 0] - at
    detected = (out["first"][0, :, 0] > 0) & (delay <= 1000)
    assert detected.mean() >= 0.95, f"detected within 1,000 rounds on {detected.mean():.1%}"
    assert out["episodes_before"][0, :, 0].sum() == 0, "no alarm before the incident"


@pytest.mark.parametrize("change, message", [
    ({"alerts": {"incident_round": 20_000, "jump_size": 1.0}}, "alerts.incident_round=20000"),
    ({"alerts": {"incident_round": 10, "jump_size": 1.0, "incidents": ["meteor"]}},
     "alerts.incidents[0]='meteor'"),
    ({"alerts": {"incident_round": 10, "jump_size": 1.0, "when": 3}}, "alerts has no key"),
    ({"alerts": {"incident_round": 10}}, "alerts.jump_size is required"),
    ({"drift": {"name": "abrupt"}}, "drift must be null"),
    ({"bandit": {"ucb1": {}, "lin_ucb": {}}}, "one bandit"),
    ({"sweep": {"epsilon": [0.1, 0.2]}}, "not sweep: got sweep keys ['epsilon']"),
])
def test_bad_study_configs_stop_with_the_key(change, message):
    cfg = {"study": {"n_rounds": 1000}, "bandit": {"lin_eps_greedy": {}},
           "alerts": {"incident_round": 10, "jump_size": 1.0}, **change}
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_alerts(cfg)
