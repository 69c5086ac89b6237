"""A world may declare how its rewards arrive (``World.with_feedback``, or ``env.feedback``
in a study's config): the engine then plays exactly the run of the same feedback given to
``simulate``; a drift keeps its base's; the study refuses two declarations."""

import numpy as np
import pytest
from feedback_runs import (
    EPS_DELAYS,
    EPS_EVERY,
    EPS_ROW,
    EPS_T,
    clicks_world,
    optimistic_greedy,
    run,
)

import bandits
from envs.feedback import Feedback
from envs.regret.study import _grid, feedback_of, validate
from envs.worlds import registry

FIXED = {"delay": "fixed", "delay_mean": 5, "attribution_window": 8}


def test_a_world_s_own_feedback_is_the_run_of_that_feedback(eps_fixed):
    fb = Feedback(delay="fixed", delay_mean=EPS_DELAYS, update_every=EPS_EVERY)
    world = clicks_world().with_feedback(fb)
    assert world.feedback is fb and clicks_world().feedback is None
    own = run(optimistic_greedy(), world, None, EPS_T, 4)
    for name in ("action", "reward", "delay", "regret"):
        np.testing.assert_array_equal(own.trajectories[name], eps_fixed.trajectories[name],
                                      err_msg=name)


def test_a_drift_keeps_its_base_s_feedback_unless_it_declares_one():
    fb, other = Feedback(**FIXED), Feedback(delay="geometric", delay_mean=2.0,
                                             attribution_window=10)
    drifting = registry.make_drift("abrupt", clicks_world().with_feedback(fb), rate=0.01)
    assert drifting.feedback is fb
    assert drifting.with_feedback(other).feedback is other
    assert drifting.base.feedback is fb


def _cfg(feedback=None, env_feedback=None, sweep=None):
    env = {"name": "logistic-bernoulli", "n_arms": 3, "dim": 4}
    if env_feedback is not None:
        env["feedback"] = env_feedback
    return {"env": env, "bandit": {"lin_ucb": {}}, "feedback": feedback or {"delay": "none"},
            "study": {"n_seeds": 2, "n_rounds": 50}, "sweep": sweep or {}}


def test_the_study_reads_the_world_s_feedback_and_sweeps_it():
    cfg = _cfg(env_feedback=FIXED, sweep={"delay_mean": [2, 5]})
    validate(cfg)
    assert feedback_of(_cfg(env_feedback=FIXED)) == Feedback(**FIXED)
    policy = bandits.make("lin_ucb", 3, 4)
    _, feedback, _ = _grid(policy, cfg)
    assert feedback == Feedback(**{**FIXED, "delay_mean": [2, 5]})


@pytest.mark.parametrize("cfg, message", [
    (_cfg(feedback={"delay": "geometric", "delay_mean": 3, "attribution_window": 9},
          env_feedback=FIXED), r"env\.feedback and feedback both say .*feedback=none"),
    (_cfg(env_feedback={**FIXED, "delay_mean": -1}),
     r"env\.feedback\.delay_mean must be a number in \[0\.0, 1000000\.0\], got -1"),
    (_cfg(env_feedback={"delay": "geometric", "delay_mean": 3}),
     r"env\.feedback\.attribution_window is required"),
    (_cfg(env_feedback=[1, 2]), r"env\.feedback must be a mapping"),
])
def test_bad_world_feedback_stops_with_the_key(cfg, message):
    with pytest.raises(ValueError, match=message):
        validate(cfg)


@pytest.mark.parametrize("row", [EPS_ROW["pending"], EPS_ROW["refresh"]])
def test_one_setting_for_every_lane_plays_the_grid_row_of_that_setting(eps_fixed, row):
    """A fixed delay shared by every lane reads one common slot and skips learning before
    round d, and one cadence B refreshes every lane at once; a grid finds each lane's slot
    and refresh. Both give the same run (rows: B = 1, and B = 4 with a delay of 3)."""
    fb = Feedback(delay="fixed", delay_mean=EPS_DELAYS[row], update_every=EPS_EVERY[row])
    assert fb.swept() == {}
    one = run(optimistic_greedy(), clicks_world(), fb, EPS_T, 4)
    for name in ("action", "reward", "delay", "regret"):
        np.testing.assert_array_equal(one.trajectories[name][0],
                                      eps_fixed.trajectories[name][row], err_msg=name)
