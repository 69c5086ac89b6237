"""The staged-rollout study through the engine, on the default playbook: the issue's
statistical test (a clearly worse candidate almost never reaches full rollout), and the
outcomes and files of the study checked against closed forms. One compiled program
serves every test here: 400 rollouts × 2 lifts × 13,600 rounds."""

import json
import os

import numpy as np
import pytest

from bandits.staged_shadow import shadow_estimates
from envs.rollout.outcomes import share_paths
from envs.rollout.study import run

pytestmark = pytest.mark.slow  # statistical: one engine program, about 8 s

N_SEEDS, N_ROUNDS = 400, 13_600
LIFTS = [-0.05, 0.10]


@pytest.fixture(scope="module")
def playbook(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("staged_rollout"))
    cfg = {"study": {"kind": "staged_rollout", "n_seeds": N_SEEDS, "n_rounds": N_ROUNDS,
                     "compilation_cache": False},
           "rollout": {"lifts": LIFTS}}
    return run(cfg, out, echo=False), out


def test_a_clearly_worse_candidate_reaches_full_rollout_in_under_1_percent(playbook):
    """True lift −5 % with the default schedule and rule. The four canary tests pass it
    with probability about 0.77·0.50·0.05·0.0005 ≈ 1e-5 (normal approximation), so the
    expected count in 400 rollouts is 0. Monte Carlo error: at a true rate of 1 % the
    count would be Binomial(400, 0.01), mean 4, standard error 0.5 percentage points;
    0 of 400 bounds the rate below 0.75 % (one-sided 95 %, rule of three)."""
    row = playbook[0]["summary"]["lifts"][0]
    assert row["lift"] == -0.05
    assert row["p_full"] < 0.01
    assert row["p_full_ci95"][1] < 0.02


def test_a_clearly_better_candidate_ships(playbook):
    row = playbook[0]["summary"]["lifts"][1]
    assert row["p_full"] > 0.95 and row["rounds_to_full"]["median"] == 13_500


def test_every_rollout_ends_decided_and_the_files_are_written(playbook):
    result, out = playbook
    for name in ("summary.json", "summary.md", "staged_rollout.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "summary.json")) as f:
        saved = json.load(f)
    for row in saved["lifts"]:
        assert row["p_full"] + row["p_rollback"] == pytest.approx(1.0)
    fan = saved["share_fan"]
    assert fan["mean"][0][0] == 0.0 and len(fan["rounds"]) == len(fan["q50"][1])


def test_exposure_and_regret_match_the_traffic_share(playbook):
    """A user reaches the candidate with probability equal to the stage's share, so the
    users exposed average Σ_t share_t, and the regret averages |Δ|·Σ_t share_t for a
    worse candidate and Δ·Σ_t (1 − share_t) for a better one (Δ = lift × value 1)."""
    result, _ = playbook
    out = result["outcomes"]
    shares = np.array([s["share"] for s in result["summary"]["stages"]])
    step = 50  # every stage change and rollback falls on a multiple of 50: exact sums
    served = step * share_paths(out, shares, np.arange(0, N_ROUNDS, step)).sum(-1)
    np.testing.assert_allclose(out["exposed"].mean(1), served.mean(1), rtol=0.02)
    expected = [0.05 * served[0].mean(), 0.10 * (N_ROUNDS - served[1]).mean()]
    np.testing.assert_allclose(out["regret"].mean(1), expected, rtol=0.05)


def test_the_shadow_estimate_is_centred_on_the_true_value(playbook):
    out = playbook[0]["outcomes"]
    for g, lift in enumerate(LIFTS):
        snips = out["shadow_snips"][g]
        se = snips.std(ddof=1) / np.sqrt(N_SEEDS)
        assert abs(snips.mean() - (1 + lift)) < 4 * se


def test_the_shadow_dr_estimate_is_centred_and_beats_ips(playbook):
    """DR is unbiased for any predictable reward model: its mean over 400 rollouts is
    within 4 Monte Carlo standard errors of the true value (1 + lift) × 1. The per-arm
    model takes the reward's scale out of the rare, heavily weighted rows (the incumbent
    plays the candidate's arm with probability ε/K = 1/80, weight 73), so DR spreads far
    less than IPS, which it equals with q̂ = 0."""
    result = playbook[0]
    out = result["outcomes"]
    ips = shadow_estimates(result["rollout"].final_state.ope)["ips"]
    for g, lift in enumerate(LIFTS):
        dr = out["shadow_dr"][g]
        se = dr.std(ddof=1) / np.sqrt(N_SEEDS)
        assert abs(dr.mean() - (1 + lift)) < 4 * se
        assert dr.std() < 0.7 * ips[g].std()
        row = result["summary"]["lifts"][g]
        assert row["shadow_dr_mean"] == pytest.approx(dr.mean())
        assert 0.85 < row["shadow_dr_ci95_coverage"] <= 1.0
