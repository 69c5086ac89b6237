"""The row rules of decision-event logs: each rule names the field, the value and the row."""

import numpy as np
import pyarrow.json as pj
import pytest
from event_logs import FORMATS, bad_file, edit_csv, edit_jsonl, event_columns

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import DataError
from envs.data.events import read_events, write_events


@pytest.mark.parametrize("fmt, cols_kw, edit, n_arms, message", [
    ("parquet", {"propensity": (4, 1.5)}, None, None,
     r"propensity must be in \(0, 1\]; row 4 has 1.5 \(1 row with this problem"),
    ("csv", {"propensity": (2, 0.0)}, None, None, r"propensity must be in \(0, 1\]; row 2 has 0"),
    ("parquet", {"propensity": (1, np.nan)}, None, None,
     "propensity must be finite; row 1 has nan"),
    ("parquet", {"reward": (6, np.inf)}, None, None, "reward must be finite; row 6 has inf"),
    ("jsonl", {}, edit_jsonl(5, action=7), 4, r"action must be in \[0, 3\]; row 5 has 7"),
    ("jsonl", {}, edit_jsonl(5, action=-2), None,
     r"action must be in \[0, 3\]; row 5 has -2 \(1 row with this problem in rows 0\.\.6, "
     r"where reading stopped\)$"),
    ("jsonl", {}, edit_jsonl(8, eligible_actions=[0, 1], action=3), None,
     r"action must be one of the row's eligible_actions; row 8 logs action 3 but "
     r"eligible_actions is \[0, 1\]"),
    ("jsonl", {}, edit_jsonl(2, eligible_actions=[0, 1, 2, 3, 9]), 4,
     r"eligible_actions must hold arm ids in \[0, 3\]; row 2 has \[0, 1, 2, 3, 9\]"),
    ("jsonl", {}, edit_jsonl(4, context=[0.5, 1.5]), None,
     r"context must have 3 values \(the file's dimension\); row 4 has 2 values: \[0.5, 1.5\]"),
    ("jsonl", {}, edit_jsonl(2, timestamp=KeyError), None, "timestamp is required; row 2 is null"),
    ("csv", {}, edit_csv(3, propensity=""), None, "propensity is required; row 3 is null"),
    ("csv", {}, edit_csv(1, action="three"), None,
     "action must be an integer; row 1 has 'three'"),
    ("jsonl", {}, edit_jsonl(7, action="three"), None,
     "action must be an integer; row 7 has '\"three\"'"),
    ("csv", {}, edit_csv(9, timestamp="yesterday"), None,
     "timestamp must be an ISO-8601 UTC timestamp; row 9 has 'yesterday'"),
    ("csv", {}, edit_csv(2, context_1="1.5.2"), None,
     "context must be a list of numbers; row 2 has 'context_1=1.5.2'"),
    ("jsonl", {}, edit_jsonl(3, position=-4), None, "position must be >= 0; row 3 has -4"),
    ("jsonl", {}, edit_jsonl(10, scores=[0.1, 0.2]), None,
     r"scores must have 4 values, one per arm \(as in row 0\); row 10 has 2 values: "
     r"\[0.1, 0.2\]"),
    ("csv", {}, edit_csv(0, exploration="eps=0.1"), None,
     "exploration must be a JSON object; row 0 has 'eps=0.1'"),
    ("parquet", {"event_id": (9, b"ev0000002")}, None, None,
     "event_id must be unique; 'ev0000002' is in rows 2 and 9 \\(1 row repeats"),
])
def test_each_rule_names_field_value_and_row(tmp_path, fmt, cols_kw, edit, n_arms, message):
    path = bad_file(tmp_path, fmt, edit, **cols_kw)
    with pytest.raises(ValueError, match=message):
        read_events(path, n_arms=n_arms, batch_rows=7)


def test_context_must_be_finite(tmp_path):
    path = bad_file(tmp_path, "parquet", context=(12, [0.5, np.inf, 1.0]))
    with pytest.raises(ValueError, match=r"context must be finite; row 12 has \[0.5, inf, 1\]"):
        read_events(path)


def test_count_of_rows_sharing_a_problem(tmp_path):
    cols = event_columns()
    cols["reward"] = np.nan_to_num(cols["reward"])
    cols["propensity"][[4, 9, 11]] = 2.0
    write_events(tmp_path / "log.parquet", cols)
    with pytest.raises(ValueError, match=r"row 4 has 2.0 \(3 rows with this problem in rows "
                                         r"0\.\.22"):
        read_events(tmp_path / "log.parquet")


def test_duplicate_ids_across_batches(tmp_path):
    path = bad_file(tmp_path, "csv", event_id=(20, b"ev0000001"))
    with pytest.raises(ValueError, match="'ev0000001' is in rows 1 and 20"):
        read_events(path, batch_rows=7)


def test_empty_eligible_set_is_a_row_error_in_every_format(tmp_path):
    cases = [("csv", edit_csv(4, eligible_actions="  "), "'  '"),
             ("csv", edit_csv(4, eligible_actions="\t"), r"'\\t'"),
             ("jsonl", edit_jsonl(4, eligible_actions=[]), r"\[\]")]
    for fmt, edit, shown in cases:
        path = bad_file(tmp_path, fmt, edit)
        with pytest.raises(DataError, match=r"eligible_actions must name at least one arm "
                                            r"\(null, or an empty CSV cell, means every "
                                            rf"arm\); row 4 has {shown}, no arm \(1 row"):
            read_events(path)
    cols = event_columns()
    cols["reward"] = np.nan_to_num(cols["reward"])
    cols["eligible_actions"][4] = False  # written as an empty list, never as null
    for fmt in FORMATS:
        write_events(tmp_path / f"empty.{fmt}", cols)
        with pytest.raises(DataError, match="eligible_actions must name at least one arm.*"
                                            "row 4 has"):
            read_events(tmp_path / f"empty.{fmt}")


def test_empty_csv_cell_is_null_and_whitespace_is_rejected_with_its_text(tmp_path):
    path = bad_file(tmp_path, "csv", edit_csv(4, eligible_actions=""))
    log = read_events(path)
    assert log.data.mask[4].all() and not log.data.mask.all()
    edit_csv(6, eligible_actions=" ")(path)
    log = read_events(path, on_invalid="reject", rejects_path=str(tmp_path / "rej.jsonl"))
    assert log.report["rejected"] == {"eligible_actions:empty": 1} and log.n_rows == 22
    rej = pj.read_json(tmp_path / "rej.jsonl").to_pydict()
    assert rej["source_row"] == [6] and rej["reject_value"] == [" "]


def test_empty_scores_are_a_row_error_not_a_crash(tmp_path):
    path = bad_file(tmp_path, "jsonl", edit_jsonl(0, scores=[]))
    with pytest.raises(DataError, match=r"scores must have 4 values, one per arm \(as in row "
                                        r"1\); row 0 has 0 values: \[\]"):
        read_events(path)
