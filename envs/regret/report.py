"""What a regret study reports: one result row per algorithm and grid point, the text and
Markdown tables, the files of a run (``summary.json``, ``summary.md``, ``curves.csv``,
``regret.png``) and, after a Hydra multirun, one table of every job."""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

import numpy as np

from common.formatting import json_default, markdown_table, text_table
from common.sweeps import Callback, combine_job_summaries
from envs.engine.driver import Rollout

CURVE_QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)
CURVE_COLUMNS = ["algorithm", "round", "mean", "std", "q2.5", "q25", "median", "q75", "q97.5"]


def label(r: Rollout, g: int) -> str:
    """Grid point ``g``'s name: the policy, with its swept values when there is a grid."""
    swept = {k: v for k, v in r.grid.items() if len(np.unique(v)) > 1}
    if not swept:
        return r.policy
    return r.policy + "(" + ", ".join(f"{k}={float(v[g]):g}" for k, v in swept.items()) + ")"


def loglog_slope(r: Rollout, g: int, t_lo: int, t_hi: int) -> float:
    """Slope of log mean cumulative regret between rounds ``t_lo`` and ``t_hi``."""
    lo, hi = r.mean_regret[g, t_lo - 1], r.mean_regret[g, t_hi - 1]
    if lo <= 0 or hi <= 0:
        return float("nan")
    return float(np.log(hi / lo) / np.log(t_hi / t_lo))


def summarise(rollouts: list[Rollout]) -> list[dict[str, Any]]:
    """One row of final-regret statistics, throughput and size per grid point, in the
    order of ``rollouts`` and of their grid points."""
    rows = []
    for r in rollouts:
        T = len(r.rounds)
        for g in range(r.mean_regret.shape[0]):
            final = r.final_regret[g].astype(np.float64)  # (S,)
            n = len(final)
            se = final.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
            rows.append({
                "algorithm": label(r, g), "policy": r.policy,
                "params": {k: float(v[g]) for k, v in r.grid.items()},
                "final_regret_mean": float(final.mean()),
                "final_regret_ci95": [float(final.mean() - 1.96 * se),
                                      float(final.mean() + 1.96 * se)],
                "final_regret_std": float(final.std(ddof=1)) if n > 1 else 0.0,
                "final_regret_p2.5": float(np.quantile(final, 0.025)),
                "final_regret_p97.5": float(np.quantile(final, 0.975)),
                "mean_reward_per_round": float(r.total_reward[g].mean() / T),
                "loglog_slope_last_decade": loglog_slope(r, g, *slope_rounds(T))
                if T >= 10 else float("nan"),
                "runtime_s": r.run_s, "compile_s": r.compile_s,
                "agent_rounds_per_s": r.agent_rounds_per_s(),
                "n_seeds": r.n_seeds, "n_rounds": T,
            })
    return rows


def slope_rounds(n_rounds: int) -> tuple[int, int]:
    """The two rounds between which the ``slope`` column is measured: T/10 and T."""
    return max(1, n_rounds // 10), n_rounds


def slope_note(n_rounds: int) -> str:
    """What the ``slope`` column means, with its rounds."""
    if n_rounds < 10:
        return "slope: not measured (fewer than 10 rounds)"
    lo, hi = slope_rounds(n_rounds)
    return (f"slope: log-log slope of mean regret between rounds {lo:,} and {hi:,} "
            "(~1: regret grows linearly, ~0.5: like sqrt(T), ~0: it has stopped growing)")


def study_line(rows: list[dict[str, Any]], env: str | None) -> str:
    """``<env> world, S seeds × T rounds per algorithm``, from a study's result rows."""
    seeds = sorted({r["n_seeds"] for r in rows})
    rounds = sorted({r["n_rounds"] for r in rows})
    return (f"{env + ' world, ' if env else ''}{'/'.join(map(str, seeds))} seeds × "
            f"{'/'.join(f'{t:,}' for t in rounds)} rounds per algorithm")


def _best_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r["final_regret_mean"])


def _interval(lo: float, hi: float) -> str:
    return f"[{lo:.1f}, {hi:.1f}]"


TABLE_HEADER = [("algorithm", "<28"), ("regret mean", ">12"), ("95% CI", ">21"),
                ("p2.5–p97.5", ">21"), ("slope", ">6"), ("run s", ">7"),
                ("M rounds/s", ">10")]


def format_table(rows: list[dict[str, Any]], env: str | None = None) -> str:
    """The results as a text table, best first, with the study's size and what the
    columns mean."""
    n_rounds = max(r["n_rounds"] for r in rows)
    cells = [[r["algorithm"], f"{r['final_regret_mean']:.1f}",
              _interval(*r["final_regret_ci95"]),
              _interval(r["final_regret_p2.5"], r["final_regret_p97.5"]),
              f"{r['loglog_slope_last_decade']:.2f}", f"{r['runtime_s']:.2f}",
              f"{r['agent_rounds_per_s'] / 1e6:.2f}"] for r in _best_first(rows)]
    lines = [f"{study_line(rows, env)}: cumulative expected regret after round "
             f"{n_rounds:,}", "", *text_table(TABLE_HEADER, cells)]
    lines += ["", "95% CI: interval of the mean over seeds; p2.5–p97.5: where single seeds "
              "end", slope_note(n_rounds)]
    return "\n".join(lines)


def format_markdown(summary: dict[str, Any]) -> str:
    """``summary.md``: the study, its results table (best first) and the files beside it."""
    rows = summary["results"]
    n_rounds = summary["n_rounds"]
    m = summary.get("machine") or {}
    cells = [[r["algorithm"], f"{r['final_regret_mean']:.1f}",
              _interval(*r["final_regret_ci95"]),
              _interval(r["final_regret_p2.5"], r["final_regret_p97.5"]),
              f"{r['loglog_slope_last_decade']:.2f}", f"{r['mean_reward_per_round']:.4f}",
              f"{r['runtime_s']:.2f}"] for r in _best_first(rows)]
    header = ["algorithm", "mean regret", "95% CI of the mean", "seeds p2.5–p97.5", "slope",
              "reward / round", "run s"]
    md = [f"# Regret study: {summary['env']}", "",
          f"{study_line(rows, summary['env'])}; cumulative expected regret after round "
          f"{n_rounds:,} (best first).", "", *markdown_table(header, cells)]
    md += ["", slope_note(n_rounds) + ".", "",
           f"Machine: {m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs, "
           f"JAX {m.get('jax', '?')}.", "",
           "Files: `summary.json` (these results and the whole config), `curves.csv` (mean, "
           "std and quantiles of cumulative regret at log-spaced rounds), `regret.png`.", "",
           "![regret curves](regret.png)", ""]
    from envs.regret.views import views_markdown

    return "\n".join(md + views_markdown(summary))


def write_curves(path: str, rollouts: list[Rollout]) -> None:
    """``curves.csv``: per grid point and checkpoint round, the mean, std and quantiles
    over seeds of cumulative regret (6 significant digits)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CURVE_COLUMNS)
        for r in rollouts:
            q = r.quantiles(list(CURVE_QUANTILES))  # (5, G, C)
            for g in range(r.mean_regret.shape[0]):
                for c, t in enumerate(r.checkpoints):
                    w.writerow([label(r, g), int(t), f"{r.mean_regret[g, t - 1]:.6g}",
                                f"{r.std_regret[g, t - 1]:.6g}",
                                *(f"{q[i, g, c]:.6g}" for i in range(len(CURVE_QUANTILES)))])


def write_outputs(out_dir: str, summary: dict, rollouts: list[Rollout]) -> None:
    """Writes ``summary.json``, ``summary.md``, ``curves.csv`` and ``regret.png``."""
    from envs.regret.plots import plot_regret

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=json_default)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(format_markdown(summary))
    write_curves(os.path.join(out_dir, "curves.csv"), rollouts)
    plot_regret(rollouts, os.path.join(out_dir, "regret.png"), label)
    from envs.regret.views import write_views

    write_views(out_dir, summary, rollouts)


COMBINED_KEYS = ("algorithm", "final_regret_mean", "final_regret_std", "runtime_s", "n_seeds",
                 "n_rounds")


def _combined_row(job: str, summary: dict[str, Any], result: dict[str, Any]) -> dict:
    """A row of ``combined_summary.csv``: the job, its world and one result's columns."""
    return {"job": job, "env": summary.get("env"), **{k: result[k] for k in COMBINED_KEYS}}


class CombineSummaries(Callback):
    """Hydra callback: after ``-m``, one table of every job's results.

    Writes ``combined_summary.csv`` and ``combined_summary.md`` in the sweep directory;
    when the jobs are the shards of one study (``study.shard=i/N``), also that study's
    outputs in ``combined/`` (:func:`envs.regret.shards.combine_shards`).
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        rows = combine_job_summaries(sweep_dir, _combined_row)
        if not rows:
            return
        md = markdown_table(
            ["job", "overrides", "env", "algorithm", "final regret", "std", "run s"],
            [[r["job"], r["overrides"], str(r["env"]), r["algorithm"],
              f"{r['final_regret_mean']:.1f}", f"{r['final_regret_std']:.1f}",
              f"{r['runtime_s']:.2f}"] for r in rows],
            align="lllllll")
        with open(os.path.join(sweep_dir, "combined_summary.md"), "w") as f:
            f.write("\n".join(md) + "\n")
        print("\n".join(md))
        from envs.regret.shards import combine_shards

        combine_shards(sweep_dir)
