"""LoggedData validation: each bad input names the field, the value and the row."""

import numpy as np
import pytest

from envs.logged import LoggedData, check_target


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
