"""Writing decision-event logs: the columns of logged data, streamed batches, column checks
and the declared number of arms."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from event_logs import event_columns, logged_data

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import DataError
from envs.data.events import (
    EventWriter,
    event_schema,
    events_from_logged,
    read_events,
    write_events,
)
from envs.data.logged import LoggedData


def test_events_from_logged():
    data = logged_data(n=12, k=3)
    start = np.datetime64("2026-03-01T12:00:00", "us")
    cols = events_from_logged(data, policy_version="v7", algorithm="lin_ucb",
                              exploration={"alpha": np.float32(0.5)}, start=start,
                              interval_s=0.5, reward_delay_s=30.0, event_prefix="run1-")
    assert cols["event_id"][0] == b"run1-0000000" and cols["event_id"][11] == b"run1-0000011"
    assert cols["timestamp"][3] == start + np.timedelta64(1500, "ms")
    np.testing.assert_array_equal(cols["reward_timestamp"] - cols["timestamp"],
                                  np.full(12, np.timedelta64(30, "s")))
    np.testing.assert_array_equal(cols["eligible_actions"], data.mask)
    np.testing.assert_array_equal(cols["action"], data.action)
    np.testing.assert_array_equal(cols["propensity"], data.pscore)
    assert json.loads(cols["exploration"][5]) == {"alpha": 0.5}
    assert set(cols["algorithm"]) == {b"lin_ucb"} and "user_id" not in cols
    no_mask = LoggedData.from_arrays(context=data.context, action=data.action,
                                     reward=data.reward, pscore=data.pscore, n_arms=3)
    assert "eligible_actions" not in events_from_logged(
        no_mask, policy_version="v", algorithm="a", exploration={}, start=start)
    with pytest.raises(ValueError, match=r"scores must have shape \(n, n_arms\)=\(12, 3\)"):
        events_from_logged(data, policy_version="v", algorithm="a", exploration={},
                           start=start, scores=np.zeros((12, 2)))
    with pytest.raises(ValueError, match="exploration must be a dict"):
        events_from_logged(data, policy_version="v", algorithm="a", exploration="eps=0.1",
                           start=start)


def test_writer_streams_batches_and_checks_columns(tmp_path):
    cols = event_columns()
    path = tmp_path / "log.parquet"
    with EventWriter(path, dim=3, with_scores=True) as w:
        w.write({k: v[:10] if np.ndim(v) else v for k, v in cols.items()})
        w.write({k: v[10:] if np.ndim(v) else v for k, v in cols.items()})
    assert pq.ParquetFile(path).metadata.num_row_groups == 2
    assert pq.read_schema(path).field("context").type == pa.list_(pa.float32(), 3)
    assert event_schema(3).field("action").nullable is False
    assert "scores" not in event_schema(3).names
    with EventWriter(tmp_path / "x.parquet", dim=3, with_scores=True) as w:
        with pytest.raises(ValueError, match="missing required columns: propensity"):
            w.write({k: v for k, v in cols.items() if k != "propensity"})
        with pytest.raises(ValueError, match=r"unknown event columns \['clicks'\]"):
            w.write({**cols, "clicks": cols["action"]})
        with pytest.raises(ValueError, match=r"context must have shape \(n, dim\)=\(23, 3\)"):
            w.write({**cols, "context": cols["context"][:, :2]})
    with EventWriter(tmp_path / "y.csv", dim=3) as w:
        with pytest.raises(ValueError, match="opened with with_scores=False"):
            w.write(cols)
    with pytest.raises(ValueError, match="unknown log format '.txt'"):
        write_events(tmp_path / "log.txt", cols)


def test_writer_takes_a_million_row_batch_of_repeated_text(tmp_path):
    """pyarrow returns some large text inputs as chunked arrays; one write of 10⁶ rows with
    a repeated 20-byte exploration string must still produce one valid file."""
    import pyarrow.parquet as pq

    from envs.data.events import EventWriter

    n = 1_000_000
    cols = {"event_id": np.char.add(b"e", np.arange(n).astype("S7")),
            "timestamp": np.datetime64("2026-01-01", "us") + np.arange(n).astype("m8[us]"),
            "context": np.zeros((n, 1), np.float32), "action": np.zeros(n, np.int64),
            "propensity": np.ones(n), "exploration": np.full(n, b'{"temperature": 0.5}')}
    with EventWriter(str(tmp_path / "big.parquet"), dim=1) as w:
        w.write(cols)
    t = pq.read_table(tmp_path / "big.parquet", columns=["exploration"])
    assert t.num_rows == n and t["exploration"][n - 1].as_py() == '{"temperature": 0.5}'


def test_writers_declare_the_arm_count_they_know(tmp_path):
    cols = event_columns(logged_data(n=9, k=4))
    cols.pop("n_arms")
    write_events(tmp_path / "mask.parquet", cols)  # from the eligible mask's width
    assert pq.read_schema(tmp_path / "mask.parquet").metadata[b"bandax.n_arms"] == b"4"
    plain = {k: v for k, v in cols.items() if k not in ("eligible_actions", "scores")}
    write_events(tmp_path / "plain.parquet", plain)
    assert pq.read_schema(tmp_path / "plain.parquet").metadata is None
    write_events(tmp_path / "given.parquet", plain, n_arms=6)
    assert pq.read_schema(tmp_path / "given.parquet").metadata[b"bandax.n_arms"] == b"6"
    with EventWriter(tmp_path / "w.parquet", dim=3, n_arms=4, with_scores=True) as w:
        w.write(cols)
        with pytest.raises(DataError, match="the number of arms must agree: n_arms is 4, "
                                            "the width of eligible_actions is 5"):
            w.write({**cols, "eligible_actions": np.ones((9, 5), bool), "scores": None})
    with pytest.raises(DataError, match="the columns' n_arms is 3, the width of "
                                        "eligible_actions is 4"):
        write_events(tmp_path / "x.parquet", {**cols, "n_arms": 3})
    with EventWriter(tmp_path / "empty.parquet", dim=3, n_arms=4):
        pass  # no rows: still a file with its schema and count
    assert pq.read_schema(tmp_path / "empty.parquet").metadata[b"bandax.n_arms"] == b"4"
    table = pq.read_table(tmp_path / "plain.parquet")
    pq.write_table(table.replace_schema_metadata({b"bandax.n_arms": b"four"}),
                   tmp_path / "badmeta.parquet")
    with pytest.raises(DataError, match="the metadata bandax.n_arms must be an integer >= 1 "
                                        r"\(the number of arms\), found 'four'"):
        read_events(tmp_path / "badmeta.parquet", missing_reward=0.0)
