"""The safety layer through the engine, with delayed, batched feedback: a circuit breaker
over a faulty ε-greedy policy observes every decision, serves only valid ones (the
fallback through an outage), and IPS on its logs (the serving branch's propensities) is
unbiased for another policy's value."""

import numpy as np
import pytest

import bandits
from envs.engine import simulate
from envs.feedback import Feedback
from envs.worlds import registry

K, D, T, SEEDS = 4, 3, 200, 256
OUTAGE = (40, 55)


@pytest.fixture(scope="module")
def run():
    """ε-greedy ridge (ε = 0.2) whose scores are NaN in 30 % of rounds and which is down
    in rounds 40–54, behind a breaker (8 failures in 10 rounds, cooldown 5) with a uniform
    fallback; rewards arrive 3 rounds late and the served model is refreshed every 4."""
    inner = bandits.make("lin_eps_greedy", K, D, epsilon=0.2)
    faulty = bandits.faulty(inner, nan_rate=0.3, outages=(OUTAGE,))
    policy = bandits.circuit_breaker(faulty, bandits.make("uniform", K, D), failures=8,
                                     window=10, cooldown=5)
    world = registry.make("linear-gaussian", n_arms=K, dim=D)
    return simulate(policy, world, n_rounds=T, n_seeds=SEEDS, record="logs", seed=7,
                    feedback=Feedback(delay="fixed", delay_mean=3, update_every=4))


def test_ips_on_the_breaker_s_logs_is_unbiased(run):
    """IPS of the uniform policy on every round of every seed equals the rounds' true
    uniform value within 3 Monte Carlo standard errors (over seeds)."""
    t = run.trajectories
    mask = t["mask"][0].astype(bool)
    m = mask.sum(-1)
    propensity = t["propensity"][0]
    assert np.all(np.isfinite(propensity)) and propensity.min() > 0
    ips = t["reward"][0] * (1.0 / m) / propensity  # (S, T)
    truth = np.where(mask, t["expected_reward"][0], 0.0).sum(-1) / m
    per_seed = (ips - truth).mean(-1)
    se = per_seed.std(ddof=1) / np.sqrt(len(per_seed))
    assert abs(per_seed.mean()) < 3 * se, (
        f"IPS bias {per_seed.mean():.4f} against a Monte Carlo standard error {se:.4f}")
    gap = t["reward"][0].mean() - truth.mean()
    assert gap > 5 * se, (gap, se)  # the logging policy is far better than uniform


def test_the_breaker_observes_every_decision_and_serves_only_valid_ones(run):
    state = run.final_state
    np.testing.assert_array_equal(state.round, T)  # the breaker counted every decision
    np.testing.assert_array_equal(state.policy.round, T)  # so did the faulty policy
    t = run.trajectories
    action, mask = t["action"][0], t["mask"][0].astype(bool)
    assert action.min() >= 0 and action.max() < K
    assert np.take_along_axis(mask, action[..., None], -1).all()
    down = slice(*OUTAGE)  # the fallback served the whole outage: uniform propensities
    np.testing.assert_allclose(t["propensity"][0][:, down], 1.0 / mask[:, down].sum(-1))
    greedy_share = (t["propensity"][0][:, OUTAGE[1] + 20:] > 0.5).mean()
    assert greedy_share > 0.5, greedy_share  # the breaker closed again after the outage
