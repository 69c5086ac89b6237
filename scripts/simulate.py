"""Regret-curve study: ``python scripts/simulate.py [experiment=simulate/NAME] [key=value ...]``.

Runs ``experiment=simulate/regret_curves`` by default (every classic algorithm,
linear-Gaussian world, 1,000 seeds × 10,000 rounds), writes summary.json, summary.md,
curves.csv and regret.png into the Hydra run directory and ends by printing where. Sweep
numbers in process with ``sweep.alpha=[0.1,1,3]``; sweep structure with Hydra multirun:
``-m bandit=lin_ucb,lin_ts env=linear_gaussian``. ``--help`` lists the options.
"""

import envs  # noqa: F401  (sets XLA flags before JAX starts)
from common.cli import hydra_main
from envs.regret.study import run_study

if __name__ == "__main__":
    hydra_main("simulate", run_study, open_keys=("sweep",))
