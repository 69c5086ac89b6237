"""A drift's numeric options given as lists are a grid run in one program: every grid
point plays exactly the run of that single value (same seeds, same numbers), and the
regret study sweeps them as ``sweep.drift_<option>``."""

import numpy as np
import pytest

import bandits
from envs.engine import simulate
from envs.regret.study import run_study, validate
from envs.worlds.registry import make, make_drift

K, D, T, S = 3, 4, 60, 3


def _base():
    return make("linear-gaussian", n_arms=K, dim=D)


def _stack(fraction, rate, amplitude, jump_size):
    """Four drifts on one world, each with a swept option."""
    world = make_drift("abrupt", _base(), change_rounds=[20], fraction=fraction)
    world = make_drift("gradual", world, rate=rate, mode="rotate")
    world = make_drift("seasonal", world, period=15.0, amplitude=amplitude)
    return make_drift("covariate-shift", world, rate=0.01, jump_rounds=[40],
                      jump_size=jump_size)


def test_each_grid_point_plays_the_single_values_run():
    points = {"fraction": [1.0, 0.5], "rate": [0.01, 0.2], "amplitude": [0.0, 1.5],
              "jump_size": [0.0, 2.0]}
    policy = bandits.make("lin_ucb", K, D)
    grid = simulate(policy, _stack(**points), n_rounds=T, n_seeds=S, record="trajectories")
    assert sorted(grid.grid) == ["alpha", "drift_amplitude", "drift_fraction",
                                 "drift_jump_size", "drift_rate", "reg"]
    np.testing.assert_array_equal(grid.grid["drift_rate"], np.float32([0.01, 0.2]))
    single = simulate(policy, _stack(**{k: v[1] for k, v in points.items()}), n_rounds=T,
                      n_seeds=S, record="trajectories")
    for field in ("action", "reward", "regret"):
        np.testing.assert_array_equal(grid.trajectories[field][1],
                                      single.trajectories[field][0], err_msg=field)
    # the grid's points differ: the options reach the program
    assert not np.array_equal(grid.trajectories["regret"][0], grid.trajectories["regret"][1])


def _cfg(**extra):
    cfg = {"env": {"name": "linear-gaussian", "n_arms": K, "dim": D},
           "bandit": {"lin_ucb": {}}, "drift": {"name": "abrupt", "rate": 0.0},
           "study": {"n_seeds": 16, "n_rounds": 300, "progress": False,
                     "compilation_cache": False}}
    cfg.update(extra)
    return cfg


def test_the_study_sweeps_the_drift_rate_in_process():
    out = run_study(_cfg(sweep={"drift_rate": [0.0, 0.05], "alpha": [0.5, 1.0]}), echo=False)
    rows = out["summary"]["results"]
    points = [(round(r["params"]["drift_rate"], 6), r["params"]["alpha"]) for r in rows]
    assert points == [(0.0, 0.5), (0.0, 1.0), (0.05, 0.5), (0.05, 1.0)]
    regret = {p: r["final_regret_mean"] for p, r in zip(points, rows)}
    # a change every 20 rounds on average costs LinUCB far more than a stationary world
    assert regret[(0.05, 1.0)] > 2 * regret[(0.0, 1.0)]


@pytest.mark.parametrize("extra, message", [
    ({"sweep": {"drift_rate": [0.1, -1]}}, r"drift\.rate\[1\] must be .*got -1"),
    ({"sweep": {"drift_period": [10, 20]}}, r"sweep\.drift_period: .*drift_rate, "
                                             r"drift_fraction"),
    ({"drift": {"name": "abrupt", "rate": [0.1, 0.2]}},
     r"drift\.rate is a list; sweep it in-process with sweep\.drift_rate"),
    ({"drift": None, "sweep": {"drift_rate": [0.1]}}, r"sweep\.drift_rate: .*no drift"),
])
def test_bad_drift_sweeps_stop_with_the_key(extra, message):
    cfg = _cfg(**extra)
    if cfg["drift"] is None:
        del cfg["drift"]
    with pytest.raises(ValueError, match=message):
        validate(cfg)


def test_grids_of_drift_options_are_checked():
    with pytest.raises(ValueError, match=r"drift\.rate must be a number or a non-empty list"):
        make_drift("abrupt", _base(), rate=[])
    with pytest.raises(ValueError, match=r"one length .*'rate': 2, 'fraction': 3"):
        make_drift("abrupt", _base(), rate=[0.1, 0.2], fraction=[0.5, 0.7, 1.0])
    world = make_drift("abrupt", _base(), rate=[0.1, 0.2])
    assert world.swept() == {"drift_rate": [0.1, 0.2]}
    with pytest.raises(ValueError, match="a grid runs only through simulate"):
        world.sample_params(None)
    policy = bandits.make("lin_ucb", K, D)
    with pytest.raises(ValueError, match="policy's and feedback's grid length 3"):
        simulate(policy, world, n_rounds=5, n_seeds=1,
                 policy_params=policy.default_params._replace(alpha=np.ones(3)))
