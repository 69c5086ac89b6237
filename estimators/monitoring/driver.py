"""The log monitor from a config: every setting checked, the log read, the KPIs and rules
evaluated, the dashboard and the alert files written."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from common.errors import ConfigError
from envs.data.loading import describe_load
from envs.monitor import MonitorSpec, evaluate_rules, monitor_spec, window_kpis
from estimators.monitoring.dashboard import plot_dashboard
from estimators.monitoring.from_log import LogRounds, log_rounds
from estimators.monitoring.report import build_alerts, build_summary, write_files

CONFIG_KEYS = ("data", "load", "rewards", "obd", "monitor", "logger")
SECTION_KEYS = {"load": ("n_arms", "missing_reward", "on_invalid", "rejects_path"),
                "rewards": ("path", "window_s", "combine", "now"),
                "obd": ("path", "behavior_policy", "campaign")}
FILES = {"dashboard": "dashboard.png", "alerts": "alerts.json",
         "summary_md": "summary.md", "summary_json": "summary.json"}


def last_window_shares(action: np.ndarray, n_arms: int, end: int, window: int) -> dict:
    """The action shares over rounds ``[end − window, end)``."""
    start = max(0, end - window)
    counts = np.bincount(action[start:end], minlength=n_arms)
    return {"window": window, "from": start, "to": end,
            "shares": (counts / max(end - start, 1)).tolist()}


def monitor_log(rounds: LogRounds, spec: MonitorSpec) -> tuple[dict, dict]:
    """``(alerts, results)``: :func:`estimators.monitoring.report.build_alerts`' content
    and each rule's arrays (:func:`envs.monitor.evaluate_rules`) for a log's rounds."""
    x = rounds.inputs
    kpis = window_kpis(x, spec, unavailable=rounds.unavailable)
    results = evaluate_rules(kpis, spec)
    shares_window = next((r.window for r in spec.rules if r.kpi == "max_share"),
                         max(spec.windows))
    shares = last_window_shares(x.action, x.n_arms, int(kpis["rounds"][-1]), shares_window)
    alerts = build_alerts(spec, kpis, results, rounds.timestamp, rounds.source, shares)
    return alerts, results


def _alert_lines(summary: Mapping[str, Any]) -> list[str]:
    """The terminal's account of each rule."""
    out = []
    for r in summary["rules"]:
        if r["status"] == "skipped":
            out.append(f"  {r['name']:<24} skipped: {r['reason']}")
            continue
        for t in r["thresholds"]:
            first = (f"first active at round {t['first_active_round']:,} "
                     f"({t['first_active_timestamp']})" if t["first_active_round"] >= 0
                     else "never active")
            now = "ACTIVE" if t["active_at_end"] else "ok"
            label = r["when"] if len(r["thresholds"]) == 1 else f"{r['when']} at {t['threshold']:g}"
            out.append(f"  {r['name']:<24} {now:<6} {label}: {first}, {t['episodes']} "
                       f"episode(s), {t['active_evaluations']}/{r['evaluations']} evaluations")
    return out


def _check_keys(cfg: Mapping[str, Any]) -> None:
    """Raises ``ConfigError`` on a key the monitor does not know, at the top level or in
    the ``load``, ``rewards`` and ``obd`` sections."""
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ConfigError(f"unknown config key {key!r}; allowed: {', '.join(CONFIG_KEYS)}")
    for section, allowed in SECTION_KEYS.items():
        for key in cfg.get(section) or {}:
            if key not in allowed:
                raise ConfigError(f"{section} has no key {key!r}; allowed: "
                                  f"{', '.join(allowed)}")


def run_monitor(cfg: Mapping[str, Any], out_dir: str | None = None,
                echo: bool = True) -> dict[str, Any]:
    """The monitor of ``conf/monitor.yaml`` on ``cfg["data"]``: settings checked before the
    log is read; with ``out_dir``, ``dashboard.png``, ``alerts.json``, ``summary.json``
    and ``summary.md`` written there. Returns ``{"alerts", "summary"}``."""
    _check_keys(cfg)
    spec = monitor_spec(cfg.get("monitor"))
    rounds = log_rounds(cfg)
    if echo:
        print("\n".join(describe_load(rounds.load)))
    alerts, _ = monitor_log(rounds, spec)
    files = {k: os.path.join(out_dir, name) for k, name in FILES.items()} if out_dir else {}
    summary = build_summary(alerts, rounds.load, rounds.attribution, files)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        write_files(alerts, summary, out_dir)
        plot_dashboard(alerts, files["dashboard"])
    if echo:
        print("\n".join([f"monitor: {alerts['n_rounds']:,} rounds, evaluated every "
                         f"{spec.hop:,}; baseline reward {alerts['baseline']['value']:.5g} "
                         f"({alerts['baseline']['from']})", *_alert_lines(summary)]))
        if rounds.attribution:
            print(rounds.attribution)
        for key, path in files.items():
            print(f"{key.replace('_', ' ')}: {path}")
    return {"alerts": alerts, "summary": summary}
