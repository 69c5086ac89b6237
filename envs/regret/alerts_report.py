"""The alerts study's table and files: one row per rule and threshold, with its false
alarms on healthy runs and its detection of each incident (:mod:`envs.regret.alerts`)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from common.formatting import json_default, markdown_table
from envs.monitor.rules import MonitorSpec
from envs.regret.alerts_plots import plot_alerts


def condition_text(rule, threshold: float) -> str:
    """``avg_reward < 0.8 × baseline``, ``max_share > 0.9``."""
    return f"{rule.kpi} {rule.op} {threshold:g}{' × baseline' if rule.relative else ''}"


def detection(first: np.ndarray, at: int) -> dict[str, Any]:
    """Detection of an incident at round ``at`` from every seed's first active round
    after it (S,) (−1: never): the share detected and the delay's median and 90th
    percentile among them (None when none was)."""
    hit = first > 0
    delays = first[hit] - at
    return {"detected": float(hit.mean()),
            "median_delay": float(np.median(delays)) if delays.size else None,
            "p90_delay": float(np.quantile(delays, 0.9)) if delays.size else None}


def false_alarms_per_10k(episodes: np.ndarray, n_rounds: int) -> tuple[float, float]:
    """Mean episodes per 10,000 rounds over seeds (S,), and its standard error."""
    rate = np.asarray(episodes, np.float64) * 1e4 / n_rounds
    se = rate.std(ddof=1) / np.sqrt(rate.size) if rate.size > 1 else float("nan")
    return float(rate.mean()), float(se)


def rule_rows(spec: MonitorSpec, results: dict, n_rounds: int, at: int) -> list[dict]:
    """One row per rule and threshold: false alarms per 10,000 rounds on the healthy runs
    (mean over seeds and its standard error) and each incident's detection."""
    rows = []
    for rule in spec.rules:
        for j, threshold in enumerate(rule.thresholds):
            rate, se = false_alarms_per_10k(results["healthy"][rule.name]["episodes"][:, j],
                                            n_rounds)
            rows.append({
                "rule": rule.name, "condition": condition_text(rule, threshold),
                "threshold": threshold, "window": rule.window, "for": rule.for_rounds,
                "severity": rule.severity, "false_alarms_per_10k": rate,
                "false_alarms_se": se,
                "incidents": {kind: detection(out[rule.name]["first"][:, j], at)
                              for kind, out in results.items() if kind != "healthy"}})
    return rows


def _cell(d: dict[str, Any]) -> str:
    if d["median_delay"] is None:
        return f"{d['detected']:.0%}"
    return f"{d['detected']:.0%} · {d['median_delay']:,.0f}"


def markdown(summary: dict[str, Any]) -> str:
    """The study as Markdown: settings, then the table."""
    incidents = summary["incidents"]
    header = ["rule", "condition", "window / for", "false alarms / 10k rounds",
              *[f"{k}: detected · median delay" for k in incidents]]
    rows = [[r["rule"], r["condition"], f"{r['window']} / {r['for']}",
             f"{r['false_alarms_per_10k']:.2f} ± {1.96 * r['false_alarms_se']:.2f}",
             *[_cell(r["incidents"][k]) for k in incidents]] for r in summary["rules"]]
    lines = [f"# Alert rules: {summary['policy']} on {summary['env']}", "",
             f"{summary['n_seeds']:,} seeds × {summary['n_rounds']:,} rounds; incidents "
             f"start at round {summary['incident_round']:,}. False alarms: alert episodes "
             "on healthy runs per 10,000 rounds (mean ± 95% interval over seeds). "
             "Detected: share of seeds whose alert was active after the incident; delay: "
             "rounds from the incident to the first active evaluation.", ""]
    return "\n".join(lines + markdown_table(header, rows)) + "\n"


def write_alerts(out_dir: str, summary: dict[str, Any], echo: bool = True) -> None:
    """``summary.json``, ``summary.md`` and ``alerts.png`` into ``out_dir``; prints the
    table and where the files went when ``echo``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name)
             for name in ("summary.json", "summary.md", "alerts.png")}
    with open(paths["summary.json"], "w") as f:
        json.dump(summary, f, indent=1, default=json_default)
    text = markdown(summary)
    with open(paths["summary.md"], "w") as f:
        f.write(text)
    plot_alerts(summary, paths["alerts.png"])
    if echo:
        print(text)
        for path in paths.values():
            print(f"wrote {path}")
