"""Estimator study: ``python scripts/ope.py [experiment=ope/NAME] [key=value ...]``.

Runs ``experiment=ope/estimator_comparison`` by default and writes summary.json (bias,
std, RMSE, relative error, coverage, CI width per estimator, each with its Monte Carlo
error) and estimators.png into the Hydra run directory. ``--help`` lists the options.
"""

import envs  # noqa: F401  (sets XLA flags before JAX starts)
from common.cli import hydra_main
from envs.engine.runtime import enable_compilation_cache
from estimators.study import run_study

if __name__ == "__main__":
    enable_compilation_cache()
    hydra_main("ope", run_study)
