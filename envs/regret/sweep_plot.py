"""Final regret against a swept hyperparameter, from a regret study's result rows.

* :func:`swept_names`: the grid names that take more than one value.
* :func:`plot_against_sweep`: final regret with its 95% interval against one swept name,
  one line per policy (and per combination of the other swept values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.figures import colors, pyplot, save_figure

LOG_SPAN = 20.0  # positive values spanning more than this factor get a log axis
MAX_TICKS = 10   # at most this many distinct values are named on the x axis


def swept_names(rollouts) -> list[str]:
    """Grid names with more than one distinct value in any rollout, in order of first
    appearance."""
    out: list[str] = []
    for r in rollouts:
        for k, v in r.grid.items():
            if k not in out and len(np.unique(np.asarray(v))) > 1:
                out.append(k)
    return out


def _others(rows: Sequence[Mapping[str, Any]], name: str) -> dict[str, list[str]]:
    """Per policy, its other parameters that take more than one value among its rows."""
    seen: dict[str, dict[str, set]] = {}
    for row in rows:
        for k, v in row["params"].items():
            if k != name:
                seen.setdefault(row["policy"], {}).setdefault(k, set()).add(v)
    return {p: sorted(k for k, vs in ks.items() if len(vs) > 1) for p, ks in seen.items()}


def sweep_lines(rows: Sequence[Mapping[str, Any]], name: str) -> dict[str, list[Mapping]]:
    """The lines of :func:`plot_against_sweep`: label -> its rows sorted by
    ``params[name]``. A label is the policy, with the values of its other swept
    parameters when they vary (``policy (k=v, ...)``); rows without ``name`` are left
    out."""
    rows = [r for r in rows if name in r["params"]]
    others = _others(rows, name)
    lines: dict[str, list[Mapping]] = {}
    for r in rows:
        keys = others.get(r["policy"], [])
        label = r["policy"] + (" (" + ", ".join(f"{k}={r['params'][k]:g}" for k in keys)
                               + ")" if keys else "")
        lines.setdefault(label, []).append(r)
    return {k: sorted(v, key=lambda r: r["params"][name]) for k, v in lines.items()}


def x_scale(values, log_x: bool | None = None) -> tuple[str, dict[str, float]]:
    """The x-axis scale and its options for the swept ``values``.

    Log when ``log_x`` is true, or, when it is ``None``, when no value is negative and
    the positive values span more than :data:`LOG_SPAN`. A log axis becomes ``symlog``
    when a value is 0 or below: linear within the smallest positive value of 0, so 0
    sits at the axis' start and the positive values keep their log spacing."""
    v = np.asarray(values, np.float64)
    pos = v[v > 0]
    if log_x is None:
        log_x = (v >= 0).all() and len(pos) > 1 and pos.max() / pos.min() > LOG_SPAN
    if not log_x:
        return "linear", {}
    if (v > 0).all():
        return "log", {}
    return "symlog", {"linthresh": float(pos.min()) if len(pos) else 1.0, "linscale": 0.5}


def plot_against_sweep(rows: Sequence[Mapping[str, Any]], name: str, path: str,
                       log_x: bool | None = None):
    """Final regret (mean with 95% interval error bars) against ``params[name]``, one
    line per policy, or per policy and combination of its other swept values
    (:func:`sweep_lines`). The x scale is :func:`x_scale`'s (log or, with a value of 0,
    symlog); with at most :data:`MAX_TICKS` distinct values, each is named on the axis.
    The legend sits outside the axes, on the right.

    Args:
        rows: the study's result rows (:func:`envs.regret.report.summarise`).
        name: the swept parameter on the x axis.
        path: where the PNG goes.
        log_x: force a log (``True``) or linear (``False``) x axis.

    Returns:
        The (closed) figure; each line's data line has the gid ``sweep:<label>``.
    """
    lines = sweep_lines(rows, name)
    if not lines:
        raise ValueError(f"no result row has the parameter {name!r}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    for (label, group), color in zip(lines.items(), colors(len(lines))):
        x = np.array([r["params"][name] for r in group], np.float64)
        y = np.array([r["final_regret_mean"] for r in group], np.float64)
        ci = np.array([r["final_regret_ci95"] for r in group], np.float64).reshape(-1, 2)
        err = np.abs(np.stack([y - ci[:, 0], ci[:, 1] - y]))
        bars = ax.errorbar(x, y, yerr=err, color=color, marker="o", ms=4, lw=1.5,
                           capsize=3, label=label)
        bars.lines[0].set_gid(f"sweep:{label}")
    values = sorted({float(r["params"][name]) for g in lines.values() for r in g})
    scale, options = x_scale(values, log_x)
    ax.set_xscale(scale, **options)
    if len(values) <= MAX_TICKS:
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
    ax.set(xlabel=name + ("" if scale == "linear" else f" ({scale} scale)"),
           ylabel="final cumulative regret")
    seeds = "/".join(map(str, sorted({r["n_seeds"] for r in rows if "n_seeds" in r})))
    T = "/".join(f"{t:,}" for t in sorted({r["n_rounds"] for r in rows if "n_rounds" in r}))
    size = f" ({seeds} seeds × {T} rounds)" if seeds and T else ""
    ax.set_title(f"Final regret against {name}{size}\nbars: 95% interval of the mean over "
                 "seeds", fontsize=11)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=9, frameon=False)
    save_figure(fig, path)
    return fig
