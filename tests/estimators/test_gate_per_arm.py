"""The gate on a log whose contexts hold every arm's own features (scikit-learn's wine,
disjoint encoding, written to Parquet with ``bandax.arm_features``): it trains a
shared-parameter and a neural candidate from the log, fits the per-arm reward model with
the log's features per arm, and its doubly robust interval covers the trained
candidate's exact value."""

import jax
import numpy as np
import pytest

from bandits.checkpoints import load_checkpoint
from envs.data.events import write_events
from envs.data.logged import events_from_logged
from envs.data.supervised import supervised_logs
from estimators.gate import run_from_config
from estimators.gate.statistics import decision_probs

N = 3000


@pytest.fixture(scope="module")
def per_arm_log(tmp_path_factory):
    logs, truth = supervised_logs("wine", 11, N, per_arm=True, behaviour="uniform")
    cols = events_from_logged(logs, policy_version="v0", algorithm="uniform",
                              exploration={}, start="2026-01-01T00:00:00")
    path = tmp_path_factory.mktemp("per_arm") / "wine.parquet"
    write_events(str(path), cols)
    return path, logs, truth


def test_the_gate_trains_per_arm_candidates_and_covers_the_truth(per_arm_log, tmp_path):
    path, logs, truth = per_arm_log
    out = tmp_path / "out"
    report = run_from_config(
        {"data": str(path), "candidate": ["lin_ucb_shared", "neural_eps_greedy"],
         "candidate_params": {"lin_ucb_shared": {"alpha": 0.0},
                              "neural_eps_greedy": {"epsilon": 0.0, "hidden": 16}},
         "reward_model": {"name": "ridge_shared"}, "estimator": ["dr", "ipw"],
         "evaluation": {"n_boot": 200}, "gate": {"decide_on": "dr"}},
        out_dir=str(out), echo=False)
    assert report["data"]["load"]["arm_features"] == logs.arm_features == 39
    shared, neural = report["candidates"]
    assert shared["hyperparameters"]["arm_features"] == 39
    assert neural["hyperparameters"]["arm_features"] == 39
    for cand in (shared, neural):
        ck = load_checkpoint(str(out / f"{cand['name']}.npz"))
        policy = ck.policy()

        def probs(x, ck=ck, policy=policy):
            return decision_probs(policy, ck.params, ck.state, x.astype(np.float32), None,
                                  jax.random.key(0))

        value = truth(probs)
        dr = cand["estimates"]["dr"]
        assert dr["lower"] <= value <= dr["upper"], (cand["name"], dr, value)
        assert value > 0.8  # uniform logging earns 1/3: both candidates learnt wine
        assert cand["decision"] == "ship"
