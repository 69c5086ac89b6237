"""Decision-event logs: round trips in every format, and each validation rule named."""

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import ConfigError, DataError
from envs.data.events import (
    EventWriter,
    event_schema,
    events_from_logged,
    read_events,
    write_events,
)
from envs.data.logged import LoggedData

FORMATS = ("parquet", "csv", "jsonl")
START = np.datetime64("2026-01-01T00:00:00.123456", "us")


def _logged(n=23, k=4, d=3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, k)) < 0.6
    mask[np.arange(n), rng.integers(0, k, n)] = True
    probs = mask / mask.sum(1, keepdims=True)
    action = (probs.cumsum(1) > rng.random((n, 1))).argmax(1)
    return LoggedData.from_arrays(context=rng.standard_normal((n, d)).astype(np.float32),
                                  action=action, reward=rng.random(n),
                                  pscore=probs[np.arange(n), action], mask=mask, n_arms=k)


def _columns(data=None, **kw):
    """A full event log: users (one null), positions (every third null), scores (one null
    row, one NaN score), two pending rewards."""
    data = data or _logged()
    n, k = data.n_rows, data.n_arms
    rng = np.random.default_rng(1)
    users = np.char.add(b"u", np.arange(n).astype("S4"))
    users[5] = b""
    scores = rng.standard_normal((n, k))
    scores[4] = np.nan
    scores[6, 1] = np.nan
    cols = events_from_logged(
        data, policy_version="softmax-0.5", algorithm="softmax",
        exploration={"temperature": 0.5}, start=START, interval_s=0.250001, user_id=users,
        position=np.where(np.arange(n) % 3 == 0, -1, np.arange(n) % 3), scores=scores,
        reward_delay_s=1.5, **kw)
    cols["reward"][[3, 7]] = np.nan
    cols["reward_timestamp"][[3, 7]] = np.datetime64("NaT")
    return cols


def _assert_same(log, cols, data):
    np.testing.assert_array_equal(log.event_id, cols["event_id"])
    np.testing.assert_array_equal(log.timestamp, cols["timestamp"])
    np.testing.assert_array_equal(log.reward_timestamp, cols["reward_timestamp"])
    np.testing.assert_array_equal(log.user_id, cols["user_id"])
    np.testing.assert_array_equal(log.position, cols["position"])
    np.testing.assert_array_equal(log.scores, cols["scores"].astype(np.float32))
    for f in ("policy_version", "algorithm", "exploration"):
        np.testing.assert_array_equal(getattr(log, f), cols[f])
    d = log.data
    assert d.context.dtype == np.float32 and d.action.dtype == np.int32
    np.testing.assert_array_equal(d.context, data.context)
    np.testing.assert_array_equal(d.action, data.action)
    np.testing.assert_array_equal(d.pscore, data.pscore)
    np.testing.assert_array_equal(d.mask, data.mask)
    pending = np.isnan(cols["reward"])
    np.testing.assert_array_equal(log.has_reward, ~pending)
    np.testing.assert_array_equal(d.reward, np.where(pending, 0.0, cols["reward"])
                                  .astype(np.float32))
    assert d.n_arms == data.n_arms


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, fmt):
    data = _logged()
    cols = _columns(data)
    path = tmp_path / f"log.{fmt}"
    write_events(path, cols, batch_rows=5)
    log = read_events(path, missing_reward=0.0)
    _assert_same(log, cols, data)
    assert log.timestamp[1] == START + np.timedelta64(250001, "us")  # to the microsecond
    assert log.report["rows_read"] == log.report["rows_kept"] == 23
    assert log.report["rewards_filled"] == 2 and log.report["rejected"] == {}
    assert log.report["dim"] == 3 and log.report["format"] == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_many_batches_give_the_same_arrays(tmp_path, fmt):
    data = _logged(n=23)
    cols = _columns(data)
    path = tmp_path / f"log.{fmt}"
    write_events(path, cols)
    one = read_events(path, missing_reward=0.0, n_arms=4)
    many = read_events(path, missing_reward=0.0, n_arms=4, batch_rows=7)
    assert one.report["batches"] == 1 and many.report["batches"] == 4  # 7+7+7+2
    _assert_same(many, cols, data)
    for f in ("event_id", "timestamp", "user_id", "position", "scores", "has_reward"):
        np.testing.assert_array_equal(getattr(many, f), getattr(one, f))


@pytest.mark.parametrize("fmt", ("csv", "jsonl"))
def test_text_needing_escapes_survives(tmp_path, fmt):
    data = _logged(n=8)
    cols = _columns(data)
    cols["user_id"] = np.array(['a"b', "back\\slash", "new\nline, comma", "é ✓", "{}", "'q'",
                                "tab\there", "ctl\x01"], dtype=object)
    cols["exploration"] = np.full(8, json.dumps({"note": 'say "hi"\t', "eps": 0.1}))
    path = tmp_path / f"log.{fmt}"
    write_events(path, cols)
    log = read_events(path, missing_reward=0.0)
    assert [u.decode() for u in log.user_id] == list(cols["user_id"])
    assert json.loads(log.exploration[0]) == {"note": 'say "hi"\t', "eps": 0.1}


def test_events_from_logged():
    data = _logged(n=12, k=3)
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
    cols = _columns()
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


def test_n_arms_inferred_from_largest_arm_id(tmp_path):
    data = _logged(n=10, k=6)
    cols = _columns(data)
    cols.pop("scores")
    cols["action"] = np.minimum(cols["action"], 2)  # actions at most 2 ...
    mask = np.zeros((10, 6), bool)
    mask[np.arange(10), cols["action"]] = True
    mask[4, 5] = True  # ... but arm 5 is eligible in row 4
    cols["eligible_actions"] = mask
    path = tmp_path / "log.jsonl"
    write_events(path, cols)
    log = read_events(path, missing_reward=0.0)
    assert log.report["n_arms"] == 6 and log.report["n_arms_inferred"] is True
    assert log.data.mask.shape == (10, 6) and log.data.mask[4, 5]
    given = read_events(path, missing_reward=0.0, n_arms=8)
    assert given.data.n_arms == 8 and given.report["n_arms_inferred"] is False
    cols.pop("eligible_actions")  # no eligible sets: only the actions count
    write_events(path, cols)
    log = read_events(path, missing_reward=0.0)
    assert log.data.n_arms == 3 and log.data.mask.all() and log.user_id is not None


def test_optional_columns_absent(tmp_path):
    cols = {k: v for k, v in _columns().items()
            if k in ("event_id", "timestamp", "context", "action", "propensity", "reward")}
    cols["reward"] = np.nan_to_num(cols["reward"])
    for fmt in FORMATS:
        write_events(tmp_path / f"min.{fmt}", cols)
        log = read_events(tmp_path / f"min.{fmt}")
        assert log.user_id is None and log.position is None and log.scores is None
        assert log.data.mask.all() and log.has_reward.all()
        assert set(log.algorithm) == {b""}


def test_missing_reward_policy(tmp_path):
    cols = _columns()
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


# ------------------------------------------------------------------ validation rules


def _bad_file(tmp_path, fmt, edit=None, **cols_kw):
    """A valid log with columns changed (``cols_kw``: name -> (row, value))."""
    cols = _columns()
    cols["reward"] = np.nan_to_num(cols["reward"])
    for name, (row, value) in cols_kw.items():
        cols[name] = cols[name].copy()
        cols[name][row] = value
    path = tmp_path / f"bad.{fmt}"
    write_events(path, cols)
    if edit is not None:
        edit(path)
    return path


def _edit_jsonl(row, **changes):
    def edit(path):
        lines = path.read_text().splitlines()
        rec = json.loads(lines[row])
        for k, v in changes.items():
            if v is KeyError:
                rec.pop(k)
            else:
                rec[k] = v
        lines[row] = json.dumps(rec)
        path.write_text("\n".join(lines) + "\n")
    return edit


def _edit_csv(row, **changes):
    def edit(path):
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        for k, v in changes.items():
            rows[row + 1][rows[0].index(k)] = v
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return edit


@pytest.mark.parametrize("fmt, cols_kw, edit, n_arms, message", [
    ("parquet", {"propensity": (4, 1.5)}, None, None,
     r"propensity must be in \(0, 1\]; row 4 has 1.5 \(1 row with this problem"),
    ("csv", {"propensity": (2, 0.0)}, None, None, r"propensity must be in \(0, 1\]; row 2 has 0"),
    ("parquet", {"propensity": (1, np.nan)}, None, None,
     "propensity must be finite; row 1 has nan"),
    ("parquet", {"reward": (6, np.inf)}, None, None, "reward must be finite; row 6 has inf"),
    ("jsonl", {}, _edit_jsonl(5, action=7), 4, r"action must be in \[0, 3\]; row 5 has 7"),
    ("jsonl", {}, _edit_jsonl(5, action=-2), None,
     r"action must be in \[0, 3\]; row 5 has -2 \(1 row with this problem in rows 0\.\.6, "
     r"where reading stopped\)$"),
    ("jsonl", {}, _edit_jsonl(8, eligible_actions=[0, 1], action=3), None,
     r"action must be one of the row's eligible_actions; row 8 logs action 3 but "
     r"eligible_actions is \[0, 1\]"),
    ("jsonl", {}, _edit_jsonl(2, eligible_actions=[0, 1, 2, 3, 9]), 4,
     r"eligible_actions must hold arm ids in \[0, 3\]; row 2 has \[0, 1, 2, 3, 9\]"),
    ("jsonl", {}, _edit_jsonl(4, context=[0.5, 1.5]), None,
     r"context must have 3 values \(the file's dimension\); row 4 has 2 values: \[0.5, 1.5\]"),
    ("jsonl", {}, _edit_jsonl(2, timestamp=KeyError), None, "timestamp is required; row 2 is null"),
    ("csv", {}, _edit_csv(3, propensity=""), None, "propensity is required; row 3 is null"),
    ("csv", {}, _edit_csv(1, action="three"), None,
     "action must be an integer; row 1 has 'three'"),
    ("jsonl", {}, _edit_jsonl(7, action="three"), None,
     "action must be an integer; row 7 has '\"three\"'"),
    ("csv", {}, _edit_csv(9, timestamp="yesterday"), None,
     "timestamp must be an ISO-8601 UTC timestamp; row 9 has 'yesterday'"),
    ("csv", {}, _edit_csv(2, context_1="1.5.2"), None,
     "context must be a list of numbers; row 2 has 'context_1=1.5.2'"),
    ("jsonl", {}, _edit_jsonl(3, position=-4), None, "position must be >= 0; row 3 has -4"),
    ("jsonl", {}, _edit_jsonl(10, scores=[0.1, 0.2]), None,
     r"scores must have 4 values, one per arm \(as in row 0\); row 10 has 2 values: "
     r"\[0.1, 0.2\]"),
    ("csv", {}, _edit_csv(0, exploration="eps=0.1"), None,
     "exploration must be a JSON object; row 0 has 'eps=0.1'"),
    ("parquet", {"event_id": (9, b"ev0000002")}, None, None,
     "event_id must be unique; 'ev0000002' is in rows 2 and 9 \\(1 row repeats"),
])
def test_each_rule_names_field_value_and_row(tmp_path, fmt, cols_kw, edit, n_arms, message):
    path = _bad_file(tmp_path, fmt, edit, **cols_kw)
    with pytest.raises(ValueError, match=message):
        read_events(path, n_arms=n_arms, batch_rows=7)


def test_context_must_be_finite(tmp_path):
    path = _bad_file(tmp_path, "parquet", context=(12, [0.5, np.inf, 1.0]))
    with pytest.raises(ValueError, match=r"context must be finite; row 12 has \[0.5, inf, 1\]"):
        read_events(path)


def test_count_of_rows_sharing_a_problem(tmp_path):
    cols = _columns()
    cols["reward"] = np.nan_to_num(cols["reward"])
    cols["propensity"][[4, 9, 11]] = 2.0
    write_events(tmp_path / "log.parquet", cols)
    with pytest.raises(ValueError, match=r"row 4 has 2.0 \(3 rows with this problem in rows "
                                         r"0\.\.22"):
        read_events(tmp_path / "log.parquet")


def test_missing_columns_and_wrong_types(tmp_path):
    cols = _columns()
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
    path = _bad_file(tmp_path, "jsonl")
    lines = path.read_text().splitlines()
    lines[6] = lines[6][:-5]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="row 6 is not valid JSON"):
        read_events(path)


def test_duplicate_ids_across_batches(tmp_path):
    path = _bad_file(tmp_path, "csv", event_id=(20, b"ev0000001"))
    with pytest.raises(ValueError, match="'ev0000001' is in rows 1 and 20"):
        read_events(path, batch_rows=7)


# ------------------------------------------------------------------ reject mode


@pytest.mark.parametrize("rejects_fmt", FORMATS)
def test_reject_mode_sets_every_bad_row_aside(tmp_path, capsys, rejects_fmt):
    cols = _columns()  # rows 3 and 7 pending
    cols["propensity"][[1, 12]] = 1.5
    cols["event_id"][15] = cols["event_id"][2]  # duplicate: row 2 is kept
    cols["event_id"][16] = cols["event_id"][1]  # duplicate of a rejected row
    path = tmp_path / "log.csv"
    write_events(path, cols)
    _edit_csv(19, action="x9")(path)
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
    path = _bad_file(tmp_path, "parquet")
    with pytest.raises(ConfigError, match="load.on_invalid=reject needs load.rejects_path"):
        read_events(path, on_invalid="reject")
    with pytest.raises(ConfigError, match="load.on_invalid must be 'raise' or 'reject'"):
        read_events(path, on_invalid="drop")
    log = read_events(path, on_invalid="reject", rejects_path=str(tmp_path / "r.jsonl"))
    assert log.report["rejected"] == {} and (tmp_path / "r.jsonl").read_text() == ""
    cols = _columns()
    cols["propensity"][:] = 0.0
    write_events(tmp_path / "zero.parquet", cols)
    with pytest.raises(ValueError, match="no valid rows: all 23 rows were rejected"):
        read_events(tmp_path / "zero.parquet", on_invalid="reject",
                    rejects_path=str(tmp_path / "r.parquet"))


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
    path = _bad_file(tmp_path, "jsonl", _edit_jsonl(6, eligible_actions=None))
    log = read_events(path, n_arms=n_arms)
    assert log.data.mask[6].all() and log.data.mask.shape == (23, 4)
    assert not log.data.mask[[0, 1, 2, 3, 4, 5]].all()  # the others keep their sets


def test_rejected_null_list_items_written_as_nan_in_csv(tmp_path):
    cols = _columns()  # scores[6, 1] is NaN: null in JSON Lines
    cols["reward"] = np.nan_to_num(cols["reward"])
    cols["propensity"][6] = 7.0
    write_events(tmp_path / "log.jsonl", cols)
    read_events(tmp_path / "log.jsonl", on_invalid="reject",
                rejects_path=str(tmp_path / "rej.csv"))
    rej = pcsv.read_csv(tmp_path / "rej.csv").to_pydict()
    assert rej["source_row"] == [6] and rej["reject_reason"] == ["propensity:range"]
    assert rej["scores"][0].split()[1] == "nan" and len(rej["scores"][0].split()) == 4


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


# ------------------------------------------------------------------ the number of arms


def _two_arm_csv(path, n=2000, typo=99, typo_row=1500):
    """A CSV log without eligible sets or scores: actions 0 and 1, and one mistyped id."""
    rng = np.random.default_rng(3)
    action = rng.integers(0, 2, n + 1)
    action[typo_row] = typo
    data = LoggedData.from_arrays(context=rng.standard_normal((n + 1, 2)), action=action,
                                  reward=rng.random(n + 1), pscore=np.full(n + 1, 0.5),
                                  n_arms=typo + 1)
    cols = events_from_logged(data, policy_version="v", algorithm="a", exploration={},
                              start=START)
    cols.pop("n_arms")  # a log written by hand: nothing declares K
    write_events(path, cols)


def test_mistyped_action_id_is_inferred_loudly(tmp_path, capsys):
    path = tmp_path / "log.csv"
    _two_arm_csv(path)
    log = read_events(path)
    out = capsys.readouterr().out
    assert (f"read_events {path}: arms: 100, inferred as 1 + the largest action id 99 "
            f"(declare it with load.n_arms=K); 97 arm ids have no rows: 2..98\n") in out
    r = log.report
    assert r["n_arms"] == 100 and r["n_arms_source"] == "inferred" and r["n_arms_inferred"]
    assert r["n_arms_from"] == "1 + the largest action id 99"
    assert r["arms_without_rows"] == list(range(2, 99))
    with pytest.raises(DataError, match=r"action must be in \[0, 1\]; row 1500 has 99 .*; "
                                        r"2 arms from load.n_arms$"):
        read_events(path, n_arms=2)
    log = read_events(path, n_arms=2, on_invalid="reject",
                      rejects_path=str(tmp_path / "rej.csv"))
    assert log.data.n_arms == 2 and log.report["rejected"] == {"action:range": 1}
    assert log.report["n_arms_source"] == "config" and log.report["arms_without_rows"] == []
    assert "arms:" not in capsys.readouterr().out  # declared, every arm has rows: quiet


def test_inferred_from_an_eligible_set_says_so(tmp_path, capsys):
    data = _logged(n=10, k=6)
    cols = _columns(data)
    for f in ("scores", "n_arms"):
        cols.pop(f)
    cols["action"] = np.minimum(cols["action"], 2)
    mask = np.zeros((10, 6), bool)
    mask[np.arange(10), cols["action"]] = True
    mask[4, 5] = True
    cols["eligible_actions"] = mask
    write_events(tmp_path / "log.jsonl", cols)
    log = read_events(tmp_path / "log.jsonl", missing_reward=0.0)
    assert log.report["n_arms_from"] == "1 + the largest eligible_actions id 5"
    ids = log.report["arms_without_rows"]
    assert ids == sorted(set(range(6)) - set(cols["action"].tolist())) and 5 in ids
    assert "arms: 6, inferred as 1 + the largest eligible_actions id 5" in \
        capsys.readouterr().out


def test_parquet_declares_its_arm_count(tmp_path, capsys):
    data = _logged(n=12, k=5)
    cols = _columns(data)
    for f in ("scores", "eligible_actions"):  # nothing left that shows K but n_arms
        cols.pop(f)
    cols["action"] = np.minimum(cols["action"], 2)
    path = tmp_path / "log.parquet"
    write_events(path, cols)
    assert pq.read_schema(path).metadata[b"bandax.n_arms"] == b"5"
    log = read_events(path, missing_reward=0.0)
    r = log.report
    assert log.data.n_arms == 5 and r["n_arms_source"] == "file metadata"
    assert r["n_arms_from"] == "bandax.n_arms in the file's metadata" and not r["n_arms_inferred"]
    assert r["arms_without_rows"] == [3, 4]
    assert (f"read_events {path}: arms: 5, from bandax.n_arms in the file's metadata; 2 arm "
            "ids have no rows: 3..4") in capsys.readouterr().out
    read_events(path, missing_reward=0.0, n_arms=7)
    assert "arms: 7, from load.n_arms (the file's metadata declares bandax.n_arms=5); 4 arm " \
           "ids have no rows: 3..6" in capsys.readouterr().out
    cols["action"][6] = 8  # beyond the declared count: a row error, as with load.n_arms
    write_events(path, cols)
    with pytest.raises(DataError, match=r"action must be in \[0, 4\]; row 6 has 8 .*5 arms "
                                        r"from bandax.n_arms in the file's metadata \(declare "
                                        r"the count with load.n_arms=K"):
        read_events(path, missing_reward=0.0)


def test_writers_declare_the_arm_count_they_know(tmp_path):
    cols = _columns(_logged(n=9, k=4))
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


def test_scores_length_declares_the_arm_count_in_text_logs(tmp_path):
    cols = _columns(_logged(n=12, k=4))
    cols.pop("eligible_actions")
    cols["action"] = np.minimum(cols["action"], 1)
    write_events(tmp_path / "log.csv", cols)
    log = read_events(tmp_path / "log.csv", missing_reward=0.0)
    assert log.data.n_arms == 4 and log.report["n_arms_source"] == "file metadata"
    assert log.report["n_arms_from"] == "the length of scores (as in row 0)"
    assert log.report["arms_without_rows"] == [2, 3]
    _edit_csv(7, action="6")(tmp_path / "log.csv")
    with pytest.raises(DataError, match=r"action must be in \[0, 3\]; row 7 has 6 .*; 4 arms "
                                        r"from the length of scores \(as in row 0\)"):
        read_events(tmp_path / "log.csv", missing_reward=0.0)


def test_scores_length_hint_names_the_setting(tmp_path):
    path = _bad_file(tmp_path, "jsonl", _edit_jsonl(10, scores=[0.1, 0.2]))
    with pytest.raises(DataError, match=r"scores must have 4 values, one per arm "
                                        r"\(load.n_arms=4\); row 10 has 2 values"):
        read_events(path, n_arms=4)
    with pytest.raises(ConfigError, match="load.n_arms must be an integer >= 1, got 0"):
        read_events(path, n_arms=0)


def testid_runs():
    from envs.data.events import id_runs

    assert id_runs([]) == "" and id_runs([5]) == "5"
    assert id_runs([0, 2, 3, 4, 7, 9, 10]) == "0, 2..4, 7, 9..10"
    assert id_runs(list(range(0, 40, 2)), limit=3) == "0, 2, 4, ..."


# ------------------------------------------------------------------ ignored fields


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_fields_are_listed_in_every_format(tmp_path, fmt):
    cols = _columns()
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
            _edit_jsonl(0, session="s0")(path)
            _edit_jsonl(9, debug={"k": 1})(path)  # a key that only a later line has
    log = read_events(path, missing_reward=0.0)
    expect = ["session", "debug"] if fmt == "jsonl" else ["session"]
    assert log.report["ignored_columns"] == expect
    assert log.n_rows == 23


def test_unknown_json_keys_listed_when_the_block_is_reparsed(tmp_path):
    """Keys of changing type make Arrow refuse the block; the line-by-line path must
    still name them and read every row."""
    path = _bad_file(tmp_path, "jsonl", _edit_jsonl(2, note=1))
    _edit_jsonl(5, note="text", extra=[1, 2])(path)
    log = read_events(path)
    assert log.report["ignored_columns"] == ["note", "extra"] and log.n_rows == 23


# ------------------------------------------------------------------ empty eligible sets


def test_empty_eligible_set_is_a_row_error_in_every_format(tmp_path):
    cases = [("csv", _edit_csv(4, eligible_actions="  "), "'  '"),
             ("csv", _edit_csv(4, eligible_actions="\t"), r"'\\t'"),
             ("jsonl", _edit_jsonl(4, eligible_actions=[]), r"\[\]")]
    for fmt, edit, shown in cases:
        path = _bad_file(tmp_path, fmt, edit)
        with pytest.raises(DataError, match=r"eligible_actions must name at least one arm "
                                            r"\(null, or an empty CSV cell, means every "
                                            rf"arm\); row 4 has {shown}, no arm \(1 row"):
            read_events(path)
    cols = _columns()
    cols["reward"] = np.nan_to_num(cols["reward"])
    cols["eligible_actions"][4] = False  # written as an empty list, never as null
    for fmt in FORMATS:
        write_events(tmp_path / f"empty.{fmt}", cols)
        with pytest.raises(DataError, match="eligible_actions must name at least one arm.*"
                                            "row 4 has"):
            read_events(tmp_path / f"empty.{fmt}")


def test_empty_csv_cell_is_null_and_whitespace_is_rejected_with_its_text(tmp_path):
    path = _bad_file(tmp_path, "csv", _edit_csv(4, eligible_actions=""))
    log = read_events(path)
    assert log.data.mask[4].all() and not log.data.mask.all()
    _edit_csv(6, eligible_actions=" ")(path)
    log = read_events(path, on_invalid="reject", rejects_path=str(tmp_path / "rej.jsonl"))
    assert log.report["rejected"] == {"eligible_actions:empty": 1} and log.n_rows == 22
    rej = pj.read_json(tmp_path / "rej.jsonl").to_pydict()
    assert rej["source_row"] == [6] and rej["reject_value"] == [" "]


# ------------------------------------------------------------------ error kinds


def test_file_problems_are_data_errors(tmp_path):
    cols = _columns()
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


def test_scores_of_the_wrong_length_name_the_declared_count(tmp_path):
    cols = _columns(_logged(n=12, k=4))
    path = tmp_path / "log.parquet"
    write_events(path, cols)  # declares bandax.n_arms=4
    table = pq.read_table(path)
    i = table.schema.get_field_index("scores")
    short = pa.array([[0.5, 0.5]] * 12, pa.list_(pa.float32()))
    pq.write_table(table.set_column(i, table.schema.field(i), short), path)
    with pytest.raises(DataError, match=r"scores must have 4 values, one per arm "
                                        r"\(bandax.n_arms=4 in the file's metadata\); row 0 "
                                        r"has 2 values"):
        read_events(path, missing_reward=0.0)


def test_empty_scores_are_a_row_error_not_a_crash(tmp_path):
    path = _bad_file(tmp_path, "jsonl", _edit_jsonl(0, scores=[]))
    with pytest.raises(DataError, match=r"scores must have 4 values, one per arm \(as in row "
                                        r"1\); row 0 has 0 values: \[\]"):
        read_events(path)
