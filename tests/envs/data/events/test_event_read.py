"""Reading decision-event logs: pending rewards, timestamp spellings, null eligible sets,
fields that are not event fields, and file problems."""

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from event_logs import FORMATS, bad_file, edit_jsonl, event_columns

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import ConfigError, DataError
from envs.data.events import read_events, write_events


def test_missing_reward_policy(tmp_path):
    cols = event_columns()
    path = tmp_path / "log.parquet"
    write_events(path, cols)
    with pytest.raises(DataError, match=r"reward is missing \(pending\); row 3 is null "
                                        r"\(2 rows .*; give pending rewards a value, e.g. "
                                        r"load.missing_reward=0 for clicks, or set pending "
                                        r"rows aside with load.on_invalid=reject") as err:
        read_events(path)
    assert "read_events(" not in str(err.value) and " missing_reward=" not in str(err.value)
    log = read_events(path, missing_reward=-1.0)
    assert log.report["rewards_filled"] == 2
    assert log.data.reward[3] == -1.0 and log.data.reward[7] == -1.0
    assert not log.has_reward[[3, 7]].any() and log.has_reward.sum() == 21
    with pytest.raises(ConfigError, match="load.missing_reward must be a finite number"):
        read_events(path, missing_reward=float("nan"))


def test_timestamp_spellings(tmp_path):
    """An offset is honoured, no offset means UTC; naive Parquet timestamps are UTC."""
    head = "event_id,timestamp,context,action,propensity,reward\n"
    rows = ["a,2026-01-01T00:00:00Z,0.5 1,0,1,0", "b,2026-01-01 00:00:00.5,0.5 1,0,1,0",
            "c,2026-01-01T01:00:01+01:00,0.5 1,0,1,0"]
    (tmp_path / "t.csv").write_text(head + "\n".join(rows) + "\n")
    log = read_events(tmp_path / "t.csv")
    t0 = np.datetime64("2026-01-01T00:00:00", "us")
    np.testing.assert_array_equal(
        log.timestamp, t0 + np.array([0, 500_000, 1_000_000]).astype("timedelta64[us]"))
    np.testing.assert_array_equal(log.data.context, [[0.5, 1]] * 3)  # one context cell
    table = pa.table({"event_id": ["a"], "timestamp": pa.array([1_000], pa.timestamp("ms")),
                      "context": [[0.5]], "action": [0], "propensity": [1.0],
                      "reward": [1.0]})
    pq.write_table(table, tmp_path / "naive.parquet")
    assert read_events(tmp_path / "naive.parquet").timestamp[0] == np.datetime64(
        "1970-01-01T00:00:01", "us")


@pytest.mark.parametrize("n_arms", [None, 4])
def test_null_eligible_set_means_every_arm(tmp_path, n_arms):
    path = bad_file(tmp_path, "jsonl", edit_jsonl(6, eligible_actions=None))
    log = read_events(path, n_arms=n_arms)
    assert log.data.mask[6].all() and log.data.mask.shape == (23, 4)
    assert not log.data.mask[[0, 1, 2, 3, 4, 5]].all()  # the others keep their sets


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_fields_are_listed_in_every_format(tmp_path, fmt):
    cols = event_columns()
    write_events(tmp_path / "log.parquet", cols)
    table = pq.read_table(tmp_path / "log.parquet")
    table = table.append_column("session", pa.array([f"s{i}" for i in range(23)]))
    path = tmp_path / f"extra.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        write_events(path, cols)
        if fmt == "csv":
            with open(path, newline="") as fh:
                rows = list(csv.reader(fh))
            rows = [r + (["session"] if i == 0 else [f"s{i - 1}"]) for i, r in enumerate(rows)]
            with open(path, "w", newline="") as fh:
                csv.writer(fh).writerows(rows)
        else:
            edit_jsonl(0, session="s0")(path)
            edit_jsonl(9, debug={"k": 1})(path)  # a key that only a later line has
    log = read_events(path, missing_reward=0.0)
    expect = ["session", "debug"] if fmt == "jsonl" else ["session"]
    assert log.report["ignored_columns"] == expect
    assert log.n_rows == 23


def test_unknown_json_keys_listed_when_the_block_is_reparsed(tmp_path):
    """Keys of changing type make Arrow refuse the block; the line-by-line path must
    still name them and read every row."""
    path = bad_file(tmp_path, "jsonl", edit_jsonl(2, note=1))
    edit_jsonl(5, note="text", extra=[1, 2])(path)
    log = read_events(path)
    assert log.report["ignored_columns"] == ["note", "extra"] and log.n_rows == 23


def test_missing_columns_and_wrong_types(tmp_path):
    cols = event_columns()
    write_events(tmp_path / "log.parquet", cols)
    table = pq.read_table(tmp_path / "log.parquet")
    pq.write_table(table.drop_columns(["action", "propensity"]), tmp_path / "cut.parquet")
    with pytest.raises(ValueError, match="missing required columns: action, propensity"):
        read_events(tmp_path / "cut.parquet")
    i = table.schema.get_field_index("action")
    as_float = table.set_column(i, "action", table.column("action").cast(pa.float64()))
    pq.write_table(as_float, tmp_path / "float.parquet")
    with pytest.raises(ValueError, match="column 'action' has the wrong type: expected an "
                                         "integer, found double"):
        read_events(tmp_path / "float.parquet")
    (tmp_path / "nocol.csv").write_text("event_id,timestamp,context_0,action\n"
                                        "a,2026-01-01T00:00:00Z,0.5,1\n")
    with pytest.raises(ValueError, match="missing required columns: propensity"):
        read_events(tmp_path / "nocol.csv")
    (tmp_path / "gap.csv").write_text("event_id,context_0,context_2\n")
    with pytest.raises(ValueError, match="context columns must be context_0"):
        read_events(tmp_path / "gap.csv")


def test_malformed_json_line_names_the_row(tmp_path):
    path = bad_file(tmp_path, "jsonl")
    lines = path.read_text().splitlines()
    lines[6] = lines[6][:-5]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="row 6 is not valid JSON"):
        read_events(path)


def test_file_problems_are_data_errors(tmp_path):
    cols = event_columns()
    write_events(tmp_path / "log.parquet", cols)
    table = pq.read_table(tmp_path / "log.parquet")
    pq.write_table(table.drop_columns(["propensity"]), tmp_path / "cut.parquet")
    with pytest.raises(DataError, match="missing required columns: propensity"):
        read_events(tmp_path / "cut.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_events(tmp_path / "junk.parquet")
    (tmp_path / "ragged.csv").write_text("event_id,timestamp,context_0,action,propensity\n"
                                         "a,2026-01-01T00:00:00Z,0.5,1\n")
    with pytest.raises(DataError, match="malformed CSV"):
        read_events(tmp_path / "ragged.csv")
    with pytest.raises(DataError, match="no such log file"):
        read_events(tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match="unknown log format '.txt'"):
        read_events(tmp_path / "log.txt")
