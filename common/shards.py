"""A study split across jobs by ``study.shard=i/N``: which items (seeds, datasets) shard
i runs, the ``shard.npz`` file each shard writes, and finding a sweep's shards, grouped
by study and checked complete. The studies merge their own arrays
(:mod:`envs.regret.shards`, :mod:`estimators.study.shards`)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from common.errors import ConfigError
from common.formatting import json_default

SHARD_FILE = "shard.npz"


def parse_shard(text: Any, n_items: int, items: str = "study.n_seeds") -> tuple[int, int]:
    """``"i/N"`` as ``(i, N)``: 0 <= i < N <= n_items; raises naming ``study.shard``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if match is None:
        raise ConfigError(f"study.shard must be 'i/N' (shard i of N, from 0), got {text!r}")
    i, n = int(match[1]), int(match[2])
    if not 0 <= i < n or n > n_items:
        raise ConfigError(f"study.shard={text}: needs 0 <= i < N <= {items} ({n_items})")
    return i, n


def shard_range(n_items: int, i: int, n: int) -> tuple[int, int]:
    """``(first, count)`` of shard i of N: items floor(i·M/N) .. floor((i+1)·M/N) − 1."""
    first = i * n_items // n
    return first, (i + 1) * n_items // n - first


def _unsharded(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The config without ``study.shard``, what only shows progress, and the logger."""
    study = {k: v for k, v in cfg["study"].items() if k not in ("shard", "progress")}
    return {**{k: v for k, v in cfg.items() if k not in ("study", "logger")}, "study": study}


def study_key(cfg: Mapping[str, Any]) -> str:
    """The unsharded config as JSON with sorted keys: the shards of one study share it."""
    return json.dumps(_unsharded(cfg), sort_keys=True, default=json_default)


def study_config(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The unsharded config a shard was run with, its keys in their order."""
    return json.loads(meta["config"])


def save_shard(out_dir: str, cfg: Mapping[str, Any], shard: tuple[int, int], first: int,
               meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Writes ``shard.npz``: ``arrays`` and the metadata (the study key, the shard, its
    first item, and ``meta``)."""
    head = {"study": study_key(cfg), "shard": list(shard), "first": first,
            "config": json.dumps(_unsharded(cfg), default=json_default), **meta}
    np.savez(os.path.join(out_dir, SHARD_FILE), meta=np.asarray(json.dumps(head)), **arrays)


def load_shard(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(metadata, arrays)`` of one ``shard.npz``."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"])), {k: z[k] for k in z.files if k != "meta"}


def shard_files(sweep_dir: str) -> list[str]:
    """Every ``shard.npz`` under ``sweep_dir``, in folder order."""
    return sorted(os.path.join(root, SHARD_FILE) for root, _, files in os.walk(sweep_dir)
                  if SHARD_FILE in files)


def studies(paths: list[str]) -> list[list[str]]:
    """Shard files grouped by study (configs equal beyond ``study.shard``), in the order
    each study's first shard comes."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(load_shard(p)[0]["study"], []).append(p)
    return list(groups.values())


def loaded_in_order(paths: list[str]) -> tuple[list[dict], list[dict]]:
    """The shards' metadata and arrays in shard order, after checking they are one
    study's N shards, each once (the error names what is not)."""
    loaded = sorted((load_shard(p) for p in paths), key=lambda ma: ma[0]["shard"][0])
    metas = [m for m, _ in loaded]
    if len({m["study"] for m in metas}) > 1:
        raise ConfigError(f"the shards in {os.path.commonpath(paths)} come from different "
                          f"studies (their configs differ beyond study.shard)")
    n = metas[0]["shard"][1]
    found = sorted(m["shard"][0] for m in metas)
    if found != list(range(n)) or any(m["shard"][1] != n for m in metas):
        raise ConfigError(f"a study split in {n} shards needs shards 0..{n - 1} once each; "
                          f"found {found}")
    return metas, [a for _, a in loaded]


def combined_dir(sweep_dir: str, k: int, n_studies: int) -> str:
    """Where study k of a sweep's ``n_studies`` sharded studies is written."""
    return os.path.join(sweep_dir, "combined", *([str(k)] if n_studies > 1 else []))
