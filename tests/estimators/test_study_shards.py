"""An estimator study split in shards of datasets (``study.shard=i/N``) and combined
equals the study run in one process: every dataset's estimates and intervals, to the
float32 rounding that different chunk sizes allow (1 ulp, as
``test_numbers_do_not_depend_on_the_chunking`` measures), for a fixed logging policy and
for one logged as it learns; a shard out of range is refused by name."""

import numpy as np
import pytest
from test_study_outputs import TINY, _cfg

import envs  # noqa: F401
from common.errors import ConfigError
from estimators import study
from estimators.study.shards import combine_shards, merge_shards

LEARNING = ["policy@logging_policy=bandit", "logging_policy.learning=true",
            "logging_policy.warmup_rounds=50"]


def _split(tmp_path, overrides, n):
    whole = study.run_study(_cfg(overrides), echo=False)
    for i in range(n):
        study.run_study(_cfg([*overrides, f"study.shard={i}/{n}"]), str(tmp_path / str(i)),
                        echo=False)
    return whole


@pytest.mark.parametrize("overrides, n", [(["study.n_datasets=7"], 3),
                                          (["study.n_datasets=4", *LEARNING], 2)])
def test_combined_shards_equal_the_single_run(tmp_path, overrides, n):
    overrides = ["estimator=[ipw,dr]", *TINY, *overrides]
    whole = _split(tmp_path, overrides, n)
    (summary,) = combine_shards(str(tmp_path), echo=False)
    _, truths, results, _ = merge_shards([str(tmp_path / str(i) / "shard.npz")
                                          for i in range(n)])
    for key in ("estimates", "lower", "upper"):
        np.testing.assert_allclose(getattr(results, key)[:, 0], whole[key], rtol=1e-6)
    assert summary["n_datasets"] == whole["summary"]["n_datasets"]
    assert summary["truth"] == whole["summary"]["truth"]
    for a, b in zip(whole["summary"]["results"], summary["results"]):
        assert a["estimator"] == b["estimator"]
        assert b["bias"] == pytest.approx(a["bias"], rel=1e-5, abs=1e-7)
        assert b["coverage"] == a["coverage"]
    assert (tmp_path / "combined" / "estimators.png").stat().st_size > 10_000


def test_a_shard_out_of_range_is_refused():
    with pytest.raises(ConfigError, match=r"study.shard=3/3: needs 0 <= i < N <= "
                                          r"study.n_datasets \(6\)"):
        study.run_study(_cfg([*TINY, "study.shard=3/3"]), echo=False)
