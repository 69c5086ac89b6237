"""One regret study over several worlds, side by side: ``study.kind: panels``
(``python scripts/simulate.py experiment=simulate/neural``, ``experiment=simulate/wheel``).

``panels`` maps a panel's name to its world's config (as ``env``: ``name`` and options),
or to ``{env: ..., bandit: {<bandit>: {<hyperparameter>: value}}}`` to set some selected
bandits' hyperparameters on that world only (a reward scale of 50 wants a wider
confidence bonus than one of 1); ``panels_bandit`` sets them on every panel. Overrides
of bandits that are not selected do not apply. Every selected bandit runs on every panel's world
with the study's seeds and rounds, one regret study per panel
(:func:`envs.regret.study.run_study`). Every panel's world and every bandit's
hyperparameters for it are checked before anything runs. With
``panels_normalise_by: <bandit>`` the table also gives each bandit's final regret over
that bandit's on the same panel (the wheel paper's table: cumulative regret over the
uniform policy's).

Writes ``panels.png`` (one panel of regret curves per world, 95% bands of the mean),
``summary.md`` and ``summary.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import bandits
from common.figures import colors, pyplot, save_figure
from common.formatting import json_default, markdown_table
from envs.regret.plots import draw_curve, regret_curves, thin
from envs.regret.report import label
from envs.regret.study import run_study, validate

KEYS = ("panels", "panels_normalise_by", "panels_bandit")


def panel_configs(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each panel's regret-study config, checked (worlds, bandits, sweep) before any run."""
    panels = cfg.get("panels")
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError(f"panels must map a panel's name to its world's config (name and "
                         f"options), got {panels!r}")
    base = {k: v for k, v in cfg.items() if k not in KEYS}
    study = {k: v for k, v in cfg["study"].items() if k != "kind"}
    out = {}
    for name, panel in panels.items():
        one = {**base, "env": _panel_env(name, panel), "study": study,
               "bandit": _panel_bandits(name, panel, cfg)}
        try:
            validate(one)
        except ValueError as err:
            raise type(err)(f"panels.{name}: {err}") from None
        out[str(name)] = one
    norm = cfg.get("panels_normalise_by")
    if norm is not None and norm not in cfg["bandit"]:
        raise ValueError(f"panels_normalise_by must be one of the selected bandits "
                         f"{', '.join(cfg['bandit'])}, got {norm!r}")
    return out


def _panel_env(name: str, panel: Any) -> dict[str, Any]:
    """A panel's world config: the panel itself (``name`` and options), or its ``env``."""
    env = panel.get("env", panel) if isinstance(panel, Mapping) else None
    if not isinstance(env, Mapping) or "name" not in env:
        raise ValueError(f"panels.{name} must be a world's config with a name (or "
                         f"{{env: ..., bandit: ...}}), got {panel!r}")
    return dict(env)


def _overrides(where: str, overrides: Any, selected: Mapping[str, Any]
               ) -> dict[str, dict[str, Any]]:
    """Hyperparameter overrides of the selected bandits (those of other registered
    bandits do not apply: they do not run); an unknown bandit's name is an error."""
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{where} must map a bandit's name to its hyperparameters, got "
                         f"{overrides!r}")
    unknown = sorted(set(overrides) - set(bandits.names()))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]} is not a bandit; known: "
                         f"{', '.join(bandits.names())}")
    return {b: dict(v or {}) for b, v in overrides.items() if b in selected}


def _panel_bandits(name: str, panel: Mapping[str, Any], cfg: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The selected bandits with the study's ``panels_bandit`` overrides, then the
    panel's own (``panels.<name>.bandit``)."""
    selected = cfg["bandit"]
    shared = _overrides("panels_bandit", cfg.get("panels_bandit") or {}, selected)
    own = _overrides(f"panels.{name}.bandit",
                     (panel.get("bandit") or {}) if "env" in panel else {}, selected)
    return {b: {**dict(hyper or {}), **shared.get(b, {}), **own.get(b, {})}
            for b, hyper in selected.items()}


def run(cfg: Mapping[str, Any], out_dir: str | None = None, echo: bool = True
        ) -> dict[str, Any]:
    """Runs every panel; writes the files to ``out_dir`` when given. Returns
    ``{"summary", "rollouts": {panel: [Rollout]}}``."""
    configs = panel_configs(cfg)
    results = {}
    for i, (name, one) in enumerate(configs.items()):
        print(f"[{i + 1}/{len(configs)}] {name}: {', '.join(one['bandit'])}", flush=True)
        results[name] = run_study(one, None, echo=False)
    summary = _summary(cfg, results)
    if out_dir:
        write(out_dir, summary, {k: v["rollouts"] for k, v in results.items()})
    if echo:
        print(markdown(summary))
    return {"summary": summary, "rollouts": {k: v["rollouts"] for k, v in results.items()}}


def _summary(cfg: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    norm = cfg.get("panels_normalise_by")
    panels = {}
    for name, result in results.items():
        rows = result["summary"]["results"]
        base = {r["policy"]: r["final_regret_mean"] for r in rows}.get(norm)
        for r in rows:
            r["normalised"] = None if not base else r["final_regret_mean"] / base
        panels[name] = {"env": result["summary"]["config"]["env"], "results": rows}
    study = cfg["study"]
    return {"n_seeds": study["n_seeds"], "n_rounds": study["n_rounds"],
            "normalised_by": norm, "panels": panels, "config": cfg}


def markdown(summary: dict[str, Any]) -> str:
    """Final regret per bandit (rows) and panel (columns): mean [95% interval], and over
    the normalising bandit's when one is set."""
    names = list(summary["panels"])
    algorithms = [r["algorithm"] for r in summary["panels"][names[0]]["results"]]
    rows = []
    for algo in algorithms:
        cells = []
        for name in names:
            r = next(x for x in summary["panels"][name]["results"] if x["algorithm"] == algo)
            lo, hi = r["final_regret_ci95"]
            text = f"{r['final_regret_mean']:,.1f} [{lo:,.1f}, {hi:,.1f}]"
            if r["normalised"] is not None:
                text = f"{r['normalised']:.3f} ({text})"
            cells.append(text)
        rows.append([algo, *cells])
    norm = summary["normalised_by"]
    what = (f"final cumulative regret over {norm}'s (mean [95% interval] in brackets)"
            if norm else "final cumulative regret, mean [95% interval of the mean]")
    return "\n".join([f"# Regret over {len(names)} worlds: {summary['n_seeds']} seeds × "
                      f"{summary['n_rounds']:,} rounds", "", f"Cells: {what}.", "",
                      *markdown_table(["bandit", *names], rows)]) + "\n"


def plot(rollouts: Mapping[str, list], path: str) -> None:
    """One panel of mean cumulative regret curves (95% bands) per world, one legend."""
    plt = pyplot()
    n = len(rollouts)
    cols = min(3, n)
    n_rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(5.2 * cols, 4 * n_rows),
                             layout="constrained", squeeze=False)
    handles = {}
    for ax, (name, rs) in zip(axes.flat, rollouts.items()):
        curves = regret_curves(rs, label)
        for c, color in zip(curves, colors(len(curves))):
            handles[c.name] = draw_curve(ax, c, thin(c.rounds, int(c.rounds[0]), 400,
                                                       False), color)
        ax.set(title=name, xlabel="round", ylabel="cumulative regret")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.legend(list(handles.values()), list(handles), loc="outside right upper",
               fontsize=9, frameon=False)
    fig.suptitle("Mean cumulative regret per world (bands: 95% interval of the mean)")
    save_figure(fig, path)


def write(out_dir: str, summary: dict[str, Any], rollouts: Mapping[str, list]) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=json_default)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown(summary))
    plot(rollouts, os.path.join(out_dir, "panels.png"))
