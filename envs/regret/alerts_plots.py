"""The alerts study's figure: for each incident, each rule's detection delay (top) and
detection probability (bottom) against its false alarms on healthy runs, one point per
threshold — the trade-off an alert threshold sets, ROC-style."""

from __future__ import annotations

from typing import Any

from common.figures import colors, pyplot, save_figure


def _by_rule(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["rule"], []).append(row)
    return out


def _panel(ax_delay, ax_hit, rules: dict[str, list[dict]], kind: str, palette) -> None:
    """One incident's two panels. A threshold's delay is drawn where it detected the
    incident on at least half the seeds (a delay of the few seeds where an alert happened
    to be active says little)."""
    for (name, rows), color in zip(rules.items(), palette):
        fa = [r["false_alarms_per_10k"] for r in rows]
        ax_hit.plot(fa, [r["incidents"][kind]["detected"] for r in rows], "o-",
                    color=color, label=name, alpha=0.85)
        sure = [(f, r) for f, r in zip(fa, rows) if r["incidents"][kind]["detected"] >= 0.5]
        if sure:
            ax_delay.plot([f for f, _ in sure],
                          [r["incidents"][kind]["median_delay"] for _, r in sure], "o-",
                          color=color, alpha=0.85)
        for f, r in sure:
            ax_delay.annotate(f"{r['threshold']:g}", (f, r["incidents"][kind]["median_delay"]),
                              fontsize=7, textcoords="offset points", xytext=(3, 3),
                              color=color)
    ax_delay.set_title(kind.replace("_", " "))
    for ax in (ax_delay, ax_hit):
        ax.set_xscale("symlog", linthresh=0.1)
        ax.grid(alpha=0.3)
    ax_hit.set_ylim(-0.05, 1.05)
    ax_hit.set_xlabel("false alarms / 10k rounds (healthy)")


def plot_alerts(summary: dict[str, Any], path: str) -> None:
    """Writes the figure of the alerts study ``summary`` to ``path``."""
    plt = pyplot()
    incidents = summary["incidents"]
    rules = _by_rule(summary["rules"])
    palette = colors(len(rules))
    fig, axes = plt.subplots(2, len(incidents), figsize=(3.6 * len(incidents) + 1.5, 7),
                             squeeze=False, sharex=True)
    for i, kind in enumerate(incidents):
        _panel(axes[0, i], axes[1, i], rules, kind, palette)
    axes[0, 0].set_ylabel("median detection delay (rounds),\nwhere ≥ 50% detected")
    axes[1, 0].set_ylabel("share of seeds detected")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
               title="rule (points: thresholds)")
    fig.suptitle(f"Alert rules: {summary['policy']} on {summary['env']}, "
                 f"{summary['n_seeds']:,} seeds, incidents at round "
                 f"{summary['incident_round']:,}")
    save_figure(fig, path)
