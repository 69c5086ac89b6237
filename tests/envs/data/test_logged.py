"""Logged data: validation names the field, the value and the row; conversions from
batches and decision-event columns."""

import numpy as np
import pytest

from common.errors import ConfigError, DataError
from envs.data.logged import LoggedBatch, LoggedData
from envs.data.validation import check_count, check_target


def _good(n=6, k=3, d=2):
    rng = np.random.default_rng(0)
    dist = rng.dirichlet(np.ones(k), n)
    action = np.array([0, 1, 2, 0, 1, 2])[:n]
    return dict(context=rng.standard_normal((n, d)), action=action,
                reward=rng.random(n), pscore=dist[np.arange(n), action],
                action_dist=dist, mask=np.ones((n, k), bool))


def test_valid_round_trip(tmp_path):
    data = LoggedData.from_arrays(**_good())
    data.to_npz(tmp_path / "log.npz")
    back = LoggedData.from_npz(tmp_path / "log.npz")
    for f in ("context", "action", "reward", "pscore", "action_dist", "mask"):
        np.testing.assert_array_equal(getattr(back, f), getattr(data, f))
    assert back.n_arms == 3 and back.n_rows == 6


@pytest.mark.parametrize("field, row, value, message", [
    ("pscore", 2, 0.0, r"pscore must be in \(0, 1\]; row 2 has 0.0"),
    ("pscore", 4, 1.5, r"pscore must be in \(0, 1\]; row 4 has 1.5"),
    ("pscore", 1, np.nan, "pscore must be finite; row 1 has nan"),
    ("reward", 3, np.inf, "reward must be finite; row 3 has inf"),
    ("action", 5, 3, r"action must be in \[0, 2\]; row 5 has 3"),
    ("action", 0, -1, r"action must be in \[0, 2\]; row 0 has -1"),
])
def test_bad_values_name_field_value_and_row(field, row, value, message):
    kw = _good()
    kw[field] = kw[field].astype(float).copy() if field != "action" else kw[field].copy()
    kw[field][row] = value
    if field in ("pscore",):
        kw.pop("action_dist")
    with pytest.raises(ValueError, match=message):
        LoggedData.from_arrays(**kw)


def test_shape_mismatch_and_empty():
    kw = _good()
    kw["reward"] = kw["reward"][:4]
    with pytest.raises(ValueError, match=r"reward must have shape \(n,\) with n=6"):
        LoggedData.from_arrays(**kw)
    kw = _good()
    with pytest.raises(ValueError, match="empty"):
        LoggedData.from_arrays(**{k: v[:0] for k, v in kw.items()})


def test_distribution_rules():
    kw = _good()
    kw["action_dist"] = kw["action_dist"].copy()
    kw["action_dist"][3] *= 1.1
    with pytest.raises(ValueError, match="action_dist rows must sum to 1; row 3"):
        LoggedData.from_arrays(**kw)
    kw = _good()
    kw["pscore"] = kw["pscore"].copy()
    kw["pscore"][1] *= 0.5
    with pytest.raises(ValueError, match="pscore must equal action_dist.*row 1"):
        LoggedData.from_arrays(**kw)
    kw = _good()
    kw["mask"] = kw["mask"].copy()
    kw["mask"][4, kw["action"][4]] = False
    with pytest.raises(ValueError, match="logged action must be eligible; row 4"):
        LoggedData.from_arrays(**kw)


def test_check_target():
    good = np.full((4, 2), 0.5)
    check_target(good, 4, 2)
    bad = good.copy()
    bad[2] = [0.7, 0.7]
    with pytest.raises(ValueError, match="rows must sum to 1; row 2"):
        check_target(bad, 4, 2)
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        check_target(good, 4, 3)


def test_propensity_must_match_its_distribution_relatively():
    kw = _good()
    dist = np.full((6, 3), 0.5 - 2.5e-5)
    dist[:, 2] = 5e-5
    kw["action"] = np.array([0, 1, 2, 0, 2, 1])
    kw["action_dist"] = dist
    kw["pscore"] = dist[np.arange(6), kw["action"]].copy()
    LoggedData.from_arrays(**kw)
    kw["pscore"][4] = 1e-5  # a 5x error in this row's weight, 4e-5 in absolute terms
    with pytest.raises(DataError, match=r"pscore must equal action_dist\[row, action\] "
                                        r"within a relative 0.0001; row 4 has pscore 1e-05 "
                                        r"but action_dist gives 5e-05 \(1 rows differ\)"):
        LoggedData.from_arrays(**kw)


def test_float32_rounded_propensities_are_accepted():
    rng = np.random.default_rng(1)
    n, k = 2000, 50
    dist = rng.dirichlet(np.full(k, 0.05), n)  # many tiny probabilities
    dist = np.where(dist < 1e-30, 0, dist)
    dist /= dist.sum(1, keepdims=True)
    action = (dist.cumsum(1) > rng.random((n, 1))).argmax(1)
    action = np.where(dist[np.arange(n), action] > 0, action, dist.argmax(1))
    pscore = dist[np.arange(n), action].astype(np.float32)  # as a float32 log records it
    assert (pscore != dist[np.arange(n), action]).any()
    data = LoggedData.from_arrays(context=np.zeros((n, 1)), action=action,
                                  reward=np.zeros(n), pscore=pscore, action_dist=dist)
    assert data.n_rows == n
    LoggedData.from_arrays(context=np.zeros((n, 1)), action=action, reward=np.zeros(n),
                           pscore=dist[np.arange(n), action],
                           action_dist=dist.astype(np.float32))


def test_data_problems_are_data_errors_and_settings_config_errors():
    kw = _good()
    kw["reward"] = kw["reward"].copy()
    kw["reward"][2] = np.nan
    with pytest.raises(DataError, match="reward must be finite; row 2 has nan"):
        LoggedData.from_arrays(**kw)
    with pytest.raises(ConfigError, match="n_arms must be an integer >= 1, got 0"):
        LoggedData.from_arrays(**{**_good(), "action_dist": None, "mask": None}, n_arms=0)
    with pytest.raises(DataError, match="must be non-negative; row 1"):
        check_target(np.array([[1.0, 0.0], [1.5, -0.5]]), 2, 2)


def test_counts_are_integers_and_true_is_not_one():
    for bad in (True, 0, 2.0, "3", None):
        with pytest.raises(ConfigError, match=f"n_arms must be an integer >= 1, got {bad!r}"):
            check_count("n_arms", bad)
    assert check_count("n_arms", np.int64(4)) == 4 and type(check_count("k", 4)) is int
    with pytest.raises(DataError, match="n_actions must be an integer >= 1, got True"):
        check_count("n_actions", True, DataError)
    with pytest.raises(ConfigError, match="n_arms must be an integer >= 1, got True"):
        LoggedData.from_arrays(**{**_good(), "n_arms": True})


def _batch(m=2, n=5, k=3, d=2, seed=0):
    """A LoggedBatch of m datasets of n rows, as simulated studies hold them."""
    rng = np.random.default_rng(seed)
    dist = rng.dirichlet(np.ones(k), (m, n))
    action = rng.integers(0, k, (m, n))
    pscore = np.take_along_axis(dist, action[..., None], 2)[..., 0]
    return LoggedBatch(rng.standard_normal((m, n, d)).astype(np.float32),
                       np.ones((m, n, k), bool), action.astype(np.int32), rng.random((m, n)),
                       pscore, dist, rng.random((m, n, k)))


def test_batches_concatenate_by_rows_and_give_their_datasets():
    a, b = _batch(seed=0), _batch(n=4, seed=1)
    both = LoggedBatch.concat_rows([a, b])
    assert both.context.shape == (2, 9, 2) and both.expected_reward.shape == (2, 9, 3)
    np.testing.assert_array_equal(both.action[1], np.r_[a.action[1], b.action[1]])
    one = LoggedData.from_batch(both, 1)
    assert one.n_rows == 9 and one.n_arms == 3
    for f in ("context", "action", "reward", "pscore", "action_dist", "mask"):
        np.testing.assert_array_equal(getattr(one, f), getattr(both, f)[1])


def test_event_columns_map_onto_logged_data():
    kw = _good()
    cols = {"context": kw["context"], "action": kw["action"], "reward": kw["reward"],
            "propensity": kw["pscore"], "event_id": np.arange(6)}
    data = LoggedData.from_events(cols, 3, mask=kw["mask"])
    np.testing.assert_array_equal(data.pscore, kw["pscore"])
    assert data.n_arms == 3 and data.action_dist is None and data.mask.all()


def test_a_rollout_without_logs_is_refused():
    class NoLogs:
        trajectories = None

    with pytest.raises(ConfigError, match="this rollout holds no logs"):
        LoggedData.from_rollout(NoLogs())
    with pytest.raises(ConfigError, match="this rollout holds no logs"):
        LoggedBatch.from_rollout(NoLogs())
