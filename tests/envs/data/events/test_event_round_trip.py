"""Decision-event logs written and read back: the same arrays in every format, in any
number of batches."""

import json

import numpy as np
import pytest
from event_logs import FORMATS, START, assert_same_log, event_columns, logged_data

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from envs.data.events import read_events, write_events


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, fmt):
    data = logged_data()
    cols = event_columns(data)
    path = tmp_path / f"log.{fmt}"
    write_events(path, cols, batch_rows=5)
    log = read_events(path, missing_reward=0.0)
    assert_same_log(log, cols, data)
    assert log.timestamp[1] == START + np.timedelta64(250001, "us")  # to the microsecond
    assert log.report["rows_read"] == log.report["rows_kept"] == 23
    assert log.report["rewards_filled"] == 2 and log.report["rejected"] == {}
    assert log.report["dim"] == 3 and log.report["format"] == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_many_batches_give_the_same_arrays(tmp_path, fmt):
    data = logged_data(n=23)
    cols = event_columns(data)
    path = tmp_path / f"log.{fmt}"
    write_events(path, cols)
    one = read_events(path, missing_reward=0.0, n_arms=4)
    many = read_events(path, missing_reward=0.0, n_arms=4, batch_rows=7)
    assert one.report["batches"] == 1 and many.report["batches"] == 4  # 7+7+7+2
    assert_same_log(many, cols, data)
    for f in ("event_id", "timestamp", "user_id", "position", "scores", "has_reward"):
        np.testing.assert_array_equal(getattr(many, f), getattr(one, f))


@pytest.mark.parametrize("fmt", ("csv", "jsonl"))
def test_text_needing_escapes_survives(tmp_path, fmt):
    data = logged_data(n=8)
    cols = event_columns(data)
    cols["user_id"] = np.array(['a"b', "back\\slash", "new\nline, comma", "é ✓", "{}", "'q'",
                                "tab\there", "ctl\x01"], dtype=object)
    cols["exploration"] = np.full(8, json.dumps({"note": 'say "hi"\t', "eps": 0.1}))
    path = tmp_path / f"log.{fmt}"
    write_events(path, cols)
    log = read_events(path, missing_reward=0.0)
    assert [u.decode() for u in log.user_id] == list(cols["user_id"])
    assert json.loads(log.exploration[0]) == {"note": 'say "hi"\t', "eps": 0.1}


def test_optional_columns_absent(tmp_path):
    cols = {k: v for k, v in event_columns().items()
            if k in ("event_id", "timestamp", "context", "action", "propensity", "reward")}
    cols["reward"] = np.nan_to_num(cols["reward"])
    for fmt in FORMATS:
        write_events(tmp_path / f"min.{fmt}", cols)
        log = read_events(tmp_path / f"min.{fmt}")
        assert log.user_id is None and log.position is None and log.scores is None
        assert log.data.mask.all() and log.has_reward.all()
        assert set(log.algorithm) == {b""}
