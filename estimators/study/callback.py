"""The Hydra multirun callback of estimator studies."""

from __future__ import annotations

import os

from common.sweeps import Callback, combine_job_summaries
from estimators.plots import plot_rmse_vs_n
from estimators.study.shards import combine_shards

COMBINED_KEYS = ("estimator", "bias", "std", "rmse", "rmse_se", "coverage", "ci_width")


def _combined_row(job: str, summary: dict, result: dict) -> dict:
    """One row of ``combined_summary.csv``: the job, its size and truth, one estimator."""
    return {"job": job, "n_rows": summary["n_rows"], "truth": summary["truth"],
            **{k: result[k] for k in COMBINED_KEYS}}


class CombineEstimatorStudies(Callback):
    """Hydra callback: after ``-m``, one table of every job and RMSE against n.

    Writes ``combined_summary.csv`` and, when the jobs differ in ``study.n_rows``,
    ``rmse_vs_n.png`` (one line per estimator, log-log, error bars from the Monte Carlo
    error) in the sweep directory; when the jobs are shards of one study
    (``study.shard=i/N``), that study's outputs in ``combined/``.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        rows = combine_job_summaries(sweep_dir, _combined_row)
        if len({r["n_rows"] for r in rows}) > 1:
            plot_rmse_vs_n(rows, os.path.join(sweep_dir, "rmse_vs_n.png"))
        combine_shards(sweep_dir)
