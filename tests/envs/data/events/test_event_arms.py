"""The number of arms of a decision log: declared, stated by scores, or inferred loudly."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from event_logs import START, bad_file, edit_csv, edit_jsonl, event_columns, logged_data

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from common.errors import ConfigError, DataError
from envs.data.events import events_from_logged, read_events, write_events
from envs.data.logged import LoggedData


def test_n_arms_inferred_from_largest_arm_id(tmp_path):
    data = logged_data(n=10, k=6)
    cols = event_columns(data)
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
    data = logged_data(n=10, k=6)
    cols = event_columns(data)
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
    data = logged_data(n=12, k=5)
    cols = event_columns(data)
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


def test_scores_length_declares_the_arm_count_in_text_logs(tmp_path):
    cols = event_columns(logged_data(n=12, k=4))
    cols.pop("eligible_actions")
    cols["action"] = np.minimum(cols["action"], 1)
    write_events(tmp_path / "log.csv", cols)
    log = read_events(tmp_path / "log.csv", missing_reward=0.0)
    assert log.data.n_arms == 4 and log.report["n_arms_source"] == "file metadata"
    assert log.report["n_arms_from"] == "the length of scores (as in row 0)"
    assert log.report["arms_without_rows"] == [2, 3]
    edit_csv(7, action="6")(tmp_path / "log.csv")
    with pytest.raises(DataError, match=r"action must be in \[0, 3\]; row 7 has 6 .*; 4 arms "
                                        r"from the length of scores \(as in row 0\)"):
        read_events(tmp_path / "log.csv", missing_reward=0.0)


def test_scores_length_hint_names_the_setting(tmp_path):
    path = bad_file(tmp_path, "jsonl", edit_jsonl(10, scores=[0.1, 0.2]))
    with pytest.raises(DataError, match=r"scores must have 4 values, one per arm "
                                        r"\(load.n_arms=4\); row 10 has 2 values"):
        read_events(path, n_arms=4)
    with pytest.raises(ConfigError, match="load.n_arms must be an integer >= 1, got 0"):
        read_events(path, n_arms=0)


def test_scores_of_the_wrong_length_name_the_declared_count(tmp_path):
    cols = event_columns(logged_data(n=12, k=4))
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


def testid_runs():
    from envs.data.events import id_runs

    assert id_runs([]) == "" and id_runs([5]) == "5"
    assert id_runs([0, 2, 3, 4, 7, 9, 10]) == "0, 2..4, 7, 9..10"
    assert id_runs(list(range(0, 40, 2)), limit=3) == "0, 2, 4, ..."
