"""Log monitor: ``python scripts/monitor.py data=<log or obd>``.

Takes a decision log's rows in timestamp order as rounds, evaluates the KPIs of
``conf/monitor/default.yaml`` over rolling windows and its alert rules on them, and writes
dashboard.png, alerts.json, summary.json and summary.md into the Hydra run directory.
``--help`` lists the options.
"""

import envs  # noqa: F401  (sets XLA flags before JAX starts)
from common.cli import hydra_main
from estimators.monitoring import run_monitor

if __name__ == "__main__":
    hydra_main("monitor", run_monitor)
