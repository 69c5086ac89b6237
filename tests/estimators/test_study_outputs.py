"""Estimator studies: Monte Carlo errors, chunk-independent numbers, readable outputs."""

import math
import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import envs  # noqa: F401
from estimators import study

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf")

TINY = ["study.n_datasets=6", "study.n_rows=400", "study.n_boot=20",
        "study.truth_contexts=20000"]


def _cfg(overrides):
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=CONF, version_base=None):
        return OmegaConf.to_container(compose("ope", overrides=overrides), resolve=True)


def test_bias_error_includes_the_truths_own_error():
    """bias_se² = var(errors)/M + truth_se²: with every dataset's error equal, only the
    truth's error is left."""
    est = np.array([[1.1], [1.3], [0.9], [1.1]])
    rows = study.summarise(["x"], est, est - 1, est + 1, truth=1.0, truth_se=0.02)
    want = math.sqrt(np.var(est[:, 0] - 1, ddof=1) / 4 + 0.02**2)
    assert rows[0]["bias_se"] == pytest.approx(want, rel=1e-12)
    flat = study.summarise(["x"], np.full((5, 1), 1.2), np.zeros((5, 1)), np.ones((5, 1)) * 2,
                           truth=1.0, truth_se=0.03)
    assert flat[0]["bias_se"] == pytest.approx(0.03, rel=1e-12)


def test_numbers_do_not_depend_on_the_chunking(monkeypatch):
    """Dataset i depends only on i: one chunk of six datasets or two chunks of four (the
    last padded) give the same estimates and intervals, up to float32 rounding (the two
    chunk sizes are two compiled programs, whose reductions may round in another order:
    measured at most 1 ulp, 1.2e-7)."""
    cfg = _cfg(["estimator=[ipw,dr]", *TINY])
    one = study.run_study(cfg, echo=False)
    monkeypatch.setattr(study.run, "_chunks", lambda m, n_chunks=20: (4, 2))
    four = study.run_study(cfg, echo=False)
    for key in ("estimates", "lower", "upper"):
        np.testing.assert_allclose(one[key], four[key], rtol=1e-6, atol=0)


def test_single_run_writes_a_readable_summary(tmp_path):
    cfg = _cfg(["estimator=[ipw,dros]", "estimator.dros.lambda_=5", *TINY])
    study.run_study(cfg, out_dir=str(tmp_path))
    md = (tmp_path / "summary.md").read_text()
    for text in ("world: linear-gaussian", "logging policy: kind=softmax",
                 "target policy: kind=eps_greedy", "reward model: name=ridge",
                 "6 datasets × 400 rows", "dros (lambda_=5)", "| ipw |", "truth V(π)"):
        assert text in md, text
    assert (tmp_path / "estimators.png").stat().st_size > 10_000


def test_mlp_reward_model_runs_in_a_study():
    """reward_model=mlp (the config group) gives DR estimates near the truth: mean error
    within 4 Monte Carlo standard errors plus the MLP's own bias allowance of 0.05."""
    cfg = _cfg(["estimator=[dr]", "reward_model=mlp", "study.n_datasets=6",
                "study.n_rows=1000", "study.n_boot=20", "study.truth_contexts=20000"])
    out = study.run_study(cfg, echo=False)
    r = out["summary"]["results"][0]
    assert abs(r["bias"]) < 4 * r["bias_se"] + 0.05, r
    assert out["summary"]["config"]["reward_model"]["name"] == "mlp"
