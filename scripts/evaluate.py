"""Deployment gate: ``python scripts/evaluate.py data=<log or obd> candidate=<algo or .npz>``.

Splits the log by time, trains (or loads) each candidate, estimates its value on the
held-out rows against the logging policy, and writes report.json, report.md and
report.png into the Hydra run directory with a ship / do-not-ship recommendation.
``--help`` lists the options.
"""

import envs  # noqa: F401  (sets XLA flags before JAX starts)
from common.cli import hydra_main
from envs.engine.runtime import enable_compilation_cache
from estimators.gate import run_from_config

if __name__ == "__main__":
    enable_compilation_cache()
    hydra_main("evaluate", run_from_config)
