"""The gate's report in words: the terminal table, ``report.md``, the figure, and the
rule stated as a sentence."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from common.figures import pyplot, save_figure
from common.formatting import json_default, markdown_table, text_table
from envs.data.events import id_runs
from envs.data.loading import describe_load
from estimators import registry as est_registry
from estimators import reward_models
from estimators.gate.statistics import GateRule

TABLE_COLUMNS = (("candidate", "<22"), ("estimator", "<9"), ("estimate", ">9"),
                 ("95% interval", ">21"), ("lift", ">9"), ("lift interval", ">21"),
                 ("p", ">7"))
MARKDOWN_COLUMNS = ("estimator", "estimate", "95% interval", "lift", "lift interval",
                    "p-value")


def describe_rule(rule: GateRule, alpha: float = 0.05) -> str:
    """The rule in words, as the report states it."""
    words = [f"ship when the {rule.decide_on} estimate's lift over the logging policy has "
             f"a {1 - alpha:.0%} interval whose lower bound is above "
             f"{rule.min_lift_lower_pct:g}%",
             f"the effective sample size is at least {rule.min_ess:g}",
             f"at most {rule.max_support_violation:g} of the candidate's probability falls "
             "on arms without support"]
    if rule.max_p_value is not None:
        words.append(f"the paired p-value is below {rule.max_p_value:g}")
    return ", ".join(words[:-1]) + " and " + words[-1]


def _unsupported_note(diag: Mapping[str, Any]) -> str:
    arms = diag.get("unsupported_arms") or []
    return f"; mass on arms without support: {id_runs(arms)}" if arms else ""


def _estimate_line(candidate: str, estimator: str, e: Mapping[str, Any]) -> str:
    """One row of the terminal table: an estimate, its interval, the lift and p-value."""
    lift = e.get("lift_pct")
    lift_s = f"{lift['value']:+.2f}%" if lift else "n/a"
    lift_iv = f"[{lift['lower']:+.2f}%, {lift['upper']:+.2f}%]" if lift else ""
    return (f"{candidate[:22]:<22} {estimator:<9} {e['value']:>9.5f} "
            f"[{e['lower']:.5f}, {e['upper']:.5f}] {lift_s:>9} {lift_iv:>21} "
            f"{e['p_value']:>7.3f}")


def _candidate_lines(c: Mapping[str, Any]) -> list[str]:
    """A candidate's rows of the terminal table, its diagnostics and its decision."""
    lines = [_estimate_line(c["name"], name, e) for name, e in c["estimates"].items()]
    d = c["diagnostics"]
    lines.append(f"  ESS {d['ess']:.0f} ({d['ess_fraction']:.1%}), max weight "
                 f"{d['max_weight']:.1f}, non-zero weights {d['nonzero_fraction']:.1%}, "
                 f"support violation {d['support_violation']:.4f} "
                 f"({d['support_basis']}){_unsupported_note(d)}")
    lines.append(f"  -> {c['decision'].upper()}: " + "; ".join(
        f"{ch['check']} ({ch['value']:.4g}: {'ok' if ch['ok'] else 'FAIL'})"
        for ch in c["checks"]))
    return lines


def _counts_text(c: Mapping[str, Any]) -> str:
    """A period's decisions by attribution status, in words."""
    return (f"{c['decisions']:,} decisions: {c['matched']:,} with a reward "
            f"({c['matched_window_open']:,} of them inside their window), {c['filled']:,} "
            f"filled, {c['missing']:,} missing, {c['pending']:,} pending (window open, no "
            "reward yet)")


def pending_warning(rewards: Mapping[str, Any]) -> str | None:
    """The warning when held-out decisions are still inside their attribution window,
    None when none is."""
    h = rewards["held_out"]
    if not h["pending"]:
        return None
    return (f"WARNING: {h['pending']:,} held-out decisions ({h['pending'] / h['decisions']:.1%}"
            f" of the {h['decisions']:,} since {h['from']}) are still inside their "
            f"{rewards['window_s']:g} s attribution window at {rewards['now']}: their rewards "
            "are not in yet, so the gate leaves them out and the held-out values rest on the "
            "decisions whose rewards came first (biased when the delay depends on the "
            "reward: up for rewards logged only when they happen, such as clicks; down if "
            f"pending ones are counted as 0) — read the logs after {rewards['windows_close']}"
            ", when every window has closed")


def describe_attribution(rewards: Mapping[str, Any] | None) -> list[str]:
    """The reward stream's attribution in words: the window, the read time, the decisions
    by status over the whole log and over the held-out period, and the warning when
    held-out decisions are pending. Empty when no reward stream was joined."""
    if not rewards:
        return []
    lines = [f"reward events joined with a {rewards['window_s']:g} s attribution window "
             f"(combine {rewards['combine']}), logs read at {rewards['now']}",
             f"all: {_counts_text(rewards['all'])}",
             f"held out (since {rewards['held_out']['from']}): "
             f"{_counts_text(rewards['held_out'])}"]
    warning = pending_warning(rewards)
    return lines + ([warning] if warning else [])


def format_table(report: Mapping[str, Any]) -> str:
    """What the terminal shows: the rule, the logging policy's value, then every
    candidate's estimates, diagnostics and decision."""
    lv = report["logging"]
    lines = [f"rule: {report['rule_text']}",
             f"logging policy (held-out mean reward): {lv['value']:.5f} "
             f"[{lv['lower']:.5f}, {lv['upper']:.5f}]  on {report['data']['test_rows']} "
             "held-out rows",
             *describe_attribution(report.get("rewards")),
             *text_table(TABLE_COLUMNS, [])]
    for c in report["candidates"]:
        lines += _candidate_lines(c)
    return "\n".join(lines)


def _held_out_words(d: Mapping[str, Any]) -> str:
    """How the held-out rows were chosen, in words."""
    if d.get("held_out_from"):
        return f"at or after {d['held_out_from']}"
    return f"latest {d['test_fraction']:.0%} by time"


def _stream_lines(stream: Mapping[str, Any] | None) -> list[str]:
    """How a streamed log was read, for ``report.md`` (nothing for a log in memory)."""
    if not stream:
        return []
    return [f"- streamed: {stream['files']} files (partitions: "
            f"{', '.join(stream['partitions']) or 'none'}; {stream['files_held_out']} with "
            f"held-out rows), {stream['batch_rows']:,} rows a batch, on {stream['engine']}"
            + (f" ({stream['workers']} workers)" if stream["workers"] else "")
            + f", {stream['seconds']:.1f} s"]


def _markdown_setting(report: Mapping[str, Any]) -> list[str]:
    """``report.md``'s head: the data, the logging policy, estimators, resampling, rule."""
    d = report["data"]
    lv = report["logging"]
    return [f"# Deployment gate: {d['source']}", "",
            f"- held-out rows: {d['test_rows']:,} ({_held_out_words(d)}); "
            f"training rows: {d['train_rows']:,}",
            *_stream_lines(d.get("stream")),
            f"- arms: {d['n_arms']}, features: {d['dim']}",
            *[f"- {line}" for line in describe_load(d.get("load"))],
            *[f"- {line}" if not line.startswith("WARNING") else f"- **{line}**"
              for line in describe_attribution(report.get("rewards"))],
            f"- logging policy's held-out mean reward: {lv['value']:.5f} "
            f"[{lv['lower']:.5f}, {lv['upper']:.5f}]",
            "- estimators: " + "; ".join(est_registry.describe(n, h)
                                         for n, h in report["estimators"].items()),
            "- reward model: " + reward_models.describe(report["reward_model"])
            + (f" ({report['reward_model_fit']})" if report.get("reward_model_fit") else ""),
            f"- {report['n_boot']} {report['bootstrap']} bootstrap resamples, seed "
            f"{report['seed']}",
            f"- rule: {report['rule_text']}", ""]


def _markdown_estimate_cells(name: str, e: Mapping[str, Any]) -> list[str]:
    lift = e.get("lift_pct")
    lift_cells = [f"{lift['value']:+.2f}%", f"[{lift['lower']:+.2f}%, {lift['upper']:+.2f}%]"
                  ] if lift else ["n/a", ""]
    return [name, f"{e['value']:.5f}", f"[{e['lower']:.5f}, {e['upper']:.5f}]", *lift_cells,
            f"{e['p_value']:.3f}"]


def _markdown_candidate(c: Mapping[str, Any]) -> list[str]:
    """One candidate's section of ``report.md``: estimates, diagnostics, checks."""
    dg = c["diagnostics"]
    return [f"## {c['name']}: **{c['decision']}**", "",
            f"source: {c['source']}; version `{c.get('version', '')}`; training data hash "
            f"`{c.get('data_hash', '')[:16]}`", "",
            *markdown_table(MARKDOWN_COLUMNS, [_markdown_estimate_cells(name, e)
                                               for name, e in c["estimates"].items()]),
            "", f"Diagnostics: effective sample size {dg['ess']:.0f} "
                f"({dg['ess_fraction']:.1%} of rows), max weight {dg['max_weight']:.1f}, "
                f"non-zero weights {dg['nonzero_fraction']:.1%}, support violation "
                f"{dg['support_violation']:.4f} ({dg['support_basis']}).", "",
            *markdown_table(("check", "value", "result"), [
                [ch["check"], f"{ch['value']:.4g}", "ok" if ch["ok"] else "FAIL"]
                for ch in c["checks"]], align="lrl"),
            ""]


def format_markdown(report: Mapping[str, Any]) -> str:
    """``report.md``: the setting, then one section per candidate."""
    md = _markdown_setting(report)
    for c in report["candidates"]:
        md += _markdown_candidate(c)
    return "\n".join(md)


def plot_report(report: Mapping[str, Any], path: str) -> None:
    """Every candidate's estimates with their intervals against the logging policy's
    band, saved to ``path``."""
    plt = pyplot()
    cands = report["candidates"]
    names = list(cands[0]["estimates"]) if cands else []
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cands) * max(1, len(names)) / 2), 4.5))
    lv = report["logging"]
    ax.axhspan(lv["lower"], lv["upper"], color="0.85", label="logging policy (95%)")
    ax.axhline(lv["value"], color="0.4", lw=1)
    width = 0.8 / max(1, len(names))
    for i, c in enumerate(cands):
        for j, name in enumerate(names):
            e = c["estimates"][name]
            x = i + (j - (len(names) - 1) / 2) * width
            ax.errorbar([x], [e["value"]], yerr=[[e["value"] - e["lower"]],
                                                 [e["upper"] - e["value"]]],
                        fmt="o", color=f"C{j}", capsize=3, label=name if i == 0 else None)
    ax.set_xticks(range(len(cands)), [f"{c['name']}\n{c['decision']}" for c in cands])
    ax.set(ylabel="estimated value (mean reward)",
           title="candidates vs the logging policy on held-out logs (95% intervals)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def write_report(report: Mapping[str, Any], out_dir: str) -> None:
    """``report.json``, ``report.md`` and ``report.png`` in ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=json_default)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(format_markdown(report))
    plot_report(report, os.path.join(out_dir, "report.png"))
