"""A regret study split in 3 shards (``study.shard=i/3``) and combined equals the study
run in one process: every seed's regret and total reward bit for bit, so the result rows'
final-regret statistics too; the per-round mean and standard deviation to float rounding.
Shards that are not one study's N shards, each once, are refused by name."""

import json
import os

import numpy as np
import pytest

from common.errors import ConfigError
from common.shards import parse_shard, shard_range
from envs.regret.shards import combine_shards, merge_shards
from envs.regret.study import run_study

STUDY = {"n_seeds": 11, "n_rounds": 150, "seed": 3, "progress": False,
         "compilation_cache": False, "n_checkpoints": 12}


def _cfg(**study):
    return {"env": {"name": "linear-gaussian"}, "bandit": {"lin_ucb": {}, "uniform": {}},
            "study": {**STUDY, **study}, "sweep": {"alpha": [0.5, 2.0]},
            "logger": {"name": "none"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    whole = run_study(_cfg(), None, echo=False)
    for i in range(3):
        run_study(_cfg(shard=f"{i}/3"), str(root / str(i)), echo=False)
    return whole, root


def test_shards_cover_the_seeds_once():
    assert [shard_range(11, i, 3) for i in range(3)] == [(0, 3), (3, 4), (7, 4)]
    assert parse_shard("2/3", 11) == (2, 3)
    for bad in ("3/3", "1/12", "a/3", "1-3"):
        with pytest.raises(ConfigError, match="study.shard"):
            parse_shard(bad, 11)


def test_combined_shards_equal_the_single_run(runs):
    whole, root = runs
    (summary,) = combine_shards(str(root), echo=False)
    _, merged = merge_shards([str(root / str(i) / "shard.npz") for i in (2, 0, 1)])
    for a, b in zip(whole["rollouts"], merged):
        np.testing.assert_array_equal(a.seed_regret, b.seed_regret)
        np.testing.assert_array_equal(a.total_reward, b.total_reward)
        np.testing.assert_allclose(a.mean_regret, b.mean_regret, rtol=2e-6)
        np.testing.assert_allclose(a.std_regret, b.std_regret, rtol=2e-5, atol=1e-5)
    exact = ("algorithm", "params", "final_regret_mean", "final_regret_ci95",
             "final_regret_std", "final_regret_p2.5", "final_regret_p97.5",
             "mean_reward_per_round", "n_seeds", "n_rounds")
    assert len(summary["results"]) == 3  # lin_ucb at two alphas, uniform
    for a, b in zip(whole["summary"]["results"], summary["results"]):
        assert {k: a[k] for k in exact} == {k: b[k] for k in exact}
    with open(root / "combined" / "summary.json") as f:
        assert json.load(f)["n_seeds"] == 11
    for name in ("summary.md", "curves.csv", "regret.png"):
        assert os.path.getsize(root / "combined" / name) > 0


def test_incomplete_or_mixed_shards_are_refused(runs, tmp_path):
    _, root = runs
    with pytest.raises(ConfigError, match=r"needs shards 0..2 once each; found \[0, 2\]"):
        merge_shards([str(root / "0" / "shard.npz"), str(root / "2" / "shard.npz")])
    run_study({**_cfg(shard="1/3"), "sweep": {}}, str(tmp_path / "other"), echo=False)
    with pytest.raises(ConfigError, match="come from different studies"):
        merge_shards([str(root / "0" / "shard.npz"), str(tmp_path / "other" / "shard.npz"),
                      str(root / "2" / "shard.npz")])
