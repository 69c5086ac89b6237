"""Figures of estimator studies (matplotlib, written as PNG).

* :func:`plot_errors`: each estimator's error distribution over the datasets beside its
  RMSE and interval coverage, one row per estimator, best RMSE first.
* :func:`plot_sweep`: RMSE and coverage against an in-process swept value.
* :func:`plot_rmse_vs_n`: RMSE against the sample size after a multirun over ``n_rows``.

Each writes its PNG and returns the (closed) figure, so tests can inspect it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from common.figures import colors, pyplot, save_figure

WHISKERS = (2.5, 97.5)  # percentiles of the error distribution shown as whiskers
OUTLIER_WIDTHS = 1.5    # an estimator is off scale beyond this many typical 95% ranges


class ErrorScale(NamedTuple):
    """The error axis of :func:`plot_errors`: its limits and the estimators drawn off it."""

    lower: float
    upper: float
    outliers: list[int]


def error_scale(errors: np.ndarray, k: float = OUTLIER_WIDTHS) -> ErrorScale:
    """Limits that show the central estimators' 2.5–97.5% ranges (and zero) in full.

    An estimator is an outlier when its 2.5–97.5% range leaves the window of ``k``
    typical range widths (the median over estimators) around the median of the
    estimators' medians, e.g. a strongly biased estimator among unbiased ones. The limits
    cover the other estimators' ranges, so one outlier cannot squash the rest.
    """
    lo, hi = np.percentile(errors, WHISKERS, axis=0)
    med = np.median(errors, axis=0)
    width = float(np.median(hi - lo))
    center = float(np.median(med))
    out = [] if width <= 0 or errors.shape[1] < 3 else [
        j for j in range(errors.shape[1])
        if lo[j] < center - k * width or hi[j] > center + k * width]
    keep = [j for j in range(errors.shape[1]) if j not in out]
    a, b = min(0.0, float(lo[keep].min())), max(0.0, float(hi[keep].max()))
    pad = 0.08 * (b - a) if b > a else 1.0
    return ErrorScale(a - pad, b + pad, out)


def _rmse_rows(names: Sequence[str], errors: np.ndarray,
               results: Sequence[Mapping[str, Any]] | None) -> list[dict[str, float]]:
    """Per estimator ``rmse``, ``rmse_se`` and, when ``results`` has them, ``coverage``
    and ``coverage_se``; RMSE and its Monte Carlo error come from ``errors`` otherwise."""
    given = {r["estimator"]: r for r in results or []}
    rows = []
    for j, name in enumerate(names):
        e2 = errors[:, j] ** 2
        rmse = math.sqrt(float(e2.mean()))
        se = float(e2.std(ddof=1) / math.sqrt(len(e2)) / (2 * rmse)) if rmse > 0 else 0.0
        row = {"rmse": rmse, "rmse_se": se}
        row.update({k: float(v) for k, v in given.get(name, {}).items()
                    if k in ("rmse", "rmse_se", "coverage", "coverage_se")})
        rows.append(row)
    return rows


def _boxplot(ax, data: list[np.ndarray]) -> None:
    """Horizontal boxes (quartiles, median, whiskers at :data:`WHISKERS`) at rows 0..k-1."""
    import matplotlib

    kw = {"orientation": "horizontal"} if tuple(
        int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10) else {"vert": False}
    ax.boxplot(data, positions=range(len(data)), whis=WHISKERS, showfliers=False,
               widths=0.6, medianprops={"color": "C1", "lw": 1.6}, **kw)


def _mark_outliers(ax, errors: np.ndarray, order: list[int], names: Sequence[str],
                   scale: ErrorScale) -> None:
    """An arrow at the edge of the error panel for each estimator drawn off scale, with
    its median and 2.5–97.5% range."""
    for row, j in enumerate(order):
        if j not in scale.outliers:
            continue
        lo, hi = np.percentile(errors[:, j], WHISKERS)
        med = float(np.median(errors[:, j]))
        left = med < scale.lower
        ax.annotate(f"{names[j]}: median {med:+.3g}, 95% range [{lo:+.3g}, {hi:+.3g}]",
                    xy=(0.0 if left else 1.0, row), xycoords=ax.get_yaxis_transform(),
                    xytext=(0.05 if left else 0.95, row), textcoords=ax.get_yaxis_transform(),
                    ha="left" if left else "right", va="center", fontsize=8,
                    color="firebrick", gid=f"outlier:{names[j]}",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                          "alpha": 0.85},
                    arrowprops={"arrowstyle": "->", "color": "firebrick", "lw": 1.2})


def plot_errors(names: Sequence[str], errors: np.ndarray, path: str, n: int, m: int,
                results: Sequence[Mapping[str, Any]] | None = None, alpha: float = 0.05):
    """Estimator errors, RMSE and interval coverage, one row per estimator (best RMSE on
    top).

    Args:
        names: the estimators, in the column order of ``errors``.
        errors: (m, k) estimate − true value on each dataset.
        path: the PNG to write. ``n``, ``m``: rows per dataset and datasets (titles).
        results: per-estimator summary rows (``estimator``, ``rmse``, ``rmse_se``,
            ``coverage``, ``coverage_se``; what ``estimators.study.summarise`` returns).
            Without them RMSE is computed from ``errors`` and the coverage panel is left
            out.
        alpha: the intervals' level is 1 − alpha (the nominal line of the coverage panel).

    The error panel's axis covers the central estimators (:func:`error_scale`); an
    estimator far off it is marked by an arrow with its median and range. Returns the
    figure.
    """
    plt = pyplot()
    errors = np.asarray(errors, np.float64)
    stats = _rmse_rows(names, errors, results)
    order = sorted(range(len(names)), key=lambda j: stats[j]["rmse"])
    with_cov = all("coverage" in s for s in stats)
    fig, axes = plt.subplots(1, 3 if with_cov else 2, sharey=True, layout="constrained",
                             figsize=(14 if with_cov else 10, 1.6 + 0.42 * len(names)),
                             gridspec_kw={"width_ratios": [2.2, 1, 1][:3 if with_cov else 2]})
    ax = axes[0]
    _boxplot(ax, [errors[:, j] for j in order])
    scale = error_scale(errors)
    ax.set_xlim(scale.lower, scale.upper)
    ax.axvline(0, color="k", lw=0.8)
    _mark_outliers(ax, errors, order, names, scale)
    ax.set_yticks(range(len(order)), [names[j] for j in order])
    ax.invert_yaxis()
    ax.set(xlabel="estimate − true value",
           title=f"error (box: quartiles, whiskers {WHISKERS[0]:g}–{WHISKERS[1]:g}%)")
    _rmse_panel(axes[1], [stats[j] for j in order])
    if with_cov:
        _coverage_panel(axes[2], [stats[j] for j in order], alpha)
    for a in axes:
        a.grid(alpha=0.3, axis="x", which="both")
    fig.suptitle(f"{len(names)} estimators on {m:,} datasets of {n:,} rows")
    save_figure(fig, path)
    return fig


def _plain_log_ticks(axis) -> None:
    """Ticks of a log axis at 1, 2 and 5 times powers of ten, written as plain numbers."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _rmse_panel(ax, stats: list[Mapping[str, float]]) -> None:
    """RMSE per row on a log axis, bars ±2 Monte Carlo standard errors."""
    y = np.arange(len(stats))
    rmse = np.array([s["rmse"] for s in stats])
    se = np.array([s["rmse_se"] for s in stats])
    ax.errorbar(rmse, y, xerr=2 * se, fmt="o", ms=4, color="C0", capsize=2)
    if (rmse > 0).all():
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
    ax.set(xlabel="RMSE (log)" if (rmse > 0).all() else "RMSE",
           title="RMSE (bars ±2 MC s.e.)")


def _coverage_panel(ax, stats: list[Mapping[str, float]], alpha: float) -> None:
    """Interval coverage per row, bars ±2 Monte Carlo standard errors, nominal 1 − α."""
    y = np.arange(len(stats))
    cov = np.array([s["coverage"] for s in stats])
    se = np.array([s.get("coverage_se", 0.0) for s in stats])
    ax.axvline(1 - alpha, color="k", lw=0.9, ls="--")
    ax.errorbar(cov, y, xerr=2 * se, fmt="o", ms=4, color="C2", capsize=2)
    ax.set_xlim(min(0.5, float(cov.min()) - 0.05), 1.02)
    ax.set(xlabel=f"coverage (dashed: nominal {1 - alpha:.0%})",
           title=f"{1 - alpha:.0%} interval coverage (±2 MC s.e.)")


def _legend_outside(fig, ax, title: str | None = None) -> None:
    """The legend of ``ax``'s lines, to the right of every axes of ``fig``."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title=title,
               title_fontsize=8, frameon=False)


def plot_sweep(names, path, points, out, n, m, alpha):
    """RMSE and interval coverage of each estimator against the swept value.

    Args:
        names: the estimators. ``path``: the swept key (axis label).
        points: one dict per swept value with ``sweep_value`` and ``results`` (rows with
            ``rmse``, ``rmse_se``, ``coverage``, ``coverage_se``, in ``names`` order).
        out: the PNG to write. ``n``, ``m``: rows per dataset and datasets; ``alpha``:
            the intervals' level is 1 − alpha.

    Returns the figure.
    """
    plt = pyplot()
    x = np.array([p["sweep_value"] for p in points], np.float64)
    finite = np.isfinite(x)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for j, (name, color) in enumerate(zip(names, colors(len(names)))):
        col = {k: np.array([p["results"][j][k] for p in points])[finite]
               for k in ("rmse", "rmse_se", "coverage", "coverage_se")}
        ax1.errorbar(x[finite], col["rmse"], yerr=2 * col["rmse_se"], marker="o", ms=3,
                     capsize=2, color=color, label=name)
        ax2.errorbar(x[finite], col["coverage"], yerr=2 * col["coverage_se"], marker="o",
                     ms=3, capsize=2, color=color)
    xf = x[finite]
    xscale = "log" if len(xf) and (xf > 0).all() and xf.max() > 10 * xf.min() else "linear"
    ax1.set(xscale=xscale, yscale="log", xlabel=path, ylabel="RMSE",
            title=f"RMSE over {m:,} datasets of {n:,} rows (bars ±2 MC s.e.)")
    ax2.axhline(1 - alpha, color="k", lw=0.8, ls="--")
    ax2.set(xscale=xscale, xlabel=path, ylabel=f"coverage (dashed: nominal {1 - alpha:.0%})",
            title=f"{1 - alpha:.0%} bootstrap interval coverage")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
    _legend_outside(fig, ax1, "estimator")
    _plain_log_ticks(ax1.yaxis)
    if not finite.all():
        fig.supxlabel("points at an infinite value are in summary.json only", fontsize=8)
    save_figure(fig, out)
    return fig


def plot_rmse_vs_n(rows, path):
    """RMSE of each estimator against the rows per dataset, log-log, bars ±2 Monte Carlo
    standard errors, with a 1/√n reference line.

    Args:
        rows: one dict per (job, estimator) with ``estimator``, ``n_rows``, ``rmse`` and
            ``rmse_se`` (the multirun's combined summary).
        path: the PNG to write.

    Returns the figure.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    names = list(dict.fromkeys(r["estimator"] for r in rows))
    for name, color in zip(names, colors(len(names))):
        pts = sorted((r["n_rows"], r["rmse"], r["rmse_se"]) for r in rows
                     if r["estimator"] == name)
        n, rmse, se = (np.array(v, np.float64) for v in zip(*pts))
        ax.errorbar(n, rmse, yerr=2 * se, marker="o", ms=3, capsize=2, color=color,
                    label=name)
    ns = np.array(sorted({r["n_rows"] for r in rows}), np.float64)
    top = max(r["rmse"] for r in rows if r["n_rows"] == ns[0])
    ax.plot(ns, 1.3 * top * np.sqrt(ns[0] / ns), color="0.4", ls=":", lw=0.9,
            label="∝ 1/√n")
    ax.set(xscale="log", yscale="log", xlabel="logged rows n", ylabel="RMSE",
           title="estimator RMSE against sample size (bars ±2 MC s.e.)")
    ax.grid(alpha=0.3, which="both")
    _plain_log_ticks(ax.yaxis)
    _legend_outside(fig, ax, "estimator")
    save_figure(fig, path)
    return fig
