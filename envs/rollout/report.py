"""The staged-rollout study's files: ``summary.json``, ``summary.md`` and
``staged_rollout.png``, and the table printed at the end of a run."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from common.formatting import json_default, markdown_table
from envs.rollout.plots import plot

HEADER = ["true lift", "P(full)", "P(rolled back)", "rolled back by", "wrong call",
          "rounds to full: median [10%, 90%]", "regret", "users on candidate",
          "shadow SNIPS (coverage)", "shadow DR (coverage)", "shadow disagreement"]


def _pct(p: float, ci=None) -> str:
    text = f"{p:.1%}"
    return text if ci is None else f"{text} [{ci[0]:.1%}, {ci[1]:.1%}]"


def _estimate(mean: float | None, truth: float, coverage: float | None) -> str:
    return "–" if mean is None else f"{mean:.3f} vs {truth:.3f} ({coverage:.0%})"


def _row(r: dict[str, Any]) -> list[str]:
    q = r["rounds_to_full"]
    to_full = "–" if q["median"] is None else (f"{q['median']:.0f} [{q['q10']:.0f}, "
                                               f"{q['q90']:.0f}]")
    wrong = ("ships worse " if r["lift"] < 0 else "blocks better " if r["lift"] > 0
             else "") + (f"{r['p_wrong']:.1%}" if r["lift"] else "–")
    causes = ", ".join(f"{k.replace('_', ' ')} {v / r['n_rollouts']:.1%}"
                       for k, v in r["rolled_back_by"].items()) or "–"
    return [f"{r['lift']:+.0%}", _pct(r["p_full"], r["p_full_ci95"]),
            _pct(r["p_rollback"], r["p_rollback_ci95"]), causes, wrong, to_full,
            f"{r['regret_mean']:.1f} ± {1.96 * (r['regret_se'] or 0):.1f}",
            f"{r['exposed_mean']:.0f}",
            _estimate(r["shadow_snips_mean"], r["value_candidate"], r["shadow_ci95_coverage"]),
            _estimate(r["shadow_dr_mean"], r["value_candidate"],
                      r["shadow_dr_ci95_coverage"]),
            f"{r['shadow_disagreement']:.3f}"]


def _alerts_line(alerts: dict[str, Any] | None) -> str:
    """Which alert rules roll the rollouts back."""
    if not alerts or not (alerts["watched"] or alerts["guardrail"]):
        return ("Alert rules: none (monitor=null); the rollout rolls back on a failed "
                "candidate decision, the guardrail and the promotion rule.")
    watched, guard, low = (", ".join(alerts[k]) or "none"
                           for k in ("watched", "guardrail", "not_rolling_back"))
    return (f"High-severity alert rules roll back: {watched} on the candidate's decisions; "
            f"{guard} as the guardrail. Rules below high severity do not: {low}.")


def markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: the schedule, then one row per true lift."""
    rule = summary["rule"]
    stages = ", ".join(f"{s['name']} ({s['share']:.0%}, {s['rounds'] or 'rest'})"
                       for s in summary["stages"])
    timing = summary["timing"]
    lines = [
        f"# Staged rollout: {summary['n_seeds']} rollouts per lift × "
        f"{summary['n_rounds']} rounds",
        "",
        f"Schedule: {stages}. Rule: {rule['kind']} (alpha {rule['alpha']}, tolerance "
        f"{rule['tolerance']} unless a stage sets its own; guardrail at "
        f"{rule['guard_ratio']} × the incumbent's mean). Incumbent value "
        f"{summary['world']['value']}, reward noise {summary['world']['noise_std']}, "
        f"attribution window {summary['attribution_window']} rounds.",
        "",
        _alerts_line(summary.get("alerts")),
        "",
        *markdown_table(HEADER, [_row(r) for r in summary["lifts"]]),
        "",
        "P(·): share of rollouts with its 95% Wilson interval. Regret: expected reward lost "
        "against serving the better policy to everyone (mean ± 95%). Users on candidate: "
        "decisions it served (for a negative lift, users exposed to a worse policy). "
        "Shadow: the candidate's SNIPS and doubly robust (DR; per-arm mean reward model, "
        "fitted on rewards learnt before each decision) values from the incumbent's "
        "shadow traffic, its true value and how often the 95% CLT interval covered it.",
        "",
        f"Time: {timing['wall_s']:.1f} s in all ({timing['compile_s']:.1f} s compiling, "
        f"{timing['run_s']:.1f} s running, {timing['lane_rounds_per_s'] / 1e6:.1f} M "
        f"rollout-rounds/s).",
    ]
    return "\n".join(lines) + "\n"


def write(out_dir: str, summary: dict[str, Any], rounds: np.ndarray,
          fan: dict[str, np.ndarray]) -> list[str]:
    """Writes ``summary.json`` (with the traffic-share fan), ``summary.md`` and
    ``staged_rollout.png`` to ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, n) for n in ("summary.json", "summary.md",
                                               "staged_rollout.png")]
    with open(paths[0], "w") as f:
        json.dump({**summary, "share_fan": {"rounds": rounds, **fan}}, f, indent=1,
                  default=json_default)
    with open(paths[1], "w") as f:
        f.write(markdown(summary))
    plot(summary, rounds, fan, paths[2])
    return paths
