"""The delayed-reward pitfall, measured: what a policy's value looks like when its logs are
read before the attribution window has closed.

A policy runs with delayed rewards (:class:`envs.feedback.Feedback`) and every round is
recorded; each seed's log is turned into decision and reward events
(:func:`envs.data.delayed.delayed_event_tables`) and read through the reward collector
``e`` rounds after the last decision, for several ``e``
(:func:`envs.data.delayed.early_evaluation`). Two estimates are compared with the value
once every window has closed: the *naive* one, which counts decisions still waiting for
their reward as ``missing`` (0 for clicks), and the one that *drops* them. The study
reports each bias's mean over seeds with its 95% interval, and the share of decisions
pending, as a table and a figure.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from common.figures import colors, pyplot, save_figure
from common.formatting import json_default, markdown_table
from envs.data.delayed import early_evaluation
from envs.engine.driver import simulate
from envs.feedback import Feedback

ESTIMATES = (("naive", "pending counted as missing"), ("drop_pending", "pending dropped"))


def eval_points(window: int, n: int = 9) -> list[int]:
    """``n`` reading times from 0 to the window W, in rounds after the last decision."""
    return sorted({int(round(window * f)) for f in np.linspace(0.0, 1.0, n)})


def _per_seed(rollout, feedback: Feedback, evals: list[int]) -> dict[str, np.ndarray]:
    """Every seed's early-evaluation table, stacked: {name: (S, E)}."""
    tr = rollout.trajectories
    tables = [early_evaluation(tr["action"][0, s], tr["reward"][0, s], tr["propensity"][0, s],
                               tr["delay"][0, s],
                               window_rounds=int(feedback.attribution_window),
                               eval_rounds=evals, missing_reward=float(feedback.missing))
              for s in range(rollout.n_seeds)]  # the collector reads one log at a time
    return {k: np.stack([t[k] for t in tables]) for k in
            ("share_pending", "truth", *(f"{e}_bias" for e, _ in ESTIMATES))}


def _mean_ci(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and the half-width of its 95% interval."""
    n = x.shape[0]
    half = 1.96 * x.std(0, ddof=1) / math.sqrt(n) if n > 1 else np.full(x.shape[1:], np.nan)
    return x.mean(0), half


def summarise(stacked: dict[str, np.ndarray], evals: list[int]) -> list[dict[str, Any]]:
    """One row per reading time: pending share and each estimate's bias (mean, 95% CI)."""
    rows = []
    share = stacked["share_pending"].mean(0)
    truth = float(stacked["truth"][:, 0].mean())
    for i, e in enumerate(evals):
        row = {"rounds_after_last_decision": e, "share_pending": float(share[i]),
               "value_truth": truth}
        for name, _ in ESTIMATES:
            mean, half = _mean_ci(stacked[f"{name}_bias"])
            row[f"{name}_bias"] = float(mean[i])
            row[f"{name}_bias_ci95"] = [float(mean[i] - half[i]), float(mean[i] + half[i])]
        rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], path: str, title: str):
    """Bias against reading time for each estimate (bands: 95% interval over seeds), with
    the share of decisions pending on the right axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
    e = np.array([r["rounds_after_last_decision"] for r in rows])
    for (name, text), color in zip(ESTIMATES, colors(len(ESTIMATES))):
        lo, hi = np.array([r[f"{name}_bias_ci95"] for r in rows]).T
        ax.plot(e, [r[f"{name}_bias"] for r in rows], "o-", color=color, label=text)
        ax.fill_between(e, lo, hi, color=color, alpha=0.2, lw=0)
    ax.axhline(0.0, color="black", lw=0.8)
    right = ax.twinx()
    right.plot(e, [r["share_pending"] for r in rows], "--", color="grey",
               label="share of decisions pending")
    ax.set(xlabel="rounds between the last decision and reading the log",
           ylabel="value estimate − value after every window closed", title=title)
    right.set_ylabel("share pending")
    handles = ax.get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    fig.legend(handles[0] + extra[0], handles[1] + extra[1], loc="outside lower center",
               ncol=3, frameon=False)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
    return fig


def run(policy, env, feedback: Feedback, *, n_seeds: int, n_rounds: int, seed: int = 0,
        out_dir: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Runs the study; writes ``summary.json``, ``summary.md`` and ``early_evaluation.png``
    to ``out_dir`` when given. Returns the summary."""
    if not feedback.delayed or feedback.swept():
        raise ValueError("early evaluation needs one delay distribution (feedback.delay "
                         "other than none, no swept settings)")
    rollout = simulate(policy, env, n_rounds=n_rounds, n_seeds=n_seeds, seed=seed,
                       record="trajectories", feedback=feedback, progress=progress)
    evals = eval_points(int(feedback.attribution_window))
    rows = summarise(_per_seed(rollout, feedback, evals), evals)
    summary = {"env": env.name, "policy": policy.name, "n_seeds": n_seeds,
               "n_rounds": n_rounds, "feedback": vars(feedback), "results": rows}
    if out_dir:
        write(out_dir, summary)
    return summary


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    head = ["rounds after last decision", "share pending", "naive bias (95% CI)",
            "drop-pending bias (95% CI)"]
    body = [[str(r["rounds_after_last_decision"]), f"{r['share_pending']:.3f}",
             *(f"{r[f'{n}_bias']:+.4f} [{r[f'{n}_bias_ci95'][0]:+.4f}, "
               f"{r[f'{n}_bias_ci95'][1]:+.4f}]" for n, _ in ESTIMATES)]
            for r in summary["results"]]
    title = (f"# Evaluating before the window closes: {summary['policy']} on "
             f"{summary['env']}, {summary['n_seeds']} seeds × {summary['n_rounds']} rounds\n\n"
             f"Value once every window has closed: {summary['results'][0]['value_truth']:.4f}"
             f" (mean over seeds).\n\n")
    return title + "\n".join(markdown_table(head, body, align="rrrr")) + "\n"


def write(out_dir: str, summary: dict[str, Any]) -> None:
    """``summary.json``, ``summary.md`` and ``early_evaluation.png`` in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=json_default)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown(summary))
    fb = summary["feedback"]
    plot(summary["results"], os.path.join(out_dir, "early_evaluation.png"),
         f"{summary['policy']} on {summary['env']}: {fb['delay']} delays "
         f"(mean {fb['delay_mean']} rounds), window {fb['attribution_window']} rounds")
