"""Monitoring a deployed policy: KPIs over rolling windows of rounds and alert rules.

* :mod:`envs.monitor.rules` — the settings (``conf/monitor/default.yaml``) as a checked
  :class:`MonitorSpec` of :class:`AlertRule`\\ s, and which KPIs need which inputs;
* :mod:`envs.monitor.inputs` — the per-round inputs (:class:`MonitorInputs`);
* :mod:`envs.monitor.reference` — the KPIs and alerts in NumPy, the definitions every other
  implementation is checked against (the engine's monitor, :mod:`envs.monitor.online`,
  and the log monitor of :mod:`estimators.monitoring`).
"""

from envs.monitor.inputs import MonitorInputs
from envs.monitor.reference import (
    ZERO_VARIANCE,
    active_points,
    evaluate_rules,
    evaluation_rounds,
    unavailable_kpis,
    window_kpis,
)
from envs.monitor.rules import (
    KPI_INPUTS,
    KPI_RANGES,
    KPIS,
    SEVERITIES,
    AlertRule,
    MonitorSpec,
    monitor_spec,
    parse_when,
    required_inputs,
)

__all__ = ["KPIS", "KPI_INPUTS", "KPI_RANGES", "SEVERITIES", "ZERO_VARIANCE", "AlertRule",
           "MonitorInputs", "MonitorSpec", "active_points", "evaluate_rules",
           "evaluation_rounds", "monitor_spec", "parse_when", "required_inputs",
           "unavailable_kpis", "window_kpis"]
