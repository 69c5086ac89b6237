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


def _job_overrides(job_dir: str) -> list[str]:
    """The command-line overrides of one job (``.hydra/overrides.yaml``), or []."""
    path = os.path.join(job_dir, ".hydra", "overrides.yaml")
    if not os.path.exists(path):
        return []
    import yaml

    with open(path) as f:
        return [str(o) for o in yaml.safe_load(f) or []]


def combine_job_summaries(sweep_dir: str, row) -> list[dict[str, Any]]:
    """Every job's ``summary.json`` under a multirun directory, one row per result.

    ``row(job, summary, result) -> dict`` picks the columns; an ``overrides`` column
    follows ``job``: the job's overrides that not every job shares (what a launcher or
    a sweeper such as Optuna chose for it). The rows are also written to
    ``combined_summary.csv`` in ``sweep_dir``; nothing is written when no job finished.
    """
    rows, chosen = [], []
    for root, _, files in sorted(os.walk(sweep_dir)):
        if "summary.json" not in files:
            continue
        with open(os.path.join(root, "summary.json")) as f:
            s = json.load(f)
        job = os.path.relpath(root, sweep_dir)
        for r in s.get("results", []):
            rows.append(row(job, s, r))
            chosen.append(_job_overrides(root))
    shared = set.intersection(*map(set, chosen)) if chosen else set()
    rows = [{"job": r["job"], "overrides": " ".join(o for o in c if o not in shared), **r}
            for r, c in zip(rows, chosen)]
    if rows:
        with open(os.path.join(sweep_dir, "combined_summary.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return rows
