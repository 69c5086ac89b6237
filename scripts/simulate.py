"""Regret-curve study: ``python scripts/simulate.py [experiment=NAME] [key=value ...]``.

Runs ``experiment=regret_curves`` by default (every classic algorithm, linear-Gaussian
world, 1,000 seeds × 10,000 rounds), writes summary.json, summary.md, curves.csv and
regret.png into the Hydra run directory and ends by printing where. Sweep numbers in
process with ``sweep.alpha=[0.1,1,3]``; sweep structure with Hydra multirun:
``-m bandit=lin_ucb,lin_ts env=linear_gaussian``. ``--help`` lists the options.
"""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import envs  # noqa: E402, F401  (sets XLA flags before JAX starts)
from common.cli import cli_setup, hydra_entry  # noqa: E402
from envs.regret.study import run_study  # noqa: E402

# Hydra logs at INFO; JAX's backend probing (no TPU, no GPU) is noise there.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


@hydra.main(version_base=None, config_path="../conf", config_name="simulate")
def main(cfg: DictConfig) -> None:
    hydra_entry(cfg, run_study)


if __name__ == "__main__":
    cli_setup("simulate")
    main()
