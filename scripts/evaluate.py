"""Deployment gate: ``python scripts/evaluate.py data=<log or obd> candidate=<algo or .npz>``.

Splits the log by time, trains (or loads) each candidate, estimates its value on the
held-out rows against the logging policy, and writes report.json, report.md and
report.png into the Hydra run directory with a ship / do-not-ship recommendation.
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
from estimators.gate import run_from_config  # noqa: E402

logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


@hydra.main(version_base=None, config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    enable_compilation_cache()
    hydra_entry(cfg, run_from_config)


if __name__ == "__main__":
    cli_setup("evaluate")
    main()
