"""Regret round by round: how fast each algorithm pays at every point of a study, and what
it pays just after the world changes (a drift's change rounds) against just before.

* :func:`per_round_regret`: per-round expected regret from a mean cumulative curve,
  smoothed by a trailing moving average.
* :func:`regret_after_changes`: regret accumulated in a window after each change round
  and in the window before it, per algorithm and grid point.
* :func:`plot_over_time`: per-round regret against round with the change rounds marked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from common.figures import colors, pyplot, save_figure
from envs.regret import report

MAX_POINTS = 2000  # at most this many rounds of each curve are drawn


def per_round_regret(mean_regret_row, smooth: int) -> np.ndarray:
    """Per-round expected regret, smoothed by a trailing moving average.

    The per-round regret is the first difference of the mean cumulative regret (its first
    value as is). Round ``t`` (0-based) of the result is the mean of the per-round regret
    over rounds ``max(0, t - smooth + 1) .. t``: over ``smooth`` rounds, or over all
    rounds so far near the start. Since the cumulative sum of the differences is the
    cumulative curve itself, that is ``(cum[t] - cum[t - smooth]) / smooth``.

    Args:
        mean_regret_row: (T,) mean cumulative regret after each round.
        smooth: the window in rounds, at least 1 (1: no smoothing).

    Returns:
        (T,) float64 smoothed per-round regret.
    """
    if int(smooth) != smooth or smooth < 1:
        raise ValueError(f"smooth must be an integer >= 1, got {smooth!r}")
    smooth = int(smooth)
    cum = np.concatenate([[0.0], np.asarray(mean_regret_row, np.float64)])
    T = len(cum) - 1
    t = np.arange(1, T + 1)
    lo = np.maximum(t - smooth, 0)
    return (cum[t] - cum[lo]) / (t - lo)


def _window_regret(row: np.ndarray, start: int, stop: int) -> float:
    """Mean regret accumulated over rounds ``start .. stop - 1`` (0-based)."""
    return float(row[stop - 1] - (row[start - 1] if start > 0 else 0.0))


def regret_after_changes(rollouts, change_rounds: Sequence[int], width: int,
                         label: Callable | None = None) -> list[dict[str, Any]]:
    """Regret accumulated just after each change of the world, and just before it.

    Args:
        rollouts: the study's rollouts (``mean_regret`` (G, T), ``grid``, ``policy``).
        change_rounds: 0-based round indices at which a change takes effect, each in
            ``0 .. T-1``.
        width: the window in rounds, at least 1.
        label: names grid point ``g`` of a rollout, ``label(r, g)``;
            :func:`envs.regret.report.label` by default.

    Returns:
        One row per rollout, grid point and change round ``c``, in that order:
        ``algorithm``, ``change_round`` (``c``), ``width``, ``regret_after`` (mean regret
        over rounds ``c .. c+width-1``, clipped at the last round) and ``regret_before``
        (over the ``width`` rounds ``c-width .. c-1``; ``None`` when ``c < width``).
    """
    if int(width) != width or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    label = label or report.label
    rows = []
    for r in rollouts:
        mean = np.asarray(r.mean_regret, np.float64)
        T = mean.shape[1]
        bad = [c for c in change_rounds if not 0 <= c < T]
        if bad:
            raise ValueError(f"change rounds {bad} outside 0..{T - 1} ({r.policy})")
        for g in range(mean.shape[0]):
            for c in change_rounds:
                c = int(c)
                rows.append({
                    "algorithm": label(r, g), "change_round": c, "width": int(width),
                    "regret_after": _window_regret(mean[g], c, min(c + width, T)),
                    "regret_before": _window_regret(mean[g], c - width, c)
                    if c >= width else None})
    return rows


def _mark_changes(ax, rounds: np.ndarray, change_rounds: Sequence[int]) -> None:
    """A dashed vertical line at the round each change takes effect, named at the top."""
    for c in change_rounds:
        x = float(rounds[int(c)])
        ax.axvline(x, color="0.35", ls="--", lw=0.9, gid=f"change:{int(c)}")
        ax.annotate(f"change (round {x:,.0f})", (x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-2, -4), textcoords="offset points", rotation=90, ha="right",
                    va="top", fontsize=7, color="0.3")


def plot_over_time(rollouts, path: str, label: Callable, change_rounds: Sequence[int] = (),
                   smooth: int = 1):
    """Per-round expected regret (:func:`per_round_regret`) against round for every
    algorithm and grid point, one line each, with a dashed line at every change round
    (0-based index ``c``, drawn at round ``rounds[c]``, where the change takes effect).
    Curves longer than :data:`MAX_POINTS` rounds are drawn at that many evenly spaced
    rounds (of the smoothed curve). The legend sits outside the axes, on the right.

    Args:
        rollouts: the study's rollouts.
        path: where the PNG goes.
        label: names grid point ``g`` of a rollout, ``label(r, g)``.
        change_rounds: 0-based round indices of the world's changes.
        smooth: the trailing moving-average window in rounds (1: none).

    Returns:
        The (closed) figure; each curve's line has the gid ``curve:<name>``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 5), layout="constrained")
    n = sum(r.mean_regret.shape[0] for r in rollouts)
    palette = iter(colors(n))
    for r in rollouts:
        rounds = np.asarray(r.rounds)
        idx = np.unique(np.linspace(0, len(rounds) - 1, min(len(rounds), MAX_POINTS))
                        .round().astype(int))
        for g in range(r.mean_regret.shape[0]):
            y = per_round_regret(r.mean_regret[g], smooth)
            name = label(r, g)
            ax.plot(rounds[idx], y[idx], color=next(palette), lw=1.3, label=name,
                    gid=f"curve:{name}")
    _mark_changes(ax, np.asarray(rollouts[0].rounds), change_rounds)
    seeds = "/".join(map(str, sorted({r.n_seeds for r in rollouts})))
    window = "no smoothing" if smooth == 1 else f"trailing mean over {smooth:,} rounds"
    ax.set_title(f"{rollouts[0].env}: per-round expected regret ({window}; mean over "
                 f"{seeds} seeds)")
    ax.set(xlabel="round", ylabel="expected regret per round")
    ax.set_xlim(float(rollouts[0].rounds[0]), max(float(r.rounds[-1]) for r in rollouts))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=9, frameon=False)
    save_figure(fig, path)
    return fig
