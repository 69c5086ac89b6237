"""An estimator study split across jobs: ``study.shard=i/N`` analyses the i-th of N
ranges of datasets (:func:`common.shards.shard_range`). Dataset i depends only on i
(fixed logging) or is seed i of the learning runs, so a shard's datasets have exactly the
numbers they have in one run. Each shard writes ``shard.npz`` beside its outputs (every
dataset's estimates, interval bounds and diagnostics, and the truths);
:func:`combine_shards` concatenates a sweep's shards in dataset order and writes the
study's outputs to ``<sweep dir>/combined/``: the summary computed from the same arrays
as one run's, so bias, spread, coverage and intervals are equal bit for bit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from common.errors import ConfigError
from common.shards import (
    combined_dir,
    loaded_in_order,
    save_shard,
    shard_files,
    studies,
    study_config,
)
from envs.data.truth import Value

FIELDS = ("estimates", "lower", "upper", "diagnostics")


def save_results(out_dir: str, cfg: Mapping[str, Any], shard: tuple[int, int], first: int,
                 truths: list, results, wall_s: float) -> None:
    """Writes the shard's ``shard.npz``: its (m, G, ·) results and the truths."""
    arrays = {name: getattr(results, name) for name in FIELDS}
    arrays["truth"] = np.array([[float(t.value), float(t.std_error), float(t.n_contexts)]
                                for t in truths])
    save_shard(out_dir, cfg, shard, first, {"wall_s": wall_s}, arrays)


def merge_shards(paths: list[str]):
    """``(config, truths, results, wall seconds)`` of the study whose shards are
    ``paths``, results (M, G, ·) in dataset order."""
    from estimators.study.run import Results

    metas, arrays = loaded_in_order(paths)
    cfg = study_config(metas[0])
    results = Results(*(np.concatenate([a[name] for a in arrays]) for name in FIELDS))
    if results.estimates.shape[0] != cfg["study"]["n_datasets"]:
        raise ConfigError(f"the shards hold {results.estimates.shape[0]} datasets, the "
                          f"study {cfg['study']['n_datasets']}")
    truths = [Value(v, se, int(n)) for v, se, n in arrays[0]["truth"]]
    return cfg, truths, results, float(sum(m["wall_s"] for m in metas))


def combine_shards(sweep_dir: str, echo: bool = True) -> list[dict[str, Any]]:
    """Merges the shards under ``sweep_dir``, study by study, into
    ``<sweep_dir>/combined/`` (``combined/<k>/`` for the k-th of several); returns the
    summaries ([] when there are no shards)."""
    from estimators.study.plan import make_plan
    from estimators.study.summary import format_report, make_summary, write_outputs

    groups = studies(shard_files(sweep_dir))
    summaries = []
    for k, paths in enumerate(groups):
        cfg, truths, results, wall = merge_shards(paths)
        plan = make_plan(cfg)
        summary = make_summary(plan, truths, results, wall)
        out = combined_dir(sweep_dir, k, len(groups))
        write_outputs(plan, summary, results.estimates, out)
        summaries.append(summary)
        if echo:
            print(format_report(summary))
            print(f"combined {len(paths)} shards ({results.estimates.shape[0]:,} datasets) "
                  f"-> {out}")
    return summaries
