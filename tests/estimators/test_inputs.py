"""Each bad estimator input raises a ValueError naming the problem and the row."""

import numpy as np
import pytest

from estimators import ope


def _inputs(n=8, k=3):
    rng = np.random.default_rng(0)
    return dict(reward=rng.random(n), action=np.arange(n) % k, pscore=np.full(n, 1 / k),
                action_dist=rng.dirichlet(np.ones(k), n), estimated_rewards=rng.random((n, k)))


def test_valid_inputs_give_rows():
    r = ope.checked_rows(**_inputs())
    assert r.reward.shape == (8,)


@pytest.mark.parametrize("field, row, value, message", [
    ("pscore", 3, 0.0, r"pscore must be in \(0, 1\]; row 3 has 0.0"),
    ("pscore", 5, 1.2, r"pscore must be in \(0, 1\]; row 5 has 1.2"),
    ("pscore", 0, np.nan, "pscore must be finite; row 0 has nan"),
    ("action", 6, 3, r"action must be in \[0, 2\]; row 6 has 3"),
    ("reward", 2, np.inf, "reward must be finite; row 2 has inf"),
])
def test_bad_values(field, row, value, message):
    kw = _inputs()
    kw[field] = kw[field].astype(float) if field != "action" else kw[field].copy()
    kw[field][row] = value
    with pytest.raises(ValueError, match=message):
        ope.checked_rows(**kw)


def test_bad_shapes_distributions_and_empty():
    kw = _inputs()
    kw["action_dist"] = kw["action_dist"][:, :2]
    with pytest.raises(ValueError, match="action must be in"):  # action 2 with K=2
        ope.checked_rows(**kw)
    kw = _inputs()
    kw["reward"] = kw["reward"][:5]
    with pytest.raises(ValueError, match=r"reward must have shape \(n,\) with n=8"):
        ope.checked_rows(**kw)
    kw = _inputs()
    kw["action_dist"] = kw["action_dist"].copy()
    kw["action_dist"][4] *= 2
    with pytest.raises(ValueError, match="action_dist rows must sum to 1; row 4"):
        ope.checked_rows(**kw)
    kw = _inputs()
    kw["estimated_rewards"] = kw["estimated_rewards"][:, :2]
    with pytest.raises(ValueError, match="estimated_rewards must have shape"):
        ope.checked_rows(**kw)
    kw = {k: v[:0] for k, v in _inputs().items()}
    with pytest.raises(ValueError, match="empty"):
        ope.checked_rows(**kw)
