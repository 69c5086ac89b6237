"""Logged data whose context holds every arm's own features: ``LoggedData.arm_features``
is checked on entry, kept by every conversion, declared in a Parquet log's metadata and
read back (or set by ``load.arm_features``), and the supervised logs give it."""

import numpy as np
import pytest

from common.errors import ConfigError, DataError
from envs.data.events import read_events, write_events
from envs.data.logged import LoggedData, events_from_logged
from envs.data.supervised import disjoint_contexts, supervised_logs
from envs.worlds.supervised import load_table

K, D, N = 3, 4, 60


def _data(arm_features=D, n=N):
    rng = np.random.default_rng(0)
    return LoggedData.from_arrays(
        context=rng.standard_normal((n, K * D)).astype(np.float32),
        action=rng.integers(0, K, n), reward=rng.random(n), pscore=np.full(n, 1 / K),
        n_arms=K, arm_features=arm_features)


def test_arm_features_must_give_the_contexts_width():
    assert _data().arm_features == D and _data(0).arm_features == 0
    with pytest.raises(DataError, match=r"arm_features=5 needs contexts of n_arms·d = "
                                        r"3·5 = 15 features .* but the context has 12"):
        _data(5)
    with pytest.raises(ConfigError, match="arm_features must be an integer >= 0"):
        _data(-1)
    with pytest.raises(ConfigError, match="arm_features must be an integer >= 0"):
        _data(True)


def test_take_and_npz_keep_the_features_per_arm(tmp_path):
    data = _data()
    assert data.take(np.arange(10)).arm_features == D
    data.to_npz(str(tmp_path / "d.npz"))
    back = LoggedData.from_npz(str(tmp_path / "d.npz"))
    assert back.arm_features == D
    np.testing.assert_array_equal(back.context, data.context)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_log_declares_its_features_per_arm_and_the_reader_takes_them(tmp_path, fmt):
    """Parquet keeps ``bandax.arm_features`` in its metadata; JSON Lines has no place for
    it, so there ``load.arm_features`` says it (else the context is shared)."""
    data = _data()
    cols = events_from_logged(data, policy_version="v1", algorithm="uniform",
                              exploration={}, start="2026-01-01T00:00:00")
    path = str(tmp_path / f"log.{fmt}")
    write_events(path, cols)
    log = read_events(path)
    want = D if fmt == "parquet" else 0
    assert log.data.arm_features == want and log.report["arm_features"] == want
    if fmt == "parquet":
        assert "bandax.arm_features" in log.report["arm_features_source"]
    log = read_events(path, arm_features=D)
    assert log.data.arm_features == D
    assert log.report["arm_features_source"] == "load.arm_features"
    np.testing.assert_array_equal(log.data.context, data.context)
    with pytest.raises(DataError, match=r"load.arm_features=5 needs contexts of n_arms·d"
                                        r" = 3·5 = 15 features"):
        read_events(path, arm_features=5)
    with pytest.raises(ConfigError, match="load.arm_features must be an integer >= 0"):
        read_events(path, arm_features=-2)


def test_writers_refuse_features_per_arm_that_disagree(tmp_path):
    cols = events_from_logged(_data(), policy_version="v1", algorithm="uniform",
                              exploration={}, start="2026-01-01T00:00:00")
    with pytest.raises(DataError, match="the features per arm must agree: arm_features "
                                        "is 6, the columns' arm_features is 4"):
        write_events(str(tmp_path / "x.parquet"), cols, arm_features=6)


def test_supervised_logs_per_arm_are_the_disjoint_encoding_of_the_same_rows():
    shared, truth = supervised_logs("wine", 3, 200)
    per_arm, truth_arm = supervised_logs("wine", 3, 200, per_arm=True)
    k, d = 3, load_table("wine").context.shape[1]
    assert per_arm.arm_features == k * d and per_arm.dim == k * k * d
    np.testing.assert_array_equal(per_arm.action, shared.action)
    np.testing.assert_array_equal(per_arm.reward, shared.reward)
    blocks = per_arm.context.reshape(200, k, k, d)
    for a in range(k):
        np.testing.assert_array_equal(blocks[:, a, a], shared.context)
        assert not blocks[:, a, np.arange(k) != a].any()
    np.testing.assert_array_equal(disjoint_contexts(shared.context, k), per_arm.context)
    # the same target, read from either encoding, has the same exact value
    first_block = lambda x: x[:, :d]  # noqa: E731  (arm 0's block 0 is x)
    target = lambda x: np.eye(k)[np.argmax(x[:, :k], 1)]  # noqa: E731
    assert truth(target) == truth_arm(lambda x: target(first_block(x)))
