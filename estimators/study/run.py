"""The compiled estimation over a study's datasets, and :func:`run_study`.

* A fixed logging policy's datasets are drawn inside one compiled program, one at a time
  with ``lax.map``, so memory is that of one dataset, not of all M.
* A learning logging policy's datasets are the seeds of
  :func:`envs.data.generate.learning_logs`, run in batches of seeds whose logs fit in
  ~64 MB.
* With an in-process sweep, each dataset is analysed at every grid value (``vmap``): work
  that does not depend on the swept value is done once per dataset.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from common.shards import parse_shard, shard_range
from envs.data.generate import learning_logs, simulate_logs
from envs.data.truth import policy_value
from estimators import ope, reward_models
from estimators.bootstrap import bootstrap_replicates
from estimators.study.plan import Plan, Point, dataset_key, fixed_point, make_plan, swept_point
from estimators.study.shards import save_results
from estimators.study.summary import format_report, make_summary, write_outputs


class Results(NamedTuple):
    """Per dataset (M), grid point (G) and estimator (E)."""

    estimates: Any  # (M, G, E)
    lower: Any  # (M, G, E) interval bounds
    upper: Any  # (M, G, E)
    diagnostics: Any  # (M, G, 2): effective sample size / n and the maximum weight


def _stacked_values(estimators: Sequence, rows: ope.Rows):
    """(E,) every estimator's value on ``rows``."""
    return jnp.stack([f(rows).value for f in estimators])


def _analyse(plan: Plan, point: Point, key, logs) -> Results:
    """Every estimator of ``point``, its bootstrap interval and the importance weights'
    diagnostics on one dataset ``logs`` (n rows); each result without the M, G axes."""
    s = plan.settings
    pi_e = jax.vmap(point.target)(logs.context, logs.mask)
    q_hat = reward_models.cross_fit(plan.reward_model, jax.random.fold_in(key, 1),
                                    logs.context, logs.action, logs.reward, plan.n_folds)
    rows = ope.rows(logs.reward, logs.action, logs.pscore, pi_e, q_hat)
    statistic = functools.partial(_stacked_values, point.estimators)
    reps = bootstrap_replicates(statistic, rows, jax.random.fold_in(key, 2), s["n_boot"],
                                scheme=s["bootstrap"])
    lo, hi = jnp.quantile(reps, jnp.array([s["alpha"] / 2, 1 - s["alpha"] / 2]), axis=0)
    d = ope.diagnostics(ope.importance_weights(rows))
    return Results(statistic(rows), lo, hi, jnp.stack([d.ess / s["n_rows"], d.max_weight]))


def _one_point_grid(results: Results) -> Results:
    """``results`` with a grid axis of length 1 in front."""
    return jax.tree_util.tree_map(lambda x: x[None], results)


def _simulated_point(plan: Plan, point: Point, key) -> Results:
    """One dataset drawn from ``point``'s logging policy with ``key``, analysed."""
    logs = simulate_logs(plan.env, plan.params, point.logging, key, plan.settings["n_rows"], 1)
    return _analyse(plan, point, key, jax.tree_util.tree_map(lambda x: x[0], logs))


def _simulated_at(plan: Plan, key, sweep_value) -> Results:
    return _simulated_point(plan, swept_point(plan, sweep_value), key)


def _simulated_dataset(plan: Plan, index) -> Results:
    """(G, ·) results of drawn dataset ``index`` at every grid point."""
    key = dataset_key(plan, index)
    if plan.path is None:
        return _one_point_grid(_simulated_point(plan, fixed_point(plan), key))
    return jax.vmap(functools.partial(_simulated_at, plan, key))(plan.grid)


def _simulated_chunk(plan: Plan, indices) -> Results:
    """(C, G, ·) results of the drawn datasets ``indices`` (C,), one at a time."""
    return jax.lax.map(functools.partial(_simulated_dataset, plan), indices)


def _chunks(m: int, n_chunks: int = 20) -> tuple[int, int]:
    """``(chunk, count)``: ``count`` equal chunks of ``chunk`` datasets covering ``m``."""
    chunk = -(-m // min(m, n_chunks))
    return chunk, -(-m // chunk)


def _fixed_logs_results(plan: Plan, progress: bool, first: int, m: int) -> Results:
    """(m, G, ·) results on datasets ``first .. first + m − 1`` drawn from a fixed logging
    policy, in equal chunks of datasets (one compiled program, a progress bar over
    chunks).

    Dataset ``i`` depends only on ``i``: the last chunk is padded with extra datasets whose
    results are dropped, so the numbers do not depend on the chunking (nor on the shard).
    """
    from tqdm.auto import tqdm

    chunk, count = _chunks(m)
    run = jax.jit(functools.partial(_simulated_chunk, plan))
    parts = []
    with tqdm(total=m, desc="datasets", unit="dataset", disable=not progress) as bar:
        for c in range(count):
            parts.append(jax.device_get(run(first + jnp.arange(c * chunk, (c + 1) * chunk))))
            bar.update(min(chunk, m - c * chunk))
    return Results(*(np.concatenate([p[j] for p in parts])[:m] for j in range(4)))


def _analysed_at(plan: Plan, key, logs, sweep_value) -> Results:
    return _analyse(plan, swept_point(plan, sweep_value), key, logs)


def _logged_dataset(plan: Plan, dataset) -> Results:
    """(G, ·) results of one learning run's logs; ``dataset`` is ``(index, logs)``."""
    index, logs = dataset
    key = dataset_key(plan, index)
    if plan.path is None:
        return _one_point_grid(_analyse(plan, fixed_point(plan), key, logs))
    return jax.vmap(functools.partial(_analysed_at, plan, key, logs))(plan.grid)


def _logged_chunk(plan: Plan, indices, logs) -> Results:
    """(C, G, ·) results of a batch of C learning runs' logs, one at a time."""
    return jax.lax.map(functools.partial(_logged_dataset, plan), (indices, logs))


def _learning_logs_results(plan: Plan, first: int, m: int) -> Results:
    """Like :func:`_fixed_logs_results` for a logging policy logged as it learns."""
    s = plan.settings
    run = jax.jit(functools.partial(_logged_chunk, plan))
    log_seed = int(jax.random.randint(jax.random.fold_in(plan.root, 5), (), 0, 2**31 - 1))
    parts = [run(jnp.arange(start, start + logs.action.shape[0]), logs)
             for start, logs in learning_logs(plan.cfg["logging_policy"], plan.env,
                                               plan.params, log_seed, s["n_rows"], m,
                                               first_dataset=first)]
    return Results(*(np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(4)))


def dataset_range(settings: Mapping[str, Any]) -> tuple[tuple[int, int] | None, int, int]:
    """``(shard, first dataset, count)``: every dataset, or ``study.shard``'s range."""
    m = settings["n_datasets"]
    if settings.get("shard") is None:
        return None, 0, m
    shard = parse_shard(settings["shard"], m, "study.n_datasets")
    return (shard, *shard_range(m, *shard))


def target_values(plan: Plan) -> list:
    """The target policy's exact value (a Monte Carlo over contexts) per grid point."""
    key = jax.random.fold_in(plan.root, 1)
    targets = [swept_point(plan, jnp.float32(v)).target for v in plan.values] \
        if plan.swept == "target_policy" else [plan.target]
    truths = [policy_value(plan.env, plan.params, t, key,
                           n_contexts=plan.settings["truth_contexts"]) for t in targets]
    return truths * (len(plan.grid) // len(truths))


def _without_grid(plan: Plan, x: np.ndarray) -> np.ndarray:
    """(M, E) without a sweep, else (M, G, E) as it is."""
    return x if plan.path else x[:, 0]


def run_study(cfg: Mapping[str, Any], out_dir: str | None = None, echo: bool = True,
              progress: bool | None = None) -> dict[str, Any]:
    """The estimator study of ``cfg`` (see :mod:`estimators.study`).

    Args:
        cfg: the composed config (``conf/ope.yaml``) as a plain mapping.
        out_dir: where ``summary.json``, ``summary.md`` and the figure go (None: nowhere).
        echo: print the table and where the outputs went.
        progress: a progress bar over datasets (default: ``echo``).

    Returns:
        ``{"summary", "estimates", "lower", "upper"}``; the arrays are (M, E), or
        (M, G, E) with a sweep.
    """
    plan = make_plan(cfg)
    t0 = time.perf_counter()
    truths = target_values(plan)
    shard, first, m = dataset_range(plan.settings)
    results = _learning_logs_results(plan, first, m) if plan.learning else \
        _fixed_logs_results(plan, echo if progress is None else progress, first, m)
    results = Results(*(np.asarray(x, np.float64) for x in results))  # (M, G, ·)
    summary = make_summary(plan, truths, results, time.perf_counter() - t0)
    if out_dir:
        write_outputs(plan, summary, results.estimates, out_dir)
        if shard:
            save_results(out_dir, cfg, shard, first, truths, results, summary["wall_s"])
    if echo:
        print(format_report(summary))
    return {"summary": summary, "estimates": _without_grid(plan, results.estimates),
            "lower": _without_grid(plan, results.lower),
            "upper": _without_grid(plan, results.upper)}
