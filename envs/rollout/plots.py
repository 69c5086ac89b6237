"""The staged-rollout study's figure: the candidate's traffic share over time (a fan
across seeds for a few lifts) and the outcome rates against the true lift."""

from __future__ import annotations

from typing import Any

import numpy as np

from common.figures import colors, pyplot, save_figure


def fan_lifts(lifts: list[float], n: int = 3) -> list[int]:
    """Indices of up to ``n`` lifts to draw as fans: the worst, the one nearest 0 and the
    best."""
    order = np.argsort(lifts)
    picks = [int(order[0]), int(np.argmin(np.abs(lifts))), int(order[-1])]
    return list(dict.fromkeys(picks))[:n]


def _fan_panel(ax, rounds: np.ndarray, fan: dict[str, np.ndarray], lifts: list[float],
               stage_starts: list[tuple[str, int]]) -> None:
    picks = fan_lifts(lifts)
    for g, color in zip(picks, colors(len(picks))):
        ax.fill_between(rounds, fan["q05"][g], fan["q95"][g], color=color, alpha=0.12, lw=0)
        ax.fill_between(rounds, fan["q25"][g], fan["q75"][g], color=color, alpha=0.25, lw=0)
        ax.plot(rounds, fan["mean"][g], color=color, lw=1.8,
                label=f"lift {lifts[g]:+.0%}: mean (bands 50%, 90% of seeds)")
    for name, start in stage_starts:
        ax.axvline(start, color="grey", lw=0.6, ls=":")
        ax.text(start, 1.02, name, rotation=90, fontsize=7, va="bottom", ha="center",
                transform=ax.get_xaxis_transform())
    ax.set(xlabel="round", ylabel="candidate's share of traffic", ylim=(-0.02, 1.02),
           )
    ax.set_title("Traffic share over time", pad=52)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)


def _rates_panel(ax, rows: list[dict[str, Any]]) -> None:
    lifts = np.array([r["lift"] for r in rows]) * 100
    for key, label, color in (("p_full", "reached full rollout", "tab:green"),
                              ("p_rollback", "rolled back", "tab:red")):
        p = np.array([r[key] for r in rows])
        lo, hi = np.array([r[f"{key}_ci95"] for r in rows]).T
        ax.errorbar(lifts, p, yerr=np.clip([p - lo, hi - p], 0.0, None), fmt="o-",
                    color=color, capsize=3, label=label)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set(xlabel="true lift of the candidate (%)", ylabel="share of rollouts",
           ylim=(-0.02, 1.02))
    ax.set_title("Outcomes against the true lift (95% Wilson intervals)", pad=52)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)


def plot(summary: dict[str, Any], rounds: np.ndarray, fan: dict[str, np.ndarray], path: str):
    """Writes the two panels to ``path`` (PNG)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.2), layout="constrained")
    lifts = [r["lift"] for r in summary["lifts"]]
    starts, at = [], 0
    for stage in summary["stages"]:
        starts.append((stage["name"], at))
        at += stage["rounds"] or 0
    _fan_panel(left, rounds, fan, lifts, starts)
    _rates_panel(right, summary["lifts"])
    fig.suptitle(f"Staged rollout: {summary['n_seeds']} rollouts per lift, rule "
                 f"{summary['rule']['kind']}")
    save_figure(fig, path)
    return fig
