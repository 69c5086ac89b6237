"""Estimator study: ``python scripts/ope.py [experiment=estimator_comparison] [overrides]``.

Writes summary.json (bias, std, RMSE, relative error, coverage, CI width per estimator,
each with its Monte Carlo error) and estimators.png into the Hydra run directory.
"""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

import envs  # noqa: E402, F401  (sets XLA flags before JAX starts)
from envs.runtime import enable_compilation_cache  # noqa: E402
from estimators.study import run_study  # noqa: E402

logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


@hydra.main(version_base=None, config_path="../conf", config_name="ope")
def main(cfg: DictConfig) -> None:
    plain = OmegaConf.to_container(cfg, resolve=True)
    enable_compilation_cache()
    try:
        run_study(plain, out_dir=HydraConfig.get().runtime.output_dir)
    except ValueError as err:
        print(f"config error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
