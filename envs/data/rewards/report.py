"""The report of :func:`envs.data.rewards.attribute_rewards` in words."""

from __future__ import annotations


def _pct(k: int, total: int) -> str:
    return f"{100 * k / total:5.1f}%" if total else "     -"


def format_report(report: dict) -> str:
    """The report of :func:`attribute_rewards` as a few aligned lines of text."""
    r, n, m = report, report["decisions"], report["rewards"]
    w = f"{r['window_s']:g} s window" if "window_s" in r else "window"
    fill = r.get("missing_reward")
    lines = [f"reward events: {m:,}"]
    for key, label in (("matched_by_id", "matched by event id"),
                       ("matched_by_window", f"matched within the {w}"),
                       ("late", "late (user's latest decision before the window)"),
                       ("unmatched", "unmatched (no earlier decision of the user)"),
                       ("unknown_event_id", "unknown event id")):
        lines.append(f"  {label:<50} {r[key]:>12,} {_pct(r[key], m)}")
    head = f"decisions: {n:,}"
    settings = [s for s in (f"combine {r['combine']!r}" if "combine" in r else "",
                            f"now {r['now']}" if r.get("now") else "") if s]
    if settings:
        head += f" ({', '.join(settings)})"
    lines.append(head)
    for key, label in (("matched", "with a reward"),
                       ("filled", "window closed, no reward: filled with "
                        + (f"{fill:g}" if fill is not None else "-")),
                       ("pending", "pending (window still open)"),
                       ("missing", "window closed, no reward, left missing")):
        lines.append(f"  {label:<50} {r[key]:>12,} {_pct(r[key], n)}")
    lines.append(f"  {'of those with a reward: several reward events':<50} "
                 f"{r['several_rewards']:>12,}")
    lines.append(f"  {'of those with a reward: window still open':<50} "
                 f"{r['matched_window_open']:>12,}")
    return "\n".join(lines)
