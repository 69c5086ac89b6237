"""The safety study's figure: per fault, bare against guarded, in three panels: final
regret (bars with 95% intervals), incidents per 10,000 rounds and the share of rounds
the fallback served."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from common.figures import colors, pyplot, save_figure

PANELS = (("final_regret_mean", "final cumulative regret (95% CI)"),
          ("incidents_per_10k", "invalid decisions served / 10,000 rounds"),
          ("fallback_share", "share of rounds served by the fallback"))
INTERVALS = {"final_regret_mean": "final_regret_ci95",
             "incidents_per_10k": "incidents_per_10k_ci95"}  # value -> its 95% interval


def _bars(ax, rows: list[Mapping[str, Any]], faults: list[str], key: str, modes, palette):
    """Grouped bars of ``key`` per fault, one bar per mode, with 95% intervals when the
    rows hold them, and each bar's value written above it."""
    width = 0.8 / len(modes)
    x = np.arange(len(faults))
    for i, (mode, color) in enumerate(zip(modes, palette)):
        by_fault = {r["fault"]: r for r in rows if r["mode"] == mode}
        values = np.array([by_fault[f][key] for f in faults], np.float64)
        err = None
        if key in INTERVALS:
            lo, hi = np.array([by_fault[f][INTERVALS[key]] for f in faults], np.float64).T
            err = np.nan_to_num(np.stack([values - lo, hi - values]))
        bars = ax.bar(x + (i - (len(modes) - 1) / 2) * width, values, width, yerr=err,
                      capsize=3, color=color, label=mode)
        labels = [f"{v:.0%}" if key == "fallback_share" else f"{v:.0f}" for v in values]
        ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
    ax.set_xticks(x, faults, rotation=20, ha="right")
    ax.grid(axis="y", alpha=0.3)


def plot(summary: Mapping[str, Any], path: str):
    """Writes the figure of ``summary`` (:func:`envs.regret.safety.run`) to ``path``."""
    plt = pyplot()
    rows = summary["rows"]
    faults = list(dict.fromkeys(r["fault"] for r in rows))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(16, 5), layout="constrained")
    palette = colors(len(modes))
    for ax, (key, title) in zip(axes, PANELS):
        _bars(ax, rows, faults, key, modes, palette)
        ax.set_title(title, fontsize=10)
    axes[2].set_ylim(0, 1.1)
    axes[0].legend(title="served", loc="upper left")
    b = summary["breaker"]
    fig.suptitle(f"{summary['policy']} on {summary['env']} under faults, "
                 f"{summary['n_seeds']} seeds × {summary['n_rounds']} rounds: bare vs behind "
                 f"a circuit breaker ({b['failures']} failures / {b['window']} rounds, "
                 f"cooldown {b['cooldown']}) with fallback {summary['fallback']}")
    save_figure(fig, path)
    return fig
