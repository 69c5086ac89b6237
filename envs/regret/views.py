"""What a regret study shows beyond its regret curves: for a world that changes, per-round
regret over time with its change points and the regret in windows after each change; for
a grid of settings, final regret against each swept setting; with a monitor
(``monitor=default``), how often each alert rule fired."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from common.formatting import markdown_table
from envs.regret.alerts_report import false_alarms_per_10k
from envs.regret.over_time import plot_over_time, regret_after_changes
from envs.regret.report import label
from envs.regret.sweep_plot import plot_against_sweep, swept_names


def change_rounds(cfg: Mapping[str, Any]) -> list[int]:
    """The scheduled change rounds of the study's drift (none without an abrupt drift)."""
    drift = cfg.get("drift") or {}
    return sorted(int(c) for c in drift.get("change_rounds") or [])


def change_window(changes: list[int], n_rounds: int) -> int:
    """Rounds measured after each change: half the shortest stretch between changes."""
    edges = np.diff(np.array(changes + [n_rounds]))
    return max(1, int(edges.min()) // 2) if len(edges) else 0


def add_views(summary: dict[str, Any], rollouts: list) -> None:
    """Adds ``after_changes`` (regret in windows after each scheduled change) and
    ``figures`` (the extra figures :func:`write_views` draws) to the study's summary."""
    cfg = summary["config"]
    changes = change_rounds(cfg)
    figures = []
    if cfg.get("drift"):
        figures.append("over_time.png")
    if changes:
        width = change_window(changes, summary["n_rounds"])
        summary["after_changes"] = regret_after_changes(rollouts, changes, width, label)
    figures += [f"sweep_{name}.png" for name in swept_names(rollouts)]
    summary["figures"] = figures
    if any(r.alerts for r in rollouts):
        summary["alerts"] = alert_rows(rollouts, summary["n_rounds"])


def alert_rows(rollouts: list, n_rounds: int) -> list[dict[str, Any]]:
    """Per algorithm, rule and threshold: alert episodes per 10,000 rounds (mean over
    seeds), the share of seeds with an alert, and the median first alert round."""
    rows = []
    for r in rollouts:
        for g in range(r.mean_regret.shape[0]):
            for rule, out in (r.alerts or {}).items():
                for j in range(out["episodes"].shape[-1]):
                    first = out["first"][g, :, j]
                    rows.append({
                        "algorithm": label(r, g), "rule": rule, "threshold_index": j,
                        "episodes_per_10k": false_alarms_per_10k(
                            out["episodes"][g, :, j], n_rounds)[0],
                        "seeds_alerted": float((first > 0).mean()),
                        "median_first_round": float(np.median(first[first > 0]))
                        if (first > 0).any() else None})
    return rows


def write_views(out_dir: str, summary: dict[str, Any], rollouts: list) -> None:
    """Draws the figures :func:`add_views` listed."""
    for name in summary.get("figures", []):
        path = os.path.join(out_dir, name)
        if name == "over_time.png":
            smooth = max(1, summary["n_rounds"] // 200)
            plot_over_time(rollouts, path, label, change_rounds(summary["config"]), smooth)
        else:
            plot_against_sweep(summary["results"], name[len("sweep_"):-len(".png")], path)


def views_markdown(summary: dict[str, Any]) -> list[str]:
    """The Markdown of the views: the after-change table and the figures."""
    md = []
    rows = summary.get("after_changes")
    if rows:
        width = rows[0]["width"]
        md += [f"## Regret in the {width} rounds after each change (and before it)", "",
               *markdown_table(
                   ["algorithm", "change round", "after", "before"],
                   [[r["algorithm"], str(r["change_round"]), f"{r['regret_after']:.1f}",
                     "" if r["regret_before"] is None else f"{r['regret_before']:.1f}"]
                    for r in rows], align="lrrr"), ""]
    alerts = summary.get("alerts")
    if alerts:
        md += ["## Alerts (monitor)", "", *markdown_table(
            ["algorithm", "rule", "threshold #", "episodes / 10k rounds", "seeds alerted",
             "median first round"],
            [[a["algorithm"], a["rule"], str(a["threshold_index"]),
              f"{a['episodes_per_10k']:.2f}", f"{a['seeds_alerted']:.0%}",
              "–" if a["median_first_round"] is None else f"{a['median_first_round']:,.0f}"]
             for a in alerts], align="llrrrr"), ""]
    md += [f"![{name[:-4]}]({name})" for name in summary.get("figures", [])]
    return md + ([""] if md else [])
