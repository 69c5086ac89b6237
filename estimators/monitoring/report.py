"""The log monitor's files: ``alerts.json`` (every rule's outcome and the KPI series) and
``summary.json`` / ``summary.md`` (what was monitored and which alerts fired)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.formatting import json_default, markdown_table
from envs.data.loading import describe_load
from envs.data.rewards import format_report
from envs.monitor import AlertRule, MonitorSpec

BASELINE_FROM_REFERENCE = "the mean reward of the reference rounds [0, {reference})"


def _plain(values: np.ndarray) -> list:
    """Floats for JSON, NaN as null."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()]


def _stamp(timestamp: np.ndarray, e: int) -> str | None:
    """The timestamp of round end ``e`` (its last round, ``e − 1``), as ISO text."""
    return None if e < 1 else str(np.datetime64(timestamp[e - 1], "us"))


def _episodes(active: np.ndarray, rounds: np.ndarray) -> list[list[int]]:
    """``[first, last]`` round ends of each run of consecutive active points."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return [[int(rounds[a]), int(rounds[b - 1])]
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def rule_record(rule: AlertRule, result: Mapping[str, Any], rounds: np.ndarray,
                timestamp: np.ndarray, values: np.ndarray | None) -> dict[str, Any]:
    """One rule's entry of ``alerts.json``: its setting, and per threshold when it was
    first active, its episodes and active evaluations (of the ``evaluations`` points
    where its KPI, ``values`` (E,), was evaluated); or why it was skipped."""
    head = {"name": rule.name, "when": rule.when, "kpi": rule.kpi, "op": rule.op,
            "window": rule.window, "for": rule.for_rounds, "severity": rule.severity}
    if "skipped" in result:
        return {**head, "status": "skipped", "reason": result["skipped"]}
    if not np.any(~np.isnan(values)):
        return {**head, "status": "skipped",
                "reason": f"not evaluated: its window of {rule.window:,} rounds is longer than "
                          f"the {int(rounds[-1]):,} rounds evaluated"}
    out = []
    for j, threshold in enumerate(rule.thresholds):
        first = int(result["first_round"][j])
        active = result["active"][:, j]
        out.append({"threshold": threshold,
                    "compared_with": float(result["thresholds"][j]),
                    "first_active_round": first,
                    "first_active_timestamp": _stamp(timestamp, first),
                    "episodes": int(result["episodes"][j]),
                    "active_evaluations": int(result["active_count"][j]),
                    "active_at_end": bool(active[-1]) if active.size else False,
                    "active_periods": _episodes(active, rounds)})
    return {**head, "status": "evaluated",
            "evaluations": int(np.sum(~np.isnan(values))), "thresholds": out}


def build_alerts(spec: MonitorSpec, kpis: Mapping[str, Any], results: Mapping[str, Any],
                 timestamp: np.ndarray, source: str,
                 last_shares: Mapping[str, Any]) -> dict[str, Any]:
    """``alerts.json``: the monitor's setting, every rule's outcome, the KPI series at
    each evaluation (round end and timestamp) per window, the KPIs not available with
    the reason, and the action shares of the last window (``last_shares``)."""
    rounds = kpis["rounds"]
    baseline_from = ("monitor.baseline" if spec.baseline is not None
                     else BASELINE_FROM_REFERENCE.format(reference=spec.reference))
    return {
        "source": source, "n_rounds": int(timestamp.size),
        "time_span": {"first": _stamp(timestamp, 1), "last": _stamp(timestamp, timestamp.size)},
        "evaluated_to_round": int(rounds[-1]), "hop": spec.hop, "reference": spec.reference,
        "baseline": {"value": kpis["baseline"], "from": baseline_from},
        "rules": [rule_record(r, results[r.name], rounds, timestamp,
                              kpis["windows"][r.window].get(r.kpi)) for r in spec.rules],
        "unavailable": dict(kpis["unavailable"]),
        "kpis": {"rounds": rounds.tolist(),
                 "timestamps": [_stamp(timestamp, int(e)) for e in rounds],
                 "windows": {str(w): {k: _plain(v) for k, v in series.items()}
                             for w, series in kpis["windows"].items()}},
        "last_window_shares": dict(last_shares),
    }


def _rule_summary(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's line of the summary: its status, and per threshold the first activation,
    episodes and active evaluations."""
    out = {k: rec[k] for k in ("name", "when", "severity", "status")}
    if rec["status"] == "skipped":
        return {**out, "reason": rec["reason"]}
    keep = ("threshold", "first_active_round", "first_active_timestamp", "episodes",
            "active_evaluations", "active_at_end")
    return {**out, "evaluations": rec["evaluations"],
            "thresholds": [{k: t[k] for k in keep} for t in rec["thresholds"]]}


def build_summary(alerts: Mapping[str, Any], load: Mapping[str, Any] | None,
                  attribution: str | None, files: Mapping[str, str]) -> dict[str, Any]:
    """``summary.json``: what was monitored, the rules' outcomes, the alerts active at the
    last evaluation, what could not be measured and why, and the files written."""
    rules = [_rule_summary(r) for r in alerts["rules"]]
    active = [r["name"] for r in rules if r["status"] == "evaluated"
              and any(t["active_at_end"] for t in r["thresholds"])]
    fired = [r["name"] for r in rules if r["status"] == "evaluated"
             and any(t["episodes"] for t in r["thresholds"])]
    joined = (load or {}).get("attribution")
    return {"source": alerts["source"], "attribution": attribution,
            "load": describe_load(load),
            "reward_attribution": format_report(joined).splitlines() if joined else None,
            "n_rounds": alerts["n_rounds"],
            "evaluated_to_round": alerts["evaluated_to_round"], "hop": alerts["hop"],
            "reference": alerts["reference"], "baseline": alerts["baseline"],
            "fired": fired, "active_at_end": active, "rules": rules,
            "unavailable": alerts["unavailable"], "files": dict(files)}


def _rule_rows(rules: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """summary.md's table cells: one row per rule and threshold."""
    rows = []
    for r in rules:
        if r["status"] == "skipped":
            rows.append([r["name"], f"`{r['when']}`", r["severity"], "skipped", "", "", ""])
            continue
        for t in r["thresholds"]:
            first = (f"round {t['first_active_round']:,} ({t['first_active_timestamp']})"
                     if t["first_active_round"] >= 0 else "never")
            rows.append([r["name"], f"`{r['when']}`" + (f" at {t['threshold']:g}"
                                                        if len(r["thresholds"]) > 1 else ""),
                         r["severity"], "ACTIVE" if t["active_at_end"] else "ok", first,
                         str(t["episodes"]), f"{t['active_evaluations']} / {r['evaluations']}"])
    return rows


def format_markdown(summary: Mapping[str, Any]) -> str:
    """``summary.md``: the data, the baseline, a table of the rules, the KPIs and rules
    not measured with the reason, and the files."""
    b = summary["baseline"]
    md = [f"# Monitor: {summary['source']}", "",
          f"- rounds: {summary['n_rounds']:,} (log rows in timestamp order), evaluated every "
          f"{summary['hop']:,} up to round {summary['evaluated_to_round']:,}",
          *[f"- {line}" for line in summary["load"]],
          f"- baseline reward: {b['value']:.5g} ({b['from']})",
          f"- alerts active at the last evaluation: "
          f"{', '.join(summary['active_at_end']) or 'none'}; fired at some point: "
          f"{', '.join(summary['fired']) or 'none'}", ""]
    if summary.get("reward_attribution"):
        md += ["Reward events joined to the decisions (decisions without a reward yet are "
               "not among the rounds):", "", "```", *summary["reward_attribution"], "```", ""]
    if summary.get("attribution"):
        md += [f"Data: {summary['attribution']}", ""]
    md += markdown_table(("rule", "condition", "severity", "now", "first active", "episodes",
                          "active evaluations"), _rule_rows(summary["rules"]), align="lllllrr")
    skipped = [r for r in summary["rules"] if r["status"] == "skipped"]
    if skipped or summary["unavailable"]:
        md += ["", "## Not measured", ""]
        md += [f"- rule {r['name']} skipped: {r['reason']}" for r in skipped]
        md += [f"- {k}: {v}" for k, v in summary["unavailable"].items()
               if not any(r["reason"].startswith(k + " ") for r in skipped)]
    md += ["", "Files: " + ", ".join(f"{k} `{v}`" for k, v in summary["files"].items()), ""]
    return "\n".join(md)


def write_files(alerts: Mapping[str, Any], summary: Mapping[str, Any], out_dir: str) -> None:
    """``alerts.json``, ``summary.json`` and ``summary.md`` in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    for name, obj in (("alerts.json", alerts), ("summary.json", summary)):
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(obj, f, indent=1, default=json_default, allow_nan=False)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(format_markdown(summary))
