"""One regret study split across jobs: ``study.shard=i/N`` runs the i-th of N ranges of
seeds, and the shards combine into the study run in one process.

Seed s draws from ``fold_in(root, s)`` whatever runs beside it, so shard i runs seeds
``first .. first + count − 1`` of the whole study (``common.shards.shard_range``) with exactly the
numbers they have in one run. Each shard writes ``shard.npz`` beside its outputs: every
seed's regret at the checkpoints and total reward, the shard's per-round mean and
standard deviation of regret, the grid, and the config (:mod:`common.shards` says which
seeds and finds the files). :func:`combine_shards` finds the
shards of a sweep directory, checks they are one study's N shards, each once, and merges
them: per-seed arrays are concatenated in seed order, so final-regret statistics,
quantiles and intervals equal the single run's bit for bit; the per-round mean and
standard deviation are pooled from the shards' moments, equal to float rounding. The
merged study is written like any other (``summary.json``, ``summary.md``, ``curves.csv``,
``regret.png``) to ``<sweep dir>/combined/`` (``combined/<k>/`` when the sweep holds
several sharded studies, e.g. ``-m bandit=lin_ucb,lin_ts study.shard=0/2,1/2``).
"""

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
from envs.engine.result import Rollout


def save_rollouts(out_dir: str, cfg: Mapping[str, Any], rollouts: list[Rollout],
                  shard: tuple[int, int], first_seed: int) -> None:
    """Writes the shard's ``shard.npz``: per bandit b the arrays ``b/<field>``."""
    arrays = {}
    for b, r in enumerate(rollouts):
        for name in ("seed_regret", "total_reward", "mean_regret", "std_regret"):
            arrays[f"{b}/{name}"] = getattr(r, name)
        arrays.update({f"{b}/grid/{k}": v for k, v in r.grid.items()})
    meta = {"policies": [r.policy for r in rollouts], "env": rollouts[0].env,
            "n_seeds": [r.n_seeds for r in rollouts],
            "times": [[r.compile_s, r.run_s, r.setup_s, r.wall_s] for r in rollouts],
            "rounds": len(rollouts[0].rounds), "checkpoints": rollouts[0].checkpoints.tolist(),
            "n_devices": rollouts[0].n_devices}
    save_shard(out_dir, cfg, shard, first_seed, meta, arrays)


def _pooled(parts: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and sample standard deviation over every seed from each part's
    ``(seeds, mean, std)`` (float64 moments)."""
    total = sum(n for n, _, _ in parts)
    mean = sum(n * m.astype(np.float64) for n, m, _ in parts) / total
    m2 = sum((n - 1) * s.astype(np.float64) ** 2 + n * (m - mean) ** 2 for n, m, s in parts)
    std = np.sqrt(m2 / (total - 1)) if total > 1 else np.zeros_like(mean)
    return mean.astype(parts[0][1].dtype), std.astype(parts[0][2].dtype)


def _merged(b: int, metas: list[dict], arrays: list[dict]) -> Rollout:
    """Bandit ``b``'s Rollout over every shard (shards in seed order)."""
    seeds = [m["n_seeds"][b] for m in metas]
    cat = lambda name: np.concatenate([a[f"{b}/{name}"] for a in arrays], axis=1)  # noqa: E731
    mean, std = _pooled([(n, a[f"{b}/mean_regret"], a[f"{b}/std_regret"])
                         for n, a in zip(seeds, arrays)])
    grid = {k.split("/", 2)[2]: v for k, v in arrays[0].items() if k.startswith(f"{b}/grid/")}
    times = np.array([m["times"][b] for m in metas])  # (shards, 4)
    return Rollout(
        policy=metas[0]["policies"][b], env=metas[0]["env"], n_seeds=sum(seeds),
        rounds=np.arange(1, metas[0]["rounds"] + 1), mean_regret=mean, std_regret=std,
        checkpoints=np.asarray(metas[0]["checkpoints"]), seed_regret=cat("seed_regret"),
        total_reward=cat("total_reward"), grid=grid, compile_s=float(times[:, 0].max()),
        run_s=float(times[:, 1].sum()), setup_s=float(times[:, 2].max()),
        wall_s=float(times[:, 3].sum()), plan=None, n_devices=metas[0]["n_devices"])


def merge_shards(paths: list[str]) -> tuple[dict[str, Any], list[Rollout]]:
    """The config and one Rollout per bandit of the study whose shards are ``paths``."""
    metas, arrays = loaded_in_order(paths)
    cfg = study_config(metas[0])
    rollouts = [_merged(b, metas, arrays) for b in range(len(metas[0]["policies"]))]
    if rollouts[0].n_seeds != cfg["study"]["n_seeds"]:
        raise ConfigError(f"the shards hold {rollouts[0].n_seeds} seeds, the study "
                          f"{cfg['study']['n_seeds']}")
    return cfg, rollouts


def combine_shards(sweep_dir: str, echo: bool = True) -> list[dict[str, Any]]:
    """Merges the shards under ``sweep_dir``, study by study, into
    ``<sweep_dir>/combined/`` (one study) or ``combined/<k>/`` (the k-th of several): the
    outputs of each study run in one process. Returns their summaries ([] when there are
    no shards)."""
    from envs.regret.study import summary_of

    groups = studies(shard_files(sweep_dir))
    summaries = []
    for k, paths in enumerate(groups):
        cfg, rollouts = merge_shards(paths)
        out = combined_dir(sweep_dir, k, len(groups))
        summaries.append(summary_of(cfg, rollouts, out, echo))
        if echo:
            print(f"combined {len(paths)} shards ({cfg['study']['n_seeds']:,} seeds) -> {out}")
    return summaries
