"""Estimator study: ``python scripts/ope.py [experiment=estimator_comparison] [overrides]``.

Writes summary.json (bias, std, RMSE, relative error, coverage, CI width per estimator,
each with its Monte Carlo error) and estimators.png into the Hydra run directory.
"""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import envs  # noqa: E402, F401  (sets XLA flags before JAX starts)
from common.cli import cli_setup, hydra_entry  # noqa: E402
from envs.engine.runtime import enable_compilation_cache  # noqa: E402
from estimators.study import run_study  # noqa: E402

logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


@hydra.main(version_base=None, config_path="../conf", config_name="ope")
def main(cfg: DictConfig) -> None:
    enable_compilation_cache()
    hydra_entry(cfg, run_study)


if __name__ == "__main__":
    cli_setup("ope")
    main()
