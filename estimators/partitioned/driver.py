"""The deployment gate on a log bigger than memory: a Parquet file or a hive-partitioned
directory, read a batch at a time, each partition contributing sums (:mod:`.tasks`).

The passes: (1) the algorithm candidates are trained on the rows before
``held_out_from`` (one sequential pass here); (2) the streamed ridge's sufficient
statistics are summed over the held-out rows (per file, here or on Dask workers), and
its per-fold coefficients solved; (3) every candidate's sums on the held-out rows and on
each keyed Poisson resample (per file), merged in file order. A pass skips the files
whose footer statistics put every row on the other side of ``held_out_from`` (a
partition by day or hour is one side), so the held-out passes read the held-out
period's files only. The report has the same
entries as the in-memory gate's, plus how the log was streamed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.data.events.dataset import Dataset
from estimators import registry as est_registry
from estimators.gate.report import describe_rule, write_report
from estimators.gate.statistics import (
    DEFAULT_RULE,
    GateRule,
    apply_rule,
    check_decide_on,
    estimate_entry,
    interval,
)
from estimators.partitioned import parts, ridge
from estimators.partitioned.candidates import load_candidates
from estimators.partitioned.sums import CandidateSums, diagnostics
from estimators.partitioned.tasks import Plan, evaluate_file, ridge_file
from estimators.partitioned.workers import executor

BOOTSTRAP = "keyed Poisson (by seed, event_id, resample)"


def _fit_model(run, plan: Plan) -> Plan:
    """The plan with the streamed ridge's per-fold coefficients (unchanged without a
    model)."""
    if plan.model is None:
        return plan
    sums = run(ridge_file, plan, plan.data.files_from(plan.held_out_from), "reward model")
    gram = sum(g for g, _ in sums)
    rhs = sum(r for _, r in sums)
    if np.ndim(gram) == 0:
        raise ValueError(f"{plan.data.path}: no held-out rows at or after "
                         f"{plan.held_out_from}")
    return dataclasses.replace(plan, theta=ridge.solve(plan.model, gram, rhs))


def _merged(per_file: Sequence[list], n_candidates: int) -> list[CandidateSums]:
    """Each candidate's sums over every file, merged in file order."""
    out: list[CandidateSums | None] = [None] * n_candidates
    for sums in per_file:
        for i, s in enumerate(sums):
            if s is not None:
                out[i] = s if out[i] is None else out[i].merge(s)
    if out[0] is None:
        raise ValueError("no held-out rows: every row is before split.held_out_from")
    return out


def _result(s: CandidateSums, layout: parts.Layout, alpha: float, rule: GateRule
            ) -> dict[str, Any]:
    """One candidate's estimates, diagnostics and decision from its merged sums."""
    full, reps = parts.values(s.point, layout), parts.values(s.boot, layout)
    logging_value, logging_reps = float(full[-1]), reps[:, -1]
    out: dict[str, Any] = {"estimates": {}, "logging_value": {
        "value": logging_value, **dict(zip(("lower", "upper"),
                                           interval(logging_reps, alpha)))}}
    for j, name in enumerate(layout.names[:-1]):
        out["estimates"][name] = estimate_entry(float(full[j]), reps[:, j], logging_value,
                                                logging_reps, alpha)
    out["diagnostics"] = diagnostics(s)
    out["decision"], out["checks"] = apply_rule(out, rule)
    return out


def _data_entry(data: Dataset, plan: Plan, n_test: int, n_train: int, workers: int,
                scheduler: str | None, seconds: float) -> dict[str, Any]:
    """The report's ``data`` entry for a streamed log."""
    return {"source": data.path, "n_rows": data.n_rows, "train_rows": n_train,
            "test_rows": n_test, "test_fraction": n_test / data.n_rows,
            "held_out_from": str(plan.held_out_from), "n_arms": data.n_arms,
            "dim": plan.candidates[0][1].dim, "arm_features": data.arm_features,
            "stream": {"files": len(data.files), "partitions": list(data.partitions),
                       "files_held_out": len(data.files_from(plan.held_out_from)),
                       "batch_rows": plan.batch_rows, "workers": workers,
                       "scheduler": scheduler, "engine": "dask" if workers or scheduler
                       else "this process", "seconds": seconds}}


def run_partitioned(data: Dataset, candidates: Sequence[Mapping[str, Any]], *,
                    held_out_from: np.datetime64, estimators: Mapping[str, Any],
                    n_boot: int = 1000, alpha: float = 0.05,
                    reward_model: Mapping[str, Any] | None = None,
                    rule: GateRule = DEFAULT_RULE, seed: int = 0, batch_rows: int = 65_536,
                    missing_reward: float | None = None, workers: int = 0,
                    scheduler: str | None = None, out_dir: str | None = None,
                    checkpoint_dir: str | None = None, progress: bool = False
                    ) -> dict[str, Any]:
    """The gate on a streamed log (see the module doc); ``workers`` > 0: that many Dask
    worker processes here, or ``scheduler``: a running Dask scheduler's address."""
    t0 = time.perf_counter()
    hypers = est_registry.from_config(estimators)
    check_decide_on(hypers, rule)
    needs_model = any(est_registry.spec(n).needs_model for n in hypers)
    model = ridge.ridge_spec(reward_model, data.n_arms, data.arm_features) \
        if needs_model else None
    cands = load_candidates(candidates, data, held_out_from, batch_rows, missing_reward,
                            checkpoint_dir or out_dir)
    plan = Plan(data, held_out_from, batch_rows, missing_reward, seed, n_boot, hypers,
                model, None, tuple((n, ck) for n, ck, _ in cands))
    with executor(workers, scheduler, progress) as run:
        plan = _fit_model(run, plan)
        sums = _merged(run(evaluate_file, plan, data.files_from(held_out_from),
                           "candidates"), len(cands))
    layout = parts.layout(hypers)
    results = [{"name": n, "algorithm": ck.algorithm, "hyperparameters": ck.hyperparameters,
                "source": origin, "version": ck.version, "data_hash": ck.data_hash,
                **_result(s, layout, alpha, rule)} for (n, ck, origin), s in zip(cands, sums)]
    n_test = sums[0].n_rows
    report = {
        "data": _data_entry(data, plan, n_test, data.n_rows - n_test, workers, scheduler,
                            time.perf_counter() - t0),
        "logging": results[0]["logging_value"], "rule": dataclasses.asdict(rule),
        "rule_text": describe_rule(rule, alpha), "estimators": hypers,
        "reward_model": dict(reward_model or {"name": "ridge"}),
        "reward_model_fit": ("ridge by streamed sufficient statistics, folds keyed by "
                             "event id" if model else None),
        "n_boot": n_boot, "alpha": alpha, "bootstrap": BOOTSTRAP, "seed": seed,
        "candidates": results}
    if out_dir:
        write_report(report, out_dir)
    return report
