"""Feedback settings: bad values stop with the field and the value, and the delays the
engine draws follow their configured distributions."""

import numpy as np
import pytest
from feedback_runs import GEO_MEANS, GEO_ROW, GEO_WINDOWS, MIXTURE, SLOW_MEANS, SLOW_SHARES

import bandits
from envs.engine import simulate
from envs.feedback import Feedback
from envs.worlds import registry

# Monte Carlo tolerance: deviations beyond this many standard errors fail.
Z = 4.0


@pytest.mark.parametrize("kwargs, field, value", [
    ({"delay": "fixed", "delay_mean": -1}, "feedback.delay_mean", "-1"),
    ({"delay": "geometric", "delay_mean": -0.5, "attribution_window": 5},
     "feedback.delay_mean", "-0.5"),
    ({"delay": "geometric", "delay_mean": [1.0, -2.0], "attribution_window": 5},
     "feedback.delay_mean[1]", "-2.0"),
    ({"delay": "fixed", "delay_mean": 5, "attribution_window": 3},
     "feedback.attribution_window=3", "5"),
    ({"delay": "lognormal", "delay_mean": 3.0, "delay_sigma": 0.0, "attribution_window": 9},
     "feedback.delay_sigma", "0.0"),
    ({"update_every": 0}, "feedback.update_every", "0"),
    ({"update_every": True}, "feedback.update_every", "True"),
    ({"update_every": 2.5}, "feedback.update_every", "2.5"),
    ({"delay": "fixed", "delay_mean": 2, "missing": "x"}, "feedback.missing", "'x'"),
    ({"delay": "fixed", "delay_mean": 2, "missing": float("nan")}, "feedback.missing", "nan"),
    ({"delay": "poisson"}, "feedback.delay", "'poisson'"),
    ({"delay": "geometric", "delay_mean": 3.0}, "feedback.attribution_window", "geometric"),
    ({"delay": "mixture", "slow_share": 1.5, "attribution_window": 5},
     "feedback.slow_share", "1.5"),
    ({"delay": "fixed", "delay_mean": 2.5, "attribution_window": 5},
     "feedback.delay_mean", "2.5"),
    ({"delay_mean": 3.0}, "feedback.delay_mean", "3.0"),
])
def test_bad_settings_name_field_and_value(kwargs, field, value):
    with pytest.raises(ValueError) as err:
        Feedback(**kwargs)
    assert field in str(err.value)
    assert value in str(err.value)


def test_config_mapping_and_defaults():
    with pytest.raises(ValueError, match="no key 'delay_means'"):
        Feedback.from_config({"delay": "fixed", "delay_means": 3})
    fixed = Feedback.from_config({"delay": "fixed", "delay_mean": [0, 4, 9]})
    assert fixed.attribution_window == 9 and fixed.slots == 10  # default W: the delay
    assert Feedback.from_config(None) == Feedback()
    assert Feedback().attribution_window == 0 and not Feedback().delayed
    assert not Feedback(update_every=[1, 1]).batched and Feedback(update_every=[1, 3]).batched
    assert Feedback(delay="fixed", delay_mean=[1, 2]).swept() == {"delay_mean": [1, 2]}


def test_feedback_grid_must_match_policy_grid():
    world = registry.make("linear-gaussian", n_arms=2, dim=2)
    lin = bandits.make("lin_ucb", 2, 2)
    with pytest.raises(ValueError, match="share one length"):
        simulate(lin, world, n_rounds=5, n_seeds=1,
                 feedback=Feedback(delay="fixed", delay_mean=[0, 1, 2]),
                 policy_params=lin.default_params._replace(alpha=np.ones(2)))


def _delays(rollout, rows: slice) -> np.ndarray:
    """(G, S·T) delays drawn by the engine in the grid ``rows`` of a shared rollout (one
    row per configured value; 128 seeds of 250 rounds, seed 3)."""
    delay = rollout.trajectories["delay"][rows]
    assert delay.dtype == np.int32 and delay.shape[1:] == (128, 250)
    return delay.reshape(delay.shape[0], -1).astype(np.float64)


def _assert_mean(sample: np.ndarray, mean: float, var: float) -> None:
    se = np.sqrt(var / sample.size)
    assert abs(sample.mean() - mean) < Z * se, (sample.mean(), mean, se)


def test_geometric_delays(ucb1_geometric):
    # rows 0..2: geometric means 0.5, 4 and 20, windows 6, 3 and 6
    means = GEO_MEANS[GEO_ROW["spec"]]
    assert means == [0.5, 4.0, 20.0] and GEO_WINDOWS[2] == 6
    geo = _delays(ucb1_geometric, GEO_ROW["spec"])
    for row, m in zip(geo, means):
        assert row.min() == 0
        _assert_mean(row, m, m * (m + 1))
        p0 = 1.0 / (1.0 + m)  # P(δ = 0)
        _assert_mean((row == 0).astype(float), p0, p0 * (1 - p0))
    assert (geo[2] > 6).any()  # recorded before censoring by the window


def test_mixture_delays(reference):
    # rows 1..3 of the mixture rollout: fast mean 1, slow mean 30, window 10
    share, fast, slow = [0.0, 0.2, 0.5], 1.0, 30.0
    assert SLOW_SHARES[1:] == share and SLOW_MEANS[1:] == [slow] * 3
    assert MIXTURE.delay_mean == fast and MIXTURE.attribution_window == 10
    mix = _delays(reference, slice(1, 4))
    for row, s in zip(mix, share):
        mean = (1 - s) * fast + s * slow
        second = (1 - s) * fast * (2 * fast + 1) + s * slow * (2 * slow + 1)  # E[δ²]
        _assert_mean(row, mean, second - mean**2)
        p0 = (1 - s) / (1 + fast) + s / (1 + slow)
        _assert_mean((row == 0).astype(float), p0, p0 * (1 - p0))


def test_lognormal_delays_match_floored_reference():
    sigma, mean = [0.5, 1.0], 8.0
    policy = bandits.make("uniform", 2, 1)
    world = registry.make("linear-gaussian", n_arms=2, dim=1)
    r = simulate(policy, world, n_rounds=250, n_seeds=128, record="trajectories",
                 feedback=Feedback(delay="lognormal", delay_mean=mean, delay_sigma=sigma,
                                   attribution_window=20), seed=3)
    drawn = _delays(r, slice(0, 2))
    assert drawn.shape[0] == 2
    rng = np.random.default_rng(0)
    for row, s in zip(drawn, sigma):
        mu = np.log(mean) - s * s / 2
        ref = np.floor(np.exp(mu + s * rng.standard_normal(400_000)))
        se = np.sqrt(row.var() / row.size + ref.var() / ref.size)
        assert abs(row.mean() - ref.mean()) < Z * se, (row.mean(), ref.mean(), se)
        assert ref.mean() < mean  # flooring loses about half a round
        # P(δ = 0) = P(LN < 1) = Φ(−μ/σ)
        p0 = (ref == 0).mean()
        _assert_mean((row == 0).astype(float), p0, max(p0 * (1 - p0), 1e-6))
