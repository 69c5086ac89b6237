"""Regret-curve studies: config in; ``summary.json``, ``summary.md``, ``curves.csv`` and
``regret.png`` out.

``run_study(cfg, out_dir)`` is what ``scripts/simulate.py`` calls with the composed Hydra
config (as a plain dict). Everything is validated before anything is compiled.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

import bandits
from common import tracking
from common.sweeps import Callback, combine_job_summaries
from common.validation import Range
from envs.engine.driver import Rollout, simulate
from envs.worlds import registry as env_registry

STUDY_KEYS = {
    "n_seeds": Range(1, 10_000_000, integer=True),
    "n_rounds": Range(1, 1_000_000_000, integer=True),
    "seed": Range(0, 2**31 - 1, integer=True),
    "n_checkpoints": Range(2, 10_000, integer=True),
}
STUDY_FLAGS = ("fixed_world", "record_trajectories", "progress", "compilation_cache")
LAYOUTS = ("lanes", "vmap")


# ------------------------------------------------------------------------ validation


def validate(cfg: Mapping[str, Any]) -> None:
    """Checks a composed study config; raises ``ValueError`` naming the key."""
    for key in ("env", "bandit", "study"):
        if not isinstance(cfg.get(key), Mapping):
            raise ValueError(f"config needs a mapping at {key!r}")
    env_cfg = dict(cfg["env"])
    name = env_cfg.pop("name", None)
    env = env_registry.make(name, **env_cfg)
    if not cfg["bandit"]:
        raise ValueError(f"bandit: choose at least one of {', '.join(bandits.names())}")
    for bname, hyper in cfg["bandit"].items():
        bandits.validate(bname, dict(hyper or {}))
        if bandits.spec(bname).binary_rewards and not env.binary_rewards:
            raise ValueError(f"bandit.{bname} needs 0/1 rewards but env {env.name!r} has "
                             f"real-valued rewards; use a binary world such as "
                             f"logistic-bernoulli")
    study = cfg["study"]
    for key, value in study.items():
        if key in STUDY_KEYS:
            STUDY_KEYS[key].check(f"study.{key}", value)
        elif key in STUDY_FLAGS:
            if not isinstance(value, bool):
                raise ValueError(f"study.{key} must be true or false, got {value!r}")
        elif key == "layout":
            if value not in LAYOUTS:
                raise ValueError(f"study.layout must be one of {LAYOUTS}, got {value!r}")
        else:
            raise ValueError(f"study has no key {key!r}; allowed: "
                             f"{', '.join([*STUDY_KEYS, *STUDY_FLAGS, 'layout'])}")
    for key in ("n_seeds", "n_rounds"):
        if key not in study:
            raise ValueError(f"study.{key} is required")
    sweep = {k: v for k, v in (cfg.get("sweep") or {}).items() if v is not None}
    for key, values in sweep.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"sweep.{key} must be a non-empty list, got {values!r}")
        owners = [b for b in cfg["bandit"] if key in bandits.spec(b).params]
        if not owners:
            raise ValueError(f"sweep.{key}: no selected bandit has a numeric "
                             f"hyperparameter {key!r} (selected: {', '.join(cfg['bandit'])})")
        for b in owners:
            for i, v in enumerate(values):
                bandits.spec(b).params[key].check(f"sweep.{key}[{i}] (for bandit.{b})", v)
    tracking.validate(cfg.get("logger"))


# ---------------------------------------------------------------------------- run


def _grid_params(policy, sweep: Mapping[str, list]):
    """Cartesian product of the swept values this policy has, as a params grid."""
    own = {k: v for k, v in sweep.items() if k in policy.default_params._fields}
    if not own:
        return policy.default_params
    combos = list(itertools.product(*own.values()))
    cols = {k: np.array([c[i] for c in combos], np.float32) for i, k in enumerate(own)}
    return policy.default_params._replace(**cols)


def run_study(cfg: Mapping[str, Any], out_dir: str | None = None,
              echo: bool = True) -> dict[str, Any]:
    """Runs every selected bandit on the configured world and writes the outputs."""
    validate(cfg)
    study = cfg["study"]
    if study.get("compilation_cache", True):
        from envs.engine.runtime import enable_compilation_cache

        enable_compilation_cache()
    env_cfg = dict(cfg["env"])
    env = env_registry.make(env_cfg.pop("name"), **env_cfg)
    sweep = {k: v for k, v in (cfg.get("sweep") or {}).items() if v is not None}
    rollouts: list[Rollout] = []
    for bname, hyper in cfg["bandit"].items():
        policy = bandits.make(bname, env.n_arms, env.dim, **dict(hyper or {}))
        rollouts.append(simulate(
            policy, env, n_rounds=study["n_rounds"], n_seeds=study["n_seeds"],
            seed=study.get("seed", 0), policy_params=_grid_params(policy, sweep),
            fixed_world=study.get("fixed_world", False),
            n_checkpoints=study.get("n_checkpoints", 60),
            record="trajectories" if study.get("record_trajectories") else "curves",
            layout=study.get("layout", "lanes"), progress=study.get("progress", False)))
    rows = summarise(rollouts)
    summary = {"env": env.name, "n_seeds": study["n_seeds"], "n_rounds": study["n_rounds"],
               "machine": machine(), "config": cfg, "results": rows}
    if out_dir:
        write_outputs(out_dir, summary, rollouts)
    if echo:
        print(format_table(rows, env.name))
    return {"summary": summary, "rollouts": rollouts}


def machine() -> dict[str, Any]:
    """Platform, CPU count, JAX version and devices of this process (for summary.json)."""
    import jax

    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "devices": [str(d) for d in jax.devices()]}


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
    """One row of final-regret statistics, throughput and size per grid point."""
    rows = []
    for r in rollouts:
        T = len(r.rounds)
        for g in range(r.mean_regret.shape[0]):
            final = r.final_regret[g].astype(np.float64)
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


def format_table(rows: list[dict[str, Any]], env: str | None = None) -> str:
    """The results as a text table, best first, with the study's size and what the
    columns mean."""
    n_rounds = max(r["n_rounds"] for r in rows)
    head = (f"{'algorithm':<28} {'regret mean':>12} {'95% CI':>21} {'p2.5–p97.5':>21} "
            f"{'slope':>6} {'run s':>7} {'M rounds/s':>10}")
    lines = [f"{study_line(rows, env)}: cumulative expected regret after round "
             f"{n_rounds:,}", "", head, "-" * len(head)]
    for r in sorted(rows, key=lambda r: r["final_regret_mean"]):
        lo, hi = r["final_regret_ci95"]
        q_lo, q_hi = r["final_regret_p2.5"], r["final_regret_p97.5"]
        lines.append(
            f"{r['algorithm']:<28} {r['final_regret_mean']:>12.1f} "
            f"{f'[{lo:.1f}, {hi:.1f}]':>21} "
            f"{f'[{q_lo:.1f}, {q_hi:.1f}]':>21} "
            f"{r['loglog_slope_last_decade']:>6.2f} {r['runtime_s']:>7.2f} "
            f"{r['agent_rounds_per_s'] / 1e6:>10.2f}")
    lines += ["", "95% CI: interval of the mean over seeds; p2.5–p97.5: where single seeds "
              "end", slope_note(n_rounds)]
    return "\n".join(lines)


def format_markdown(summary: dict[str, Any]) -> str:
    """``summary.md``: the study, its results table (best first) and the files beside it."""
    rows = summary["results"]
    n_rounds = summary["n_rounds"]
    m = summary.get("machine") or {}
    md = [f"# Regret study: {summary['env']}", "",
          f"{study_line(rows, summary['env'])}; cumulative expected regret after round "
          f"{n_rounds:,} (best first).", "",
          "| algorithm | mean regret | 95% CI of the mean | seeds p2.5–p97.5 | slope | "
          "reward / round | run s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: r["final_regret_mean"]):
        lo, hi = r["final_regret_ci95"]
        md.append(f"| {r['algorithm']} | {r['final_regret_mean']:.1f} | [{lo:.1f}, {hi:.1f}]"
                  f" | [{r['final_regret_p2.5']:.1f}, {r['final_regret_p97.5']:.1f}] | "
                  f"{r['loglog_slope_last_decade']:.2f} | {r['mean_reward_per_round']:.4f} | "
                  f"{r['runtime_s']:.2f} |")
    md += ["", slope_note(n_rounds) + ".", "",
           f"Machine: {m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs, "
           f"JAX {m.get('jax', '?')}.", "",
           "Files: `summary.json` (these results and the whole config), `curves.csv` (mean, "
           "std and quantiles of cumulative regret at log-spaced rounds), `regret.png`.", "",
           "![regret curves](regret.png)", ""]
    return "\n".join(md)


def write_outputs(out_dir: str, summary: dict, rollouts: list[Rollout]) -> None:
    """Writes ``summary.json``, ``summary.md``, ``curves.csv`` and ``regret.png``."""
    from envs.regret.plots import plot_regret

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=_json_default)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(format_markdown(summary))
    with open(os.path.join(out_dir, "curves.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["algorithm", "round", "mean", "std", "q2.5", "q25", "median", "q75",
                    "q97.5"])
        for r in rollouts:
            q = r.quantiles([0.025, 0.25, 0.5, 0.75, 0.975])
            for g in range(r.mean_regret.shape[0]):
                for c, t in enumerate(r.checkpoints):
                    w.writerow([label(r, g), int(t), f"{r.mean_regret[g, t - 1]:.6g}",
                                f"{r.std_regret[g, t - 1]:.6g}",
                                *(f"{q[i, g, c]:.6g}" for i in range(5))])
    plot_regret(rollouts, os.path.join(out_dir, "regret.png"), label)


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


class CombineSummaries(Callback):
    """Hydra callback: after ``-m``, one table of every job's results.

    Writes ``combined_summary.csv`` and ``combined_summary.md`` in the sweep directory.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        keys = ("algorithm", "final_regret_mean", "final_regret_std", "runtime_s", "n_seeds",
                "n_rounds")
        rows = combine_job_summaries(sweep_dir, lambda job, s, r: {
            "job": job, "env": s.get("env"), **{k: r[k] for k in keys}})
        if not rows:
            return
        md = ["| job | env | algorithm | final regret | std | run s |", "|---|---|---|---|---|---|"]
        md += [f"| {r['job']} | {r['env']} | {r['algorithm']} | {r['final_regret_mean']:.1f}"
               f" | {r['final_regret_std']:.1f} | {r['runtime_s']:.2f} |" for r in rows]
        with open(os.path.join(sweep_dir, "combined_summary.md"), "w") as f:
            f.write("\n".join(md) + "\n")
        print("\n".join(md))
