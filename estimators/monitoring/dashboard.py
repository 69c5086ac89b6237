"""The monitor's dashboard: one PNG of the KPIs over time, the last window's actions and
the alerts, drawn from ``alerts.json``'s content
(:func:`estimators.monitoring.report.build_alerts`).

Each KPI is drawn over the window of the first rule on it (else the longest rule window);
a KPI the data cannot give is a labelled panel that says why.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np

from common.figures import pyplot, save_figure

SEVERITY_COLORS = {"high": "tab:red", "medium": "tab:orange", "low": "gold"}


def display_window(alerts: Mapping[str, Any], kpi: str) -> int:
    """The window a KPI is drawn over: its first rule's, else the longest one."""
    for rule in alerts["rules"]:
        if rule["kpi"] == kpi:
            return rule["window"]
    return max(int(w) for w in alerts["kpis"]["windows"])


def _series(alerts: Mapping[str, Any], kpi: str):
    """(rounds, values, window) of a KPI, or None when it is not available."""
    w = display_window(alerts, kpi)
    values = alerts["kpis"]["windows"][str(w)].get(kpi)
    if values is None:
        return None
    return (np.asarray(alerts["kpis"]["rounds"]),
            np.array([np.nan if v is None else v for v in values], float), w)


def _not_available(ax, title: str, reason: str) -> None:
    """A panel that says a KPI is not available, and why."""
    ax.set_title(f"{title}: not available", fontsize=10)
    ax.text(0.5, 0.5, textwrap.fill(reason, 60), ha="center", va="center", fontsize=8,
            color="0.3", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _rule_lines(ax, alerts: Mapping[str, Any], kpi: str, scale: float = 1.0) -> None:
    """Dashed lines at the thresholds of the evaluated rules on ``kpi``."""
    for rule in alerts["rules"]:
        if rule["kpi"] != kpi or rule["status"] != "evaluated":
            continue
        for t in rule["thresholds"]:
            ax.axhline(t["compared_with"] * scale, ls="--", lw=1,
                       color=SEVERITY_COLORS[rule["severity"]],
                       label=f"{rule['name']}: {rule['op']} {t['compared_with'] * scale:.3g}")


def _kpi_panel(ax, alerts, kpi: str, title: str, ylabel: str, scale: float = 1.0) -> bool:
    """A KPI over the evaluations with its rules' thresholds; False when not available."""
    s = _series(alerts, kpi)
    if s is None:
        return False
    rounds, values, w = s
    ax.plot(rounds, values * scale, lw=1.2, color="tab:blue", label=f"{kpi} (window {w:,})")
    _rule_lines(ax, alerts, kpi, scale)
    ax.set(title=title, ylabel=ylabel, xlabel="round",
           xlim=(0, alerts["evaluated_to_round"]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return True


def _reward_panel(ax, alerts) -> None:
    """Mean reward per window against the baseline."""
    _kpi_panel(ax, alerts, "avg_reward", "reward over time", "mean reward per window")
    b = alerts["baseline"]
    ax.axhline(b["value"], color="0.3", lw=1, label=f"baseline {b['value']:.4g}")
    ax.legend(fontsize=7, loc="best")


def _entropy_panel(ax, alerts) -> None:
    """The policy's action entropy, else the entropy of the window's action shares."""
    if _kpi_panel(ax, alerts, "action_entropy", "action entropy", "nats"):
        return
    if not _kpi_panel(ax, alerts, "share_entropy",
                      "entropy of the action shares (policy entropy not available)", "nats"):
        _not_available(ax, "action entropy", alerts["unavailable"].get("action_entropy", ""))


def _shares_panel(ax, alerts) -> None:
    """The action distribution of the last window."""
    last = alerts["last_window_shares"]
    shares = np.asarray(last["shares"])
    ax.bar(np.arange(shares.size), shares, color="tab:blue", width=0.8)
    _rule_lines(ax, alerts, "max_share")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    ax.set_ylim(0, 1.25 * max(shares.max(), 1e-9))  # a threshold above the bars: in the legend
    ax.set(title=f"actions in rounds [{last['from']:,}, {last['to']:,})", xlabel="arm",
           ylabel="share of the window")
    ax.grid(alpha=0.3, axis="y")


def _alerts_panel(ax, alerts) -> None:
    """A timeline per rule (and threshold): bars where the alert was active."""
    hop, labels, y = alerts["hop"], [], 0
    for rule in alerts["rules"]:
        if rule["status"] == "skipped":
            labels.append(f"{rule['name']} (skipped)")
            ax.text(0.01, y, textwrap.shorten(rule["reason"], 110), va="center", fontsize=7,
                    color="0.4", transform=ax.get_yaxis_transform())
            y += 1
            continue
        for t in rule["thresholds"]:
            periods = [(a - hop, b - a + hop) for a, b in t["active_periods"]]
            ax.broken_barh(periods, (y - 0.35, 0.7), color=SEVERITY_COLORS[rule["severity"]])
            if not periods:
                ax.text(0.01, y, "never active", va="center", fontsize=7, color="0.4",
                        transform=ax.get_yaxis_transform())
            extra = f" @ {t['threshold']:g}" if len(rule["thresholds"]) > 1 else ""
            labels.append(f"{rule['name']}{extra} ({rule['severity']})")
            y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(-0.6, max(len(labels), 1) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(0, alerts["evaluated_to_round"])
    ax.set(title="active alerts", xlabel="round (log rows in timestamp order)")
    ax.grid(alpha=0.3, axis="x")


def plot_dashboard(alerts: Mapping[str, Any], path: str) -> None:
    """The dashboard of one monitored log, saved as a PNG at ``path``."""
    plt = pyplot()
    fig = plt.figure(figsize=(13, 14), layout="constrained")
    grid = fig.add_gridspec(4, 2, height_ratios=[1, 1, 1, 0.25 + 0.12 * len(alerts["rules"])])
    ax = {name: fig.add_subplot(grid[i // 2, i % 2]) for i, name in enumerate(
        ("reward", "regret", "entropy", "exploration", "shares", "drift"))}
    _reward_panel(ax["reward"], alerts)
    if not _kpi_panel(ax["regret"], alerts, "regret", "regret per round", "mean regret"):
        _not_available(ax["regret"], "regret", alerts["unavailable"].get("regret", ""))
    _entropy_panel(ax["entropy"], alerts)
    if not _kpi_panel(ax["exploration"], alerts, "exploration_rate", "exploration",
                      "% of rows off the policy's argmax", scale=100.0):
        _not_available(ax["exploration"], "exploration %",
                       alerts["unavailable"].get("exploration_rate", ""))
    _shares_panel(ax["shares"], alerts)
    _kpi_panel(ax["drift"], alerts, "context_drift",
               f"context drift against rounds [0, {alerts['reference']:,})",
               "max standardised mean shift")
    _alerts_panel(fig.add_subplot(grid[3, :]), alerts)
    span = alerts["time_span"]
    fig.suptitle(f"monitor: {alerts['source']}\n{alerts['n_rounds']:,} rounds, "
                 f"{span['first']} to {span['last']}", fontsize=11)
    save_figure(fig, path)
