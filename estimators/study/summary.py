"""An estimator study's summary: errors against the truth with their Monte Carlo errors,
the terminal report, ``summary.md``, ``summary.json`` and the figure."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from common.formatting import markdown_table, text_table
from estimators import registry as est_registry
from estimators import reward_models
from estimators.plots import plot_errors, plot_sweep
from estimators.study.config import study_settings

if TYPE_CHECKING:
    from estimators.study.plan import Plan
    from estimators.study.run import Results

TABLE_COLUMNS = (("estimator", "<11"), ("bias", ">18"), ("std", ">8"), ("RMSE", ">18"),
                 ("coverage", ">15"), ("CI width", ">9"))
MARKDOWN_COLUMNS = ("estimator", "bias", "std", "RMSE", "coverage", "CI width")


def summarise(names, est, lo, hi, truth, truth_se: float = 0.0) -> list[dict[str, Any]]:
    """Per estimator: bias, std, RMSE, relative error, coverage and CI width, each with
    its Monte Carlo error over the M datasets.

    ``bias_se`` also carries the truth's own Monte Carlo error ``truth_se`` (the truth is
    estimated once and shared by every dataset, so its error shifts every bias alike).

    Args:
        names: the E estimators; est, lo, hi: (M, E) estimates and interval bounds;
        truth: the target policy's value.
    """
    out = []
    m = est.shape[0]
    for j, name in enumerate(names):
        err = est[:, j] - truth
        cover = (lo[:, j] <= truth) & (truth <= hi[:, j])
        mse = np.mean(err**2)
        rmse = math.sqrt(mse)
        out.append({
            "estimator": name,
            "bias": float(err.mean()),
            "bias_se": float(math.sqrt(err.var(ddof=1) / m + truth_se**2)),
            "std": float(err.std(ddof=1)),
            "std_se": float(err.std(ddof=1) / math.sqrt(2 * (m - 1))),
            "rmse": rmse, "rmse_se": float(np.std(err**2, ddof=1) / math.sqrt(m) / (2 * rmse))
            if rmse > 0 else 0.0,
            "relative_error": float(np.mean(np.abs(err)) / abs(truth)) if truth else math.nan,
            "coverage": float(cover.mean()),
            "coverage_se": float(math.sqrt(cover.mean() * (1 - cover.mean()) / m)),
            "ci_width": float(np.mean(hi[:, j] - lo[:, j])),
            "ci_width_se": float(np.std(hi[:, j] - lo[:, j], ddof=1) / math.sqrt(m)),
        })
    return out


def _grid_point(plan: Plan, g: int, truth, results: Results) -> dict[str, Any]:
    """Grid point ``g``'s truth, per-estimator results and mean weight diagnostics."""
    v, v_se = float(truth.value), float(truth.std_error)
    res = summarise(plan.names, results.estimates[:, g], results.lower[:, g],
                    results.upper[:, g], v, v_se)
    if plan.path:
        for r in res:
            r.update(sweep_value=plan.values[g], truth=v)
    return {"truth": v, "truth_std_error": v_se, "results": res,
            "ess_fraction": float(results.diagnostics[:, g, 0].mean()),
            "max_weight": float(results.diagnostics[:, g, 1].mean()),
            **({"sweep_value": plan.values[g]} if plan.path else {})}


def make_summary(plan: Plan, truths: list, results: Results, wall: float) -> dict[str, Any]:
    """``summary.json``: the first point's truth and diagnostics, the study's sizes and
    config, every grid point, and every result in one flat list.

    Args:
        truths: the target policy's value per grid point (``.value``, ``.std_error``).
        results: (M, G, ·) float64 estimates, bounds and diagnostics.
        wall: seconds the estimation took.
    """
    study = plan.cfg["study"]
    points = [_grid_point(plan, g, truths[g], results) for g in range(len(plan.grid))]
    summary = {"truth": points[0]["truth"], "truth_std_error": points[0]["truth_std_error"],
               "ess_fraction": points[0]["ess_fraction"],
               "max_weight": points[0]["max_weight"],
               "n_datasets": int(results.estimates.shape[0]), "n_rows": study["n_rows"],
               "alpha": plan.settings["alpha"], "wall_s": wall,
               "estimators": plan.hypers, "config": plan.cfg, "points": points,
               "results": [r for p in points for r in p["results"]]}
    if plan.path:
        summary["sweep"] = {"path": plan.path, "values": plan.values}
    return summary


def write_outputs(plan: Plan, summary: dict, estimates: np.ndarray, out_dir: str) -> None:
    """``summary.json``, ``summary.md`` and the figure (``sweep.png`` with a sweep, else
    ``estimators.png`` from the (M, G, E) ``estimates``) in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(format_markdown(summary) + "\n")
    n, m, alpha = summary["n_rows"], summary["n_datasets"], summary["alpha"]
    if plan.path:
        plot_sweep(plan.names, plan.path, summary["points"],
                   os.path.join(out_dir, "sweep.png"), n, m, alpha)
    else:
        plot_errors(plan.names, estimates[:, 0] - summary["truth"],
                    os.path.join(out_dir, "estimators.png"), n, m,
                    results=summary["points"][0]["results"], alpha=alpha)


def format_table(rows) -> str:
    """The terminal table of one grid point's results, best RMSE first."""
    return "\n".join(text_table(TABLE_COLUMNS, [
        [r["estimator"], f"{r['bias']:>+9.5f} ± {r['bias_se']:.5f}", f"{r['std']:.5f}",
         f"{r['rmse']:>9.5f} ± {r['rmse_se']:.5f}",
         f"{r['coverage']:>7.3f} ± {r['coverage_se']:.3f}", f"{r['ci_width']:.5f}"]
        for r in sorted(rows, key=lambda r: r["rmse"])]))


def _setting(summary: Mapping[str, Any]) -> list[str]:
    """The study's set-up in words: world, policies, reward model, sizes, estimators."""
    cfg = summary["config"]
    env = dict(cfg["env"])
    world = env.pop("name")
    world += f" ({', '.join(f'{k}={v}' for k, v in env.items())})" if env else ""
    ests = "; ".join(est_registry.describe(n, h) for n, h in summary["estimators"].items())
    st = study_settings(cfg)
    return [f"- world: {world}",
            f"- logging policy: {_policy_words(cfg['logging_policy'])}",
            f"- target policy: {_policy_words(cfg['target_policy'])}",
            f"- reward model: {reward_models.describe(cfg['reward_model'])}",
            f"- {summary['n_datasets']:,} datasets × {summary['n_rows']:,} rows; "
            f"{st['n_boot']} {st['bootstrap']} bootstrap resamples, "
            f"{1 - summary['alpha']:.0%} percentile intervals; seed {st['seed']}; "
            f"{summary['wall_s']:.1f} s",
            f"- estimators: {ests}"]


def _policy_words(cfg: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in cfg.items() if v is not None)


def _point_line(p: Mapping[str, Any], path: str | None) -> str:
    head = f"{path} = {p['sweep_value']:g}: " if path else ""
    return (f"{head}truth V(π) = {p['truth']:.5f} ± {p['truth_std_error']:.5f}; mean "
            f"effective sample size {p['ess_fraction']:.1%} of n, mean max weight "
            f"{p['max_weight']:.1f}")


def format_report(summary: Mapping[str, Any]) -> str:
    """What the terminal shows: the set-up, then each grid point's truth and table."""
    path = (summary.get("sweep") or {}).get("path")
    out = ["estimator study", *_setting(summary),
           "± is one Monte Carlo standard error (bias: over datasets and of the truth)"]
    for p in summary["points"]:
        out += ["", _point_line(p, path), format_table(p["results"])]
    return "\n".join(out)


def format_markdown(summary: Mapping[str, Any]) -> str:
    """``summary.md``: the set-up and one Markdown table per grid point."""
    path = (summary.get("sweep") or {}).get("path")
    md = ["# Estimator study", "", *_setting(summary), "",
          "± is one Monte Carlo standard error over the datasets; the bias's also includes "
          "the truth's own Monte Carlo error.", ""]
    for p in summary["points"]:
        md += [f"## {_point_line(p, path)}", "", *markdown_table(MARKDOWN_COLUMNS, [
            [r["estimator"], f"{r['bias']:+.5f} ± {r['bias_se']:.5f}", f"{r['std']:.5f}",
             f"{r['rmse']:.5f} ± {r['rmse_se']:.5f}",
             f"{r['coverage']:.3f} ± {r['coverage_se']:.3f}", f"{r['ci_width']:.4f}"]
            for r in sorted(p["results"], key=lambda r: r["rmse"])]), ""]
    return "\n".join(md)
