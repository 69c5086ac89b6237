"""Open Bandit Pipeline's bandit_feedback dicts in and out of LoggedData.

The dicts are built here the way obp's ``SyntheticBanditDataset.obtain_batch_bandit_feedback``
lays them out (obp itself is not a dependency).
"""

import numpy as np
import pytest

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import DataError
from envs.data.logged import OBP_REQUIRED, LoggedData
from estimators import ope


def _feedback(n=200, k=5, d=3, seed=0):
    """An obp-style bandit_feedback with random values (position None: one slot)."""
    rng = np.random.default_rng(seed)
    pi_b = rng.dirichlet(np.ones(k), n)
    action = (pi_b.cumsum(1) > rng.random((n, 1))).argmax(1)
    return {"n_rounds": n, "n_actions": k, "context": rng.standard_normal((n, d)),
            "action_context": np.eye(k, dtype=int), "action": action, "position": None,
            "reward": rng.binomial(1, 0.3, n).astype(float),
            "expected_reward": rng.random((n, k)), "pi_b": pi_b[:, :, None],
            "pscore": pi_b[np.arange(n), action]}


def test_fields_map_onto_logged_data():
    fb = _feedback()
    data = LoggedData.from_obp(fb)
    assert data.n_arms == 5 and data.n_rows == 200 and data.dim == 3
    np.testing.assert_array_equal(data.action, fb["action"])
    np.testing.assert_array_equal(data.action_dist, fb["pi_b"][:, :, 0])
    np.testing.assert_array_equal(data.pscore, fb["pscore"])
    assert data.mask is None


def test_round_trip_leaves_the_dict_unchanged():
    """from_obp -> to_obp gives back every key bit for bit (tolerance 0: nothing is cast
    to a narrower type), except expected_reward, which LoggedData does not hold."""
    fb = _feedback()
    back = LoggedData.from_obp(fb).to_obp()
    assert set(back) == set(fb) - {"expected_reward"}
    for key in back:
        if key == "position":
            assert back[key] is None
        elif isinstance(fb[key], np.ndarray):
            assert back[key].shape == fb[key].shape, key
            np.testing.assert_array_equal(back[key], fb[key], err_msg=key)
            assert back[key].dtype.kind == fb[key].dtype.kind, key
        else:
            assert back[key] == fb[key] and type(back[key]) is int, key
    items = np.random.default_rng(1).standard_normal((5, 4))  # e.g. item features
    again = LoggedData.from_obp({**fb, "action_context": items}).to_obp(action_context=items)
    np.testing.assert_array_equal(again["action_context"], items)


def test_bandax_data_survives_obp_and_back():
    rng = np.random.default_rng(2)
    n, k = 50, 4
    mask = rng.random((n, k)) < 0.7
    mask[np.arange(n), rng.integers(0, k, n)] = True
    dist = mask / mask.sum(1, keepdims=True)
    action = (dist.cumsum(1) > rng.random((n, 1))).argmax(1)
    data = LoggedData.from_arrays(context=rng.standard_normal((n, 2)).astype(np.float32),
                                  action=action, reward=rng.random(n),
                                  pscore=dist[np.arange(n), action], action_dist=dist,
                                  mask=mask)
    fb = data.to_obp()
    assert fb["pi_b"].shape == (n, k, 1) and fb["action"].dtype == np.int64
    back = LoggedData.from_obp(fb)
    for f in ("context", "action", "reward", "pscore", "action_dist", "mask"):
        np.testing.assert_array_equal(getattr(back, f), getattr(data, f), err_msg=f)


def test_ipw_on_converted_data_equals_ipw_by_hand():
    fb = _feedback(n=5000, seed=3)
    target = np.random.default_rng(4).dirichlet(np.ones(5), 5000)
    by_hand = np.mean(target[np.arange(5000), fb["action"]] / fb["pscore"] * fb["reward"])
    data = LoggedData.from_obp(fb)
    est = ope.ipw(ope.checked_rows(data.reward, data.action, data.pscore, target))
    assert float(est.value) == pytest.approx(by_hand, rel=1e-5)  # float32 arithmetic


def test_missing_keys_are_named():
    fb = _feedback()
    for key in ("pscore", "context"):
        fb.pop(key)
    with pytest.raises(DataError, match=r"bandit_feedback lacks the keys pscore, context "
                                        r"\(found: n_rounds, n_actions, action_context"):
        LoggedData.from_obp(fb)
    assert set(OBP_REQUIRED) == {"n_rounds", "n_actions", "action", "reward", "pscore",
                                 "context"}


def test_several_slots_are_refused():
    fb = _feedback(n=30)
    fb["position"] = np.arange(30) % 3
    fb["pi_b"] = np.repeat(fb["pi_b"], 3, axis=2)
    with pytest.raises(DataError, match=r"position holds 3 slots \(\[0, 1, 2\]\): row 0 is "
                                        r"in slot 0, row 1 in slot 1. bandax evaluates "
                                        r"single-slot decisions"):
        LoggedData.from_obp(fb)
    with pytest.raises(DataError, match="pi_b holds 3 slots .* but position is None"):
        LoggedData.from_obp({**fb, "position": None})


def test_one_slot_maps_exactly():
    fb = _feedback(n=30)
    rng = np.random.default_rng(5)
    other = rng.dirichlet(np.ones(5), 30)
    fb["pi_b"] = np.stack([other, fb["pi_b"][:, :, 0], other], axis=2)  # len_list 3
    zeros = LoggedData.from_obp({**fb, "position": np.zeros(30, int), "pi_b": fb["pi_b"][
        :, :, [1, 0, 2]]})
    np.testing.assert_array_equal(zeros.action_dist, fb["pi_b"][:, :, 1])
    slot1 = LoggedData.from_obp({**fb, "position": np.ones(30, int)})
    np.testing.assert_array_equal(slot1.action_dist, fb["pi_b"][:, :, 1])
    with pytest.raises(DataError, match="pscore must equal action_dist"):
        LoggedData.from_obp({**fb, "position": np.full(30, 2)})  # slot 2's distribution


def test_bad_values_raise_data_errors_naming_the_row():
    fb = _feedback()
    with pytest.raises(DataError, match=r"n_rounds must equal the number of rows of action "
                                        r"\(200\), got 199"):
        LoggedData.from_obp({**fb, "n_rounds": 199})
    with pytest.raises(DataError, match=r"action must be in \[0, 3\]; row"):
        LoggedData.from_obp({**fb, "n_actions": 4, "pi_b": None})
    pscore = fb["pscore"].copy()
    pscore[7] *= 3
    with pytest.raises(DataError, match=r"pscore must equal action_dist\[row, action\] .*"
                                        r"row 7"):
        LoggedData.from_obp({**fb, "pscore": pscore})
    with pytest.raises(DataError, match=r"pi_b must have shape \(n_rounds, n_actions, "
                                        r"len_list\)"):
        LoggedData.from_obp({**fb, "pi_b": fb["pi_b"][:10]})
    with pytest.raises(DataError, match="action_context must have shape"):
        LoggedData.from_obp(fb).to_obp(action_context=np.eye(3))
