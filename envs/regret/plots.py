"""Figures of regret studies (matplotlib, written as PNG)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from common.figures import colors, pyplot, save_figure

Z95 = 1.959963984540054  # two-sided 95% normal quantile
LOG_FLOOR_ROUND = 10     # the log-log panel starts at this round (or T/10 if smaller)


class Curve(NamedTuple):
    """One algorithm's mean cumulative regret per round and its 95% interval."""

    name: str
    rounds: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def regret_curves(rollouts, label: Callable) -> list[Curve]:
    """A :class:`Curve` per grid point of every rollout. The band is the 95% interval of
    the mean over seeds (mean ± 1.96 std / √seeds), so algorithms whose bands do not
    touch differ clearly; it narrows as seeds are added, unlike the seeds' spread."""
    out = []
    for r in rollouts:
        half = Z95 * np.asarray(r.std_regret, np.float64) / np.sqrt(max(r.n_seeds, 1))
        rounds = np.asarray(r.rounds)
        for g in range(r.mean_regret.shape[0]):
            mean = np.asarray(r.mean_regret[g], np.float64)
            out.append(Curve(label(r, g), rounds, mean, mean - half[g], mean + half[g]))
    return out


def log_axis_start(curves: list[Curve], floor: int = LOG_FLOOR_ROUND) -> int:
    """The first round of the log-log panel: from ``min(floor, T/10)``, the first round
    at which every curve with any positive regret is positive."""
    T = max(int(c.rounds[-1]) for c in curves)
    start = max(1, min(floor, T // 10))
    for c in curves:
        pos = np.flatnonzero((c.rounds >= start) & (c.mean > 0))
        if len(pos):
            start = max(start, int(c.rounds[pos[0]]))
    return min(start, T)


def thin(rounds: np.ndarray, start: int, n: int, log: bool) -> np.ndarray:
    """Indices of at most ``n`` rounds from ``start`` on, evenly spaced (or log-spaced)."""
    T = int(rounds[-1])
    pts = np.geomspace(start, T, n) if log else np.linspace(start, T, n)
    return np.unique(np.clip(np.round(pts).astype(int), start, T)) - int(rounds[0])


def _slope_guides(ax, t0: int, T: int, top: float, bottom: float) -> None:
    """Reference lines of slope 1 and ½ ending just above the highest curve at round T,
    drawn back to round T/100 (or ``t0``) but not below ``bottom``, the lowest curve's
    start, so they never stretch the axes; each is named at its left end."""
    for slope, style, text in ((1.0, "--", "slope 1 (linear)"), (0.5, ":", "slope ½ (√T)")):
        end = 1.3 * top
        start = max(t0, T / 100, T * (bottom / end) ** (1 / slope))
        if start >= T / 2:
            continue
        xs = np.array([start, T], float)
        ys = end * (xs / T) ** slope
        ax.plot(xs, ys, color="0.35", ls=style, lw=0.9)
        room = start >= 4 * t0  # space left of the line's start for its name
        ax.annotate(text, (xs[0], ys[0]), xytext=(-4, 0) if room else (4, -4),
                    textcoords="offset points", ha="right" if room else "left",
                    va="center" if room else "top", fontsize=8, color="0.3")


def draw_curve(ax, c: Curve, idx: np.ndarray, color) -> object:
    """The mean line and its 95% band on ``ax`` at the rounds ``idx``; returns the line."""
    (line,) = ax.plot(c.rounds[idx], c.mean[idx], color=color, lw=1.7)
    lo = c.lower[idx]
    ax.fill_between(c.rounds[idx], lo, c.upper[idx], where=lo > 0 if ax.get_yscale() == "log"
                    else None, color=color, alpha=0.18, lw=0)
    return line


def plot_regret(rollouts, path: str, label: Callable):
    """Mean cumulative regret per algorithm with its 95% interval of the mean; linear axes
    on the left, log-log on the right from :func:`log_axis_start` (with slope-1 and
    slope-½ guides). The legend, outside the axes, lists the algorithms by final regret,
    highest first (the order their curves end in). Writes ``path``; returns the figure."""
    plt = pyplot()
    curves = regret_curves(rollouts, label)
    T = max(int(c.rounds[-1]) for c in curves)
    t0 = log_axis_start(curves)
    fig, (ax, axl) = plt.subplots(1, 2, figsize=(14, 5.2), layout="constrained")
    axl.set(xscale="log", yscale="log")
    lines = []
    for c, color in zip(curves, colors(len(curves))):
        lines.append(draw_curve(ax, c, thin(c.rounds, int(c.rounds[0]), 1500, False), color))
        if (c.mean[c.rounds >= t0] > 0).all():
            draw_curve(axl, c, thin(c.rounds, t0, 400, True), color)
    starts = [float(c.mean[c.rounds >= t0][0]) for c in curves]
    if max(starts) > 0:
        _slope_guides(axl, t0, T, top=max(float(c.mean[-1]) for c in curves),
                      bottom=min(v for v in starts if v > 0))
    axl.set_xlim(t0, T * 1.05)
    n_seeds = sorted({r.n_seeds for r in rollouts})
    fig.suptitle(f"{rollouts[0].env}: mean cumulative regret over "
                 f"{'/'.join(map(str, n_seeds))} seeds (bands: 95% interval of the mean)")
    ax.set(xlabel="round", ylabel="cumulative expected regret", title="linear axes")
    axl.set(xlabel="round (log)", ylabel="cumulative expected regret (log)",
            title=f"log-log, from round {t0}")
    ax.grid(alpha=0.3)
    axl.grid(alpha=0.3, which="both")
    order = sorted(range(len(curves)), key=lambda i: -curves[i].mean[-1])
    fig.legend([lines[i] for i in order],
               [f"{curves[i].name}  {curves[i].mean[-1]:,.0f}" for i in order],
               loc="outside right upper", title="final regret", fontsize=9,
               title_fontsize=9, frameon=False)
    save_figure(fig, path)
    return fig
