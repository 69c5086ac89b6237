"""Decision-event logs for the tests: small logged data, its full event columns, a log file
with a changed cell, and edits of CSV and JSON Lines files."""

import csv
import json

import numpy as np

import envs  # noqa: F401  (sets up the host before anything else imports JAX)
from envs.data.events import events_from_logged, write_events
from envs.data.logged import LoggedData

FORMATS = ("parquet", "csv", "jsonl")
START = np.datetime64("2026-01-01T00:00:00.123456", "us")


def logged_data(n=23, k=4, d=3, seed=0):
    """n rows over k arms with d features: random eligible sets, the logged arm drawn
    uniformly among them."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, k)) < 0.6
    mask[np.arange(n), rng.integers(0, k, n)] = True
    probs = mask / mask.sum(1, keepdims=True)
    action = (probs.cumsum(1) > rng.random((n, 1))).argmax(1)
    return LoggedData.from_arrays(context=rng.standard_normal((n, d)).astype(np.float32),
                                  action=action, reward=rng.random(n),
                                  pscore=probs[np.arange(n), action], mask=mask, n_arms=k)


def event_columns(data=None, **kw):
    """A full event log: users (one null), positions (every third null), scores (one null
    row, one NaN score), two pending rewards."""
    data = data or logged_data()
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


def assert_same_log(log, cols, data):
    """The log read back holds the columns written and the logged data they came from."""
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


def bad_file(tmp_path, fmt, edit=None, **cols_kw):
    """A valid log with columns changed (``cols_kw``: name -> (row, value))."""
    cols = event_columns()
    cols["reward"] = np.nan_to_num(cols["reward"])
    for name, (row, value) in cols_kw.items():
        cols[name] = cols[name].copy()
        cols[name][row] = value
    path = tmp_path / f"bad.{fmt}"
    write_events(path, cols)
    if edit is not None:
        edit(path)
    return path


def edit_jsonl(row, **changes):
    """An edit of line ``row`` of a JSON Lines log: key -> new value (KeyError: drop it)."""
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


def edit_csv(row, **changes):
    """An edit of data row ``row`` of a CSV log: column -> new cell text."""
    def edit(path):
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        for k, v in changes.items():
            rows[row + 1][rows[0].index(k)] = v
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return edit
