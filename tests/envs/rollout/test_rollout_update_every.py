"""The staged rollout with a served model refreshed every B rounds (``update_every``):
the rollout's verdicts are taken on the learning state, and decisions between refreshes
read the served copy. With B = 30, which divides every stage's length and look, the
served copy is fresh at every look, so every verdict, stage and count equals the B = 1
run bit for bit (all but the shadow's DR sums, whose baseline comes from the served
copy's reward model, which lags by design);
with B = 130, which does not, decisions differ but the verdicts stay those of the
learning state's complete data."""

import jax
import numpy as np
import pytest

from envs.rollout.study import run

pytestmark = pytest.mark.slow  # three engine programs of 40 rollouts × 13,600 rounds

N_SEEDS, N_ROUNDS = 40, 13_600


def _final(update_every):
    cfg = {"study": {"kind": "staged_rollout", "n_seeds": N_SEEDS, "n_rounds": N_ROUNDS,
                     "compilation_cache": False},
           "rollout": {"lifts": [-0.05, 0.10]}, "feedback": {"update_every": update_every}}
    return run(cfg, None, echo=False)


@pytest.fixture(scope="module")
def fresh():
    return _final(1)


def test_a_refresh_that_divides_the_schedule_changes_nothing(fresh):
    lagged = _final(30)
    f, g = fresh["rollout"].final_state, lagged["rollout"].final_state
    for name in f._fields:
        if name == "ope":
            continue
        for a, b in zip(jax.tree_util.tree_leaves(getattr(f, name)),
                        jax.tree_util.tree_leaves(getattr(g, name))):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    assert not np.array_equal(np.asarray(f.ope), np.asarray(g.ope))
    assert lagged["summary"]["feedback"]["update_every"] == 30


def test_a_refresh_off_the_schedule_keeps_the_verdicts_and_moves_traffic(fresh):
    lagged = _final(130)
    f, g = fresh["rollout"].final_state, lagged["rollout"].final_state
    np.testing.assert_array_equal(np.asarray(g.rolled_back), np.asarray(f.rolled_back))
    np.testing.assert_array_equal(np.asarray(g.stage), np.asarray(f.stage))
    assert not np.array_equal(np.asarray(g.exposed), np.asarray(f.exposed))
    for row_f, row_g in zip(fresh["summary"]["lifts"], lagged["summary"]["lifts"]):
        assert row_g["p_full"] == row_f["p_full"]
