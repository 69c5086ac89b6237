"""Figures of regret studies (matplotlib, written as PNG)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str) -> None:
    """Writes ``fig`` as a PNG at ``path`` and releases it."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)


def plot_regret(rollouts, path: str, label: Callable) -> None:
    """Mean cumulative regret with a 2.5–97.5% band across seeds; log-log on the right."""
    plt = pyplot()

    fig, (ax, axl) = plt.subplots(1, 2, figsize=(13, 5))
    cmap = plt.get_cmap("tab10" if sum(r.mean_regret.shape[0] for r in rollouts) <= 10
                        else "tab20")
    i = 0
    for r in rollouts:
        q = r.quantiles([0.025, 0.975])
        for g in range(r.mean_regret.shape[0]):
            color = cmap(i % cmap.N)
            i += 1
            name = label(r, g)
            ax.plot(r.rounds, r.mean_regret[g], color=color, lw=1.6, label=name)
            ax.fill_between(r.checkpoints, q[0, g], q[1, g], color=color, alpha=0.15, lw=0)
            keep = r.mean_regret[g] > 0
            axl.loglog(r.rounds[keep], r.mean_regret[g][keep], color=color, lw=1.6)
            ck = q[0, g] > 0
            axl.fill_between(r.checkpoints[ck], q[0, g][ck], q[1, g][ck], color=color,
                             alpha=0.15, lw=0)
    n = rollouts[0].n_seeds
    ax.set(xlabel="round", ylabel="cumulative expected regret",
           title=f"{rollouts[0].env}: mean over {n} seeds, band 2.5–97.5%")
    axl.set(xlabel="round (log)", ylabel="cumulative regret (log)", title="log-log")
    t = max(int(r.rounds[-1]) for r in rollouts)
    top = axl.get_ylim()[1]
    for slope, style in ((0.5, ":"), (1.0, "--")):
        xs = np.array([max(t / 100, 1), t])
        axl.loglog(xs, top * 0.5 * (xs / t) ** slope, "k" + style, lw=0.8,
                   label=f"slope {slope:g}")
    axl.legend(fontsize=8, loc="upper left")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    axl.grid(alpha=0.3, which="both")
    save_figure(fig, path)
