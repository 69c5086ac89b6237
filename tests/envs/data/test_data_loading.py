"""The gate's loading: reward files in every format through the one format choice, and
their problems named."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from envs.data.loading import describe_load, read_reward_events

ROWS = [{"event_id": "ev0000001", "user_id": "u1", "timestamp": "2026-01-01T00:00:01Z",
         "value": 1.0},
        {"event_id": None, "user_id": "007", "timestamp": "2026-01-01T01:00:02+01:00",
         "value": 0.5}]


def _write(path, rows):
    table = pa.Table.from_pylist(rows)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_reward_events_in_every_format(tmp_path, fmt):
    path = tmp_path / f"rewards.{fmt}"
    _write(path, ROWS)
    ev = read_reward_events(str(path))
    assert ev["event_id"].tolist() == ["ev0000001", ""]
    assert ev["user_id"].tolist() == ["u1", "007"]  # ids stay text, even in CSV
    np.testing.assert_array_equal(ev["timestamp"], np.array(
        ["2026-01-01T00:00:01", "2026-01-01T00:00:02"], "datetime64[us]"))
    assert ev["value"].dtype == np.float64 and ev["value"].tolist() == [1.0, 0.5]


def test_reward_file_problems_are_named(tmp_path):
    with pytest.raises(ValueError, match="rewards.path: no such file"):
        read_reward_events(str(tmp_path / "absent.csv"))
    (tmp_path / "r.txt").write_text("x")
    with pytest.raises(ValueError, match="rewards.path: unknown log format '.txt'"):
        read_reward_events(str(tmp_path / "r.txt"))
    _write(tmp_path / "r.csv", [{k: v for k, v in r.items() if k not in ("event_id",
                                                                           "user_id")}
                                for r in ROWS])
    with pytest.raises(ValueError, match="lack the column.s. user_id or event_id"):
        read_reward_events(str(tmp_path / "r.csv"))
    _write(tmp_path / "t.csv", [{**r, "timestamp": "soon"} for r in ROWS])
    with pytest.raises(ValueError, match="timestamp must be ISO-8601 text"):
        read_reward_events(str(tmp_path / "t.csv"))


def test_describe_load_names_what_was_loaded():
    lines = describe_load({"rows_read": 1200, "format": "csv", "rows_kept": 1100,
                           "rows_rejected": 100, "rejected": {"propensity:range": 100},
                           "n_arms": 5, "n_arms_source": "inferred",
                           "n_arms_from": "1 + the largest action id 4",
                           "arms_without_rows": [1, 2, 3], "dim": 4})
    assert lines == ["rows: 1,200 read (csv), 1,100 kept, 100 rejected",
                     "rejected by reason: propensity:range 100",
                     "arms: 5 (1 + the largest action id 4; declare it with load.n_arms=K); "
                     "3 arm ids have no rows: 1..3", "features: 4"]
    assert describe_load(None) == []
