"""DR's 95% bootstrap interval covers the truth in 92–98% of 1,000 datasets."""

import pytest

import envs  # noqa: F401
from estimators.study import run_study


@pytest.mark.slow
def test_dr_bootstrap_interval_coverage_on_a_well_specified_world():
    # linear world, ridge reward model with an intercept: the model class is right
    cfg = {"env": {"name": "linear-gaussian", "n_arms": 5, "dim": 5, "noise_std": 1.0,
                   "p_eligible": 1.0, "intercept": True},
           "estimator": {"dr": {}},
           "logging_policy": {"kind": "softmax", "temperature": 1.0},
           "target_policy": {"kind": "eps_greedy", "epsilon": 0.2},
           "reward_model": {"name": "ridge", "reg": 1.0, "n_folds": 2},
           "study": {"n_datasets": 1000, "n_rows": 2000, "seed": 0, "n_boot": 200,
                     "alpha": 0.05, "truth_contexts": 1_000_000}}
    row = run_study(cfg, echo=False)["summary"]["results"][0]
    # binomial MC error of the coverage at 1,000 datasets is about 0.007
    assert 0.92 <= row["coverage"] <= 0.98, row
    assert abs(row["bias"]) < 3 * row["bias_se"] + 1e-3, row
