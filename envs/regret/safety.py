"""The safety study: one policy under each fault of :func:`bandits.faulty`, served bare
and behind the safety layer (:func:`bandits.circuit_breaker` with a fallback), with the
default monitor watching every run.

``python scripts/simulate.py experiment=simulate/safety`` (``study.kind: safety``;
:func:`envs.regret.study.run_study` dispatches here). Per fault and mode it reports:

* the final cumulative regret, mean over seeds with its 95% interval, and for the guarded
  run the paired difference guarded − bare (a seed's two runs share its world, contexts,
  reward noise and policy noise, so they differ only where the guard served otherwise);
* **incidents**: served decisions that the safety layer's validation rejects
  (:func:`bandits.safety.failure_reasons` with the breaker's timeout), per 10,000
  rounds, by reason. The engine plays them as they are: an outage's action −1 plays no
  arm, its reward drawn from a mean of 0 and its regret the best arm's mean; a NaN
  decision plays its action, learns from it, and logs a NaN propensity, a row no
  off-policy estimate can use; a slow decision is played as if on time (the engine has
  no clock), so it costs no regret bare and counts only as an incident;
* the share of rounds the fallback served and the breaker's openings (guarded runs);
* which rules of the monitor fired: share of seeds and the median first round.

The counts are exact, kept in each lane's state by :func:`envs.regret.safety_audit.audited`,
which changes nothing the policy decides or learns. Outputs: ``summary.json``, ``summary.md`` and
``safety.png``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from bandits.safety import FAILURE_REASONS
from common.formatting import json_default, markdown_table
from envs.engine.driver import EngineOptions, Rollout, simulate
from envs.regret.safety_config import MODES, SafetyPlan, check_config, onset
from envs.regret.safety_plots import plot

PER = 10_000  # incidents are reported per this many rounds


def mean_ci(x: np.ndarray) -> tuple[float, list[float]]:
    """Mean of ``x`` (seeds) and its 95% normal interval (NaNs for one seed)."""
    x = np.asarray(x, np.float64)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return float(x.mean()), [float(x.mean() - half), float(x.mean() + half)]


def _alerts(rollout: Rollout, plan: SafetyPlan) -> dict[str, dict[str, Any]] | None:
    """Per rule (and threshold, when a rule has several): the share of seeds in which it
    fired and the median and earliest first-firing round among them; ``None`` without a
    monitor."""
    if plan.monitor is None:
        return None
    out = {}
    for rule in plan.monitor.rules:
        first = rollout.alerts[rule.name]["first"][0]  # (S, Th)
        for j, threshold in enumerate(rule.thresholds):
            key = rule.name if len(rule.thresholds) == 1 else f"{rule.name}[{threshold:g}]"
            fired = first[:, j][first[:, j] >= 0]
            out[key] = {"share_fired": float(len(fired) / first.shape[0]),
                        "first_round_median": float(np.median(fired)) if len(fired) else None,
                        "first_round_min": int(fired.min()) if len(fired) else None}
    return out


def summarise(rollout: Rollout, plan: SafetyPlan, fault: str, mode: str,
              bare: Rollout | None = None) -> dict[str, Any]:
    """One row of the summary: a fault served bare or guarded (see the module
    docstring); ``bare`` gives the guarded row its paired difference."""
    counts = rollout.final_state.counts
    n_rounds = int(rollout.rounds[-1])
    regret = rollout.final_regret[0].astype(np.float64)
    incidents = counts.invalid[0] * (PER / n_rounds)
    by_reason = counts.reasons[0].mean(0) * (PER / n_rounds)
    row = {"fault": fault, "mode": mode, "options": plan.faults[fault],
           "onset": onset(plan.faults[fault])}
    row["final_regret_mean"], row["final_regret_ci95"] = mean_ci(regret)
    if bare is not None:
        diff = regret - bare.final_regret[0].astype(np.float64)
        row["regret_vs_bare_mean"], row["regret_vs_bare_ci95"] = mean_ci(diff)
    row["incidents_per_10k"], row["incidents_per_10k_ci95"] = mean_ci(incidents)
    row["incidents_by_reason_per_10k"] = {r: float(v) for r, v in
                                          zip(FAILURE_REASONS, by_reason) if v > 0}
    row["fallback_share"] = float(counts.fallback[0].mean() / n_rounds)
    row["breaker_openings_mean"] = (float(counts.openings[0].mean()) if mode == "guarded"
                                    else None)
    row["alerts"] = _alerts(rollout, plan)
    return row


def _simulate(policy, plan: SafetyPlan, study: Mapping[str, Any]) -> Rollout:
    return simulate(policy, plan.env, n_rounds=study["n_rounds"], n_seeds=study["n_seeds"],
                    seed=study.get("seed", 0), fixed_world=study.get("fixed_world", False),
                    n_checkpoints=study.get("n_checkpoints", 60),
                    record=study.get("record", "curves"),
                    options=EngineOptions(layout=study.get("layout", "lanes")),
                    monitor=plan.monitor, progress=study.get("progress", False))


def _plain_breaker(breaker: Mapping[str, Any]) -> dict[str, Any]:
    """The breaker's settings for JSON: an infinite timeout as ``None``."""
    timeout = breaker["timeout"]
    return {**breaker, "timeout": None if math.isinf(timeout) else timeout}


def run(cfg: Mapping[str, Any], out_dir: str | None = None, echo: bool = True
        ) -> dict[str, Any]:
    """Runs the study of a composed config (:mod:`envs.regret.safety_config` says what it
    holds); checks everything before compiling anything. Writes ``summary.json``,
    ``summary.md`` and ``safety.png`` to ``out_dir`` when given.

    Returns:
        ``{"summary": ..., "runs": {(fault, mode): Rollout}}``; the summary's ``rows``
        hold one row per fault and mode (:func:`summarise`).
    """
    plan = check_config(cfg)
    study = cfg["study"]
    if study.get("compilation_cache", True):
        from envs.engine.runtime import enable_compilation_cache

        enable_compilation_cache()
    runs: dict[tuple[str, str], Rollout] = {}
    rows = []
    for fault in plan.faults:
        for mode in MODES:
            runs[fault, mode] = _simulate(plan.served(fault, mode), plan, study)
            rows.append(summarise(runs[fault, mode], plan, fault, mode,
                                  runs[fault, "bare"] if mode == "guarded" else None))
    summary = {"env": plan.env.name, "policy": plan.policy.name,
               "fallback": plan.fallback.name, "n_seeds": study["n_seeds"],
               "n_rounds": study["n_rounds"], "breaker": _plain_breaker(plan.breaker),
               "monitor_rules": ({r.name: r.when for r in plan.monitor.rules}
                                 if plan.monitor is not None else None),
               "config": cfg, "rows": rows}
    if out_dir:
        paths = write(out_dir, summary)
        if echo:
            print("\n".join(f"wrote {p}" for p in paths))
    if echo:
        print(markdown(summary))
    return {"summary": summary, "runs": runs}


# ------------------------------------------------------------------------ outputs


def _ci(value: float, ci: list[float], fmt: str) -> str:
    return f"{value:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _alert_cell(alerts: Mapping[str, Any] | None) -> str:
    if alerts is None:
        return "not monitored"
    fired = [(k, a) for k, a in alerts.items() if a["share_fired"] > 0]
    return "; ".join(f"{k} {a['share_fired']:.0%} @{a['first_round_median']:.0f}"
                     for k, a in fired) or "none"


def _row_cells(r: Mapping[str, Any]) -> list[str]:
    diff = ("" if "regret_vs_bare_mean" not in r
            else _ci(r["regret_vs_bare_mean"], r["regret_vs_bare_ci95"], "+.0f"))
    reasons = ", ".join(f"{k} {v:.0f}" for k, v in r["incidents_by_reason_per_10k"].items())
    openings = "" if r["breaker_openings_mean"] is None else f"{r['breaker_openings_mean']:.2f}"
    return [r["fault"], r["mode"], _ci(r["final_regret_mean"], r["final_regret_ci95"], ".0f"),
            diff, f"{r['incidents_per_10k']:.1f}" + (f" ({reasons})" if reasons else ""),
            f"{r['fallback_share']:.1%}", openings, _alert_cell(r["alerts"])]


def _notes(summary: Mapping[str, Any]) -> str:
    """What an incident is, each fault's options and the monitor's rules."""
    faults = "; ".join(f"{r['fault']} {json.dumps(r['options'])}" for r in summary["rows"]
                       if r["mode"] == "bare")
    rules = summary["monitor_rules"]
    rules = "; ".join(f"{k}: {w}" for k, w in rules.items()) if rules else "none"
    return ("Incidents: served decisions that fail validation "
            "(bandits.safety.failure_reasons with the timeout). An outage's action −1 plays "
            "no arm (reward from a mean of 0); a NaN decision plays its arm but logs a NaN "
            "propensity; a slow one is served late (played on time by the engine, so it costs "
            "no regret bare). The bare and guarded runs "
            f"of a seed share their random numbers. Faults: {faults}. Monitor rules: "
            f"{rules}.\n")


def markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown: what was run, the table, what the columns mean."""
    b = summary["breaker"]
    timeout = "none" if b["timeout"] is None else f"{b['timeout']:g} ms"
    head = ["fault", "mode", "final regret (95% CI)", "guarded − bare (95% CI)",
            "incidents / 10k rounds (by reason)", "fallback share", "breaker openings",
            "alerts fired (share of seeds @ median first round)"]
    title = (f"# Faults and the safety layer: {summary['policy']} on {summary['env']}, "
             f"{summary['n_seeds']} seeds × {summary['n_rounds']} rounds\n\n"
             f"Guarded: circuit breaker (failures {b['failures']} in {b['window']} rounds, "
             f"cooldown {b['cooldown']}, timeout {timeout}) with fallback "
             f"{summary['fallback']}. Bare: the faulty policy served as it is.\n\n")
    table = markdown_table(head, [_row_cells(r) for r in summary["rows"]], align="llrrrrrl")
    return title + "\n".join(table) + "\n\n" + _notes(summary)


def write(out_dir: str, summary: Mapping[str, Any]) -> list[str]:
    """``summary.json``, ``summary.md`` and ``safety.png`` in ``out_dir``; their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, n) for n in ("summary.json", "summary.md", "safety.png")]
    with open(paths[0], "w") as f:
        json.dump(summary, f, indent=1, default=json_default)
    with open(paths[1], "w") as f:
        f.write(markdown(summary))
    plot(summary, paths[2])
    return paths
