"""Estimator studies: many logged datasets with a known truth, every estimator on each.

``run_study(cfg, out_dir)`` (what ``scripts/ope.py`` calls) draws M datasets of n rows
from a logging policy in a world, fits the reward model out of fold, computes every
configured estimator with a bootstrap interval on each dataset, and compares with the
target policy's exact value: bias, standard deviation, RMSE, relative error, interval
coverage and width, each with its Monte Carlo error.

* A fixed logging policy's datasets are drawn inside one compiled program, one at a time
  with ``lax.map``, so memory is that of one dataset, not of all M.
* A learning logging policy (``kind: bandit, learning: true``) is logged as it learns:
  each dataset is one seed of :func:`envs.data.generate.learning_logs`, run in batches of
  seeds whose logs fit in ~64 MB.
* ``sweep.path`` / ``sweep.values`` sweep one numeric key (a fixed policy's ε or
  temperature, an estimator's λ) *inside* the compiled program: every grid point sees the
  same datasets (common random numbers), and work that does not depend on the swept value
  is done once.

Modules: :mod:`~estimators.study.config` (validation, the sweep),
:mod:`~estimators.study.plan` (what the datasets share, each grid point's policies and
estimators), :mod:`~estimators.study.run` (the compiled estimation, :func:`run_study`),
:mod:`~estimators.study.summary` (errors, reports, outputs),
:mod:`~estimators.study.callback` (the multirun callback).
"""

from estimators.study.callback import CombineEstimatorStudies
from estimators.study.config import (
    BOOTSTRAP_SCHEMES,
    POLICY_KINDS,
    STUDY_KEYS,
    SWEEPABLE_POLICY_KEYS,
    sweep_spec,
    validate,
)
from estimators.study.plan import Plan, fixed_policy, make_plan
from estimators.study.run import run_study
from estimators.study.summary import format_markdown, format_report, format_table, summarise

__all__ = [
    "BOOTSTRAP_SCHEMES", "CombineEstimatorStudies", "POLICY_KINDS", "Plan", "STUDY_KEYS",
    "SWEEPABLE_POLICY_KEYS", "fixed_policy", "format_markdown", "format_report",
    "format_table", "make_plan", "run_study", "summarise", "sweep_spec", "validate",
]
