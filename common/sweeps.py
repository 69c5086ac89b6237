"""Hydra multirun: every job's ``summary.json`` gathered into one table."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency
    Callback = object


def combine_job_summaries(sweep_dir: str, row) -> list[dict[str, Any]]:
    """Every job's ``summary.json`` under a multirun directory, one row per result.

    ``row(job, summary, result) -> dict`` picks the columns. The rows are also written to
    ``combined_summary.csv`` in ``sweep_dir``; nothing is written when no job finished.
    """
    rows = []
    for root, _, files in sorted(os.walk(sweep_dir)):
        if "summary.json" not in files:
            continue
        with open(os.path.join(root, "summary.json")) as f:
            s = json.load(f)
        job = os.path.relpath(root, sweep_dir)
        rows.extend(row(job, s, r) for r in s.get("results", []))
    if rows:
        with open(os.path.join(sweep_dir, "combined_summary.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return rows
