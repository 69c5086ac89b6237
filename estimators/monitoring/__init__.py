"""The log monitor: a decision log's KPIs over rolling windows and its alerts, with a
dashboard.

* :mod:`estimators.monitoring.from_log` — a decision log (or the Open Bandit Dataset) as
  the monitor's rounds, and the KPIs a log cannot give, with the reason;
* :mod:`estimators.monitoring.report` — ``alerts.json``, ``summary.json``, ``summary.md``;
* :mod:`estimators.monitoring.dashboard` — ``dashboard.png``;
* :mod:`estimators.monitoring.driver` — :func:`run_monitor`, from ``conf/monitor.yaml``.

The KPIs and rules themselves are :mod:`envs.monitor`'s NumPy reference.
"""

from estimators.monitoring.dashboard import plot_dashboard
from estimators.monitoring.driver import CONFIG_KEYS, last_window_shares, monitor_log, run_monitor
from estimators.monitoring.from_log import OBD_ATTRIBUTION, LogRounds, log_rounds
from estimators.monitoring.report import build_alerts, build_summary, format_markdown, write_files

__all__ = ["CONFIG_KEYS", "OBD_ATTRIBUTION", "LogRounds", "build_alerts", "build_summary",
           "format_markdown", "last_window_shares", "log_rounds", "monitor_log",
           "plot_dashboard", "run_monitor", "write_files"]
