"""Reject mode: every bad row set aside with its reason and value, the rest kept."""

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest
from event_logs import FORMATS, bad_file, edit_csv, event_columns

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import ConfigError
from envs.data.events import read_events, write_events


@pytest.mark.parametrize("rejects_fmt", FORMATS)
def test_reject_mode_sets_every_bad_row_aside(tmp_path, capsys, rejects_fmt):
    cols = event_columns()  # rows 3 and 7 pending
    cols["propensity"][[1, 12]] = 1.5
    cols["event_id"][15] = cols["event_id"][2]  # duplicate: row 2 is kept
    cols["event_id"][16] = cols["event_id"][1]  # duplicate of a rejected row
    path = tmp_path / "log.csv"
    write_events(path, cols)
    edit_csv(19, action="x9")(path)
    rejects = tmp_path / f"rejects.{rejects_fmt}"
    log = read_events(path, on_invalid="reject", rejects_path=str(rejects), batch_rows=7)
    expect = {"propensity:range": 2, "reward:missing": 2, "action:type": 1,
              "event_id:duplicate": 2}
    assert log.report["rejected"] == expect
    assert log.report["rows_rejected"] == 7 and log.report["rows_kept"] == 16
    bad = [1, 3, 7, 12, 15, 16, 19]
    kept = np.setdiff1d(np.arange(23), bad)
    np.testing.assert_array_equal(log.event_id, cols["event_id"][kept])
    np.testing.assert_array_equal(log.data.context, cols["context"][kept])
    np.testing.assert_array_equal(log.position, cols["position"][kept])
    out = capsys.readouterr().out
    assert "kept 16 of 23 rows; rejected 7" in out and "propensity:range: 2" in out
    read = {"parquet": pq.read_table, "csv": pcsv.read_csv, "jsonl": pj.read_json}
    rej = read[rejects_fmt](rejects).to_pydict()
    by_row = dict(zip(rej["source_row"], rej["reject_reason"]))
    assert by_row == {1: "propensity:range", 12: "propensity:range", 3: "reward:missing",
                      7: "reward:missing", 19: "action:type", 15: "event_id:duplicate",
                      16: "event_id:duplicate"}
    values = dict(zip(rej["source_row"], rej["reject_value"]))
    assert values[19] == "x9" and values[1] == "1.5" and values[15] == "ev0000002"
    ids = dict(zip(rej["source_row"], rej["event_id"]))
    assert ids[12] == "ev0000012" and ids[16] == "ev0000001"
    props = dict(zip(rej["source_row"], rej["propensity"]))
    assert props[12] == 1.5 and props[3] == pytest.approx(cols["propensity"][3])


def test_reject_mode_needs_a_path_and_keeps_something(tmp_path):
    path = bad_file(tmp_path, "parquet")
    with pytest.raises(ConfigError, match="load.on_invalid=reject needs load.rejects_path"):
        read_events(path, on_invalid="reject")
    with pytest.raises(ConfigError, match="load.on_invalid must be 'raise' or 'reject'"):
        read_events(path, on_invalid="drop")
    log = read_events(path, on_invalid="reject", rejects_path=str(tmp_path / "r.jsonl"))
    assert log.report["rejected"] == {} and (tmp_path / "r.jsonl").read_text() == ""
    cols = event_columns()
    cols["propensity"][:] = 0.0
    write_events(tmp_path / "zero.parquet", cols)
    with pytest.raises(ValueError, match="no valid rows: all 23 rows were rejected"):
        read_events(tmp_path / "zero.parquet", on_invalid="reject",
                    rejects_path=str(tmp_path / "r.parquet"))


def test_rejected_null_list_items_written_as_nan_in_csv(tmp_path):
    cols = event_columns()  # scores[6, 1] is NaN: null in JSON Lines
    cols["reward"] = np.nan_to_num(cols["reward"])
    cols["propensity"][6] = 7.0
    write_events(tmp_path / "log.jsonl", cols)
    read_events(tmp_path / "log.jsonl", on_invalid="reject",
                rejects_path=str(tmp_path / "rej.csv"))
    rej = pcsv.read_csv(tmp_path / "rej.csv").to_pydict()
    assert rej["source_row"] == [6] and rej["reject_reason"] == ["propensity:range"]
    assert rej["scores"][0].split()[1] == "nan" and len(rej["scores"][0].split()) == 4
