"""Reward attribution: id joins, window edges, combine rules, statuses and the report,
and a randomised check against a plain-Python reference."""

import re
import time
from collections import defaultdict

import numpy as np
import pytest

from envs.data.rewards import (
    COMBINE,
    DECISION_STATUS,
    REWARD_STATUS,
    DecisionStatus,
    RewardStatus,
    attribute_rewards,
    format_report,
)
from envs.data.rewards import join as rw

T0 = np.datetime64("2026-01-01T00:00:00", "us")
US = np.timedelta64(1, "us")
ID, WIN, LATE, UNM, UNK = (RewardStatus.MATCHED_BY_ID, RewardStatus.MATCHED_BY_WINDOW,
                           RewardStatus.LATE, RewardStatus.UNMATCHED,
                           RewardStatus.UNKNOWN_EVENT_ID)
MATCHED, FILLED, PENDING, MISSING = (DecisionStatus.MATCHED, DecisionStatus.FILLED,
                                     DecisionStatus.PENDING, DecisionStatus.MISSING)


def at(s):
    """T0 plus s seconds (a number) or a timestamp as it is."""
    return s if isinstance(s, np.datetime64) else T0 + np.timedelta64(round(s * 1e6), "us")


def decisions(*rows):
    """rows of (event_id, user_id, time)."""
    ev, user, t = zip(*rows)
    return {"event_id": np.array(ev, object), "user_id": np.array(user, object),
            "timestamp": np.array([at(x) for x in t], "datetime64[us]")}


def rewards(*rows):
    """rows of (event_id or None, user_id, time, value)."""
    ev, user, t, v = zip(*rows)
    return {"event_id": np.array(ev, object), "user_id": np.array(user, object),
            "timestamp": np.array([at(x) for x in t], "datetime64[us]"),
            "value": np.array(v, float)}


def run(dec, rew, window_s=30.0, missing_reward=0.0, **kw):
    return attribute_rewards(dec, rew, window_s=window_s, missing_reward=missing_reward, **kw)


def check_accounts(a):
    """Every reward in one category, every decision in one status, counts as reported."""
    r = a.report
    assert sum(r[k] for k in REWARD_STATUS) == r["rewards"] == len(a.reward_status)
    assert sum(r[k] for k in DECISION_STATUS) == r["decisions"] == len(a.status)
    for code, k in enumerate(REWARD_STATUS):
        assert r[k] == int((a.reward_status == code).sum())
    for code, k in enumerate(DECISION_STATUS):
        assert r[k] == int((a.status == code).sum())
    joined = np.isin(a.reward_status, [ID, WIN])
    assert ((a.reward_decision >= 0) == joined).all()
    per = np.bincount(a.reward_decision[joined], minlength=len(a.status))
    assert ((per > 0) == (a.status == MATCHED)).all()
    assert r["several_rewards"] == int((per > 1).sum())
    assert (np.isfinite(a.reward) == np.isin(a.status, [MATCHED, FILLED])).all()
    assert (np.isnat(a.reward_timestamp) == (a.status != MATCHED)).all()


# --- the attribution window --------------------------------------------------------------

def test_reward_exactly_at_the_window_edge_is_inside_one_us_later_is_late():
    dec = decisions(("d0", "u1", 0.0))
    a = run(dec, rewards((None, "u1", 30.0, 1.0), (None, "u1", at(30.0) + US, 2.0)))
    assert a.reward_status.tolist() == [WIN, LATE]
    assert a.reward_decision.tolist() == [0, -1]
    assert a.reward.tolist() == [1.0]
    assert a.reward_timestamp[0] == at(30.0)
    # a fractional window, in microseconds
    a = run(dec, rewards((None, "u1", 0.25, 1.0), (None, "u1", at(0.25) + US, 1.0)),
            window_s=0.25)
    assert a.reward_status.tolist() == [WIN, LATE]


def test_same_instant_reward_goes_to_the_decision_even_with_a_zero_window():
    dec = decisions(("d0", "u1", 5.0))
    a = run(dec, rewards((None, "u1", 5.0, 1.0), (None, "u1", at(5.0) + US, 1.0)),
            window_s=0.0)
    assert a.reward_status.tolist() == [WIN, LATE]
    assert a.reward_decision.tolist() == [0, -1]


@pytest.mark.parametrize("rows, winner", [
    ([("old", "u1", 0.0), ("new", "u1", 10.0)], 1),
    ([("new", "u1", 10.0), ("old", "u1", 0.0)], 0),  # by time, not by row
    ([("a", "u1", 10.0), ("b", "u1", 10.0)], 1),     # same instant: the later row
])
def test_latest_decision_before_the_reward_wins(rows, winner):
    a = run(decisions(*rows), rewards((None, "u1", 20.0, 1.0)), now=at(100.0))
    assert a.reward_status.tolist() == [WIN]
    assert a.reward_decision.tolist() == [winner]
    assert a.status[1 - winner] == FILLED and a.reward[1 - winner] == 0.0


def test_a_decision_after_the_reward_never_gets_it():
    a = run(decisions(("d0", "u1", 10.0)), rewards((None, "u1", 5.0, 1.0)))
    assert a.reward_status.tolist() == [UNM]
    # an earlier decision gets it instead, even if a later one is closer
    a = run(decisions(("d0", "u1", 0.0), ("d1", "u1", 6.0)), rewards((None, "u1", 5.0, 1.0)))
    assert a.reward_decision.tolist() == [0]
    # late: the latest earlier decision is out of the window; a later one does not help
    a = run(decisions(("d0", "u1", 0.0), ("d1", "u1", 100.0)),
            rewards((None, "u1", 50.0, 1.0)))
    assert a.reward_status.tolist() == [LATE]
    assert a.status.tolist() == [FILLED, PENDING]  # now: 100 s, the latest event


def test_users_without_an_earlier_decision_are_unmatched():
    dec = decisions(("d0", "a", 0.0), ("d1", "c", 0.0), ("d2", "b", 50.0), ("d3", None, 0.0))
    a = run(dec, rewards(
        (None, "zzz", 5.0, 1.0),  # no decision of this user at all
        (None, "b", 5.0, 1.0),    # only a later decision; neighbours a and c have earlier ones
        (None, "a", 5.0, 1.0),    # control: matched
    ))
    assert a.reward_status.tolist() == [UNM, UNM, WIN]
    assert a.reward_decision.tolist() == [-1, -1, 0]
    # the decision without a user is reachable by id only
    a = run(dec, rewards(("d3", "x", 1.0, 1.0)))
    assert a.reward_decision.tolist() == [3]
    # decisions with no user_id column at all
    a = run({"event_id": dec["event_id"], "timestamp": dec["timestamp"]},
            rewards((None, "a", 5.0, 1.0)))
    assert a.reward_status.tolist() == [UNM]


def test_id_join_beats_the_window():
    dec = decisions(("old", "u1", 0.0), ("new", "u1", 100.0))
    a = run(dec, rewards(
        ("old", "u1", 110.0, 1.0),   # the window would pick "new"; the id says "old"
        ("old", "u2", -5.0, 2.0),    # another user, before the decision: the id still rules
        (None, "u1", 110.0, 4.0),    # no id: the window picks "new"
    ))
    assert a.reward_status.tolist() == [ID, ID, WIN]
    assert a.reward_decision.tolist() == [0, 0, 1]
    assert a.reward.tolist() == [3.0, 4.0]


def test_unknown_event_ids_are_not_retried_by_window():
    a = run(decisions(("d0", "u1", 0.0)), rewards(("nope", "u1", 1.0, 1.0),
                                                  (b"", "u1", 2.0, 5.0)))
    assert a.reward_status.tolist() == [UNK, WIN]  # an empty id counts as no id
    assert a.reward.tolist() == [5.0]
    assert a.report["unknown_event_id"] == 1


# --- combining and statuses ---------------------------------------------------------------

@pytest.mark.parametrize("combine, value, when", [
    ("sum", 9.0, 9.0),    # timed at the last event
    ("max", 3.0, 2.0),    # the first event reaching the maximum
    ("first", 3.0, 2.0),
    ("last", 2.0, 9.0),   # two events at 9 s: the later row is last
])
def test_combine_rules(combine, value, when):
    dec = decisions(("d0", "u1", 0.0), ("d1", "u2", 0.0))
    rew = rewards(("d0", "u1", 5.0, 1.0), ("d0", "u1", 2.0, 3.0), ("d0", "u1", 9.0, 3.0),
                  ("d0", "u1", 9.0, 2.0), ("d1", "u2", 3.0, 7.0))
    a = run(dec, rew, combine=combine)
    assert a.reward.tolist() == [value, 7.0]
    assert a.reward_timestamp.tolist() == [at(when).item(), at(3.0).item()]
    assert a.report["several_rewards"] == 1
    check_accounts(a)


def test_pending_filled_and_missing_depend_on_now():
    dec = decisions(("d0", "u1", 0.0), ("d1", "u2", 70.0), ("d2", "u3", at(70.0) + US),
                    ("d3", "u4", 95.0))
    rew = rewards(("d3", "u4", 96.0, 1.0))
    a = run(dec, rew, now=at(100.0))
    # now - t: 100 s (closed), 30 s (== window: closed), 30 s - 1 us (open), matched
    assert a.status.tolist() == [FILLED, FILLED, PENDING, MATCHED]
    assert np.array_equal(a.reward, [0.0, 0.0, np.nan, 1.0], equal_nan=True)
    assert a.report["matched_window_open"] == 1
    a = run(dec, rew, now=at(100.0), missing_reward=None)
    assert a.status.tolist() == [MISSING, MISSING, PENDING, MATCHED]
    assert np.array_equal(a.reward, [np.nan, np.nan, np.nan, 1.0], equal_nan=True)
    # default now: the latest event (96 s), where d1 and d2 are still open
    a = run(dec, rew)
    assert a.status.tolist() == [FILLED, PENDING, PENDING, MATCHED]
    assert a.report["now"] == str(at(96.0))
    a = run(dec, rew, now=at(1000.0), missing_reward=-1.0)
    assert a.reward.tolist() == [-1.0, -1.0, -1.0, 1.0]
    check_accounts(a)


def test_ids_as_bytes_str_integers_and_objects_join_alike():
    t = np.array([at(0.0), at(1.0)])
    dec = {"event_id": np.array([b"e1", b"\xc3\xa9"]), "user_id": np.array([7, 8]),
           "timestamp": t}
    rew = {"event_id": np.array(["é", None, ""], object), "user_id": np.array(["7", "8", "8"]),
           "timestamp": np.array([at(2.0)] * 3), "value": np.array([True, False, True])}
    a = run(dec, rew, now=at(100.0))
    assert a.reward_status.tolist() == [ID, WIN, WIN]
    assert a.reward_decision.tolist() == [1, 1, 1]
    assert a.reward.tolist() == [0.0, 2.0]


def test_format_report_names_every_count():
    dec = decisions(("d0", "u1", 0.0), ("d1", "u2", 0.0), ("d2", "u3", 90.0))
    rew = rewards(("d0", "u1", 1.0, 1.0), ("d0", "u1", 2.0, 1.0), (None, "u2", 3.0, 1.0),
                  (None, "u3", 1.0, 1.0), ("zz", "u1", 1.0, 1.0), (None, "u2", 80.0, 1.0))
    a = run(dec, rew)
    check_accounts(a)
    text = format_report(a.report)
    counts = [int(x.replace(",", "")) for x in re.findall(r"^  .*?\s{2,}([\d,]+)", text, re.M)]
    order = list(REWARD_STATUS) + list(DECISION_STATUS) + ["several_rewards",
                                                          "matched_window_open"]
    assert counts == [a.report[k] for k in order] == [2, 1, 1, 1, 1, 2, 0, 1, 0, 1, 0]
    assert "reward events: 6" in text and "decisions: 3" in text


# --- validation ---------------------------------------------------------------------------

def _good():
    return (decisions(("d0", "u1", 0.0), ("d1", "u2", 1.0), ("d2", "u1", 2.0)),
            rewards((None, "u1", 3.0, 1.0), ("d1", "u2", 4.0, 0.0)))


def _set(table, key, row, value):
    table[key] = table[key].copy()
    table[key][row] = value


@pytest.mark.parametrize("edit, kw, message", [
    (lambda d, r: r.update(value=r["value"][:1]), {},
     r"rewards.value must have shape \(n,\) with n=2 rows \(from rewards.timestamp\), got "
     r"\(1,\)"),
    (lambda d, r: d.update(user_id=d["user_id"][:2]), {},
     r"decisions.user_id must have shape \(n,\) with n=3"),
    (lambda d, r: _set(d, "timestamp", 2, np.datetime64("NaT")), {},
     "decisions.timestamp must not be NaT; row 2 has NaT"),
    (lambda d, r: _set(r, "timestamp", 1, np.datetime64("NaT")), {},
     "rewards.timestamp must not be NaT; row 1 has NaT"),
    (lambda d, r: _set(r, "value", 1, np.inf), {}, "rewards.value must be finite; row 1 has inf"),
    (lambda d, r: _set(r, "value", 0, np.nan), {}, "rewards.value must be finite; row 0 has nan"),
    (lambda d, r: r.update(timestamp=np.arange(2)), {},
     "rewards.timestamp must be datetime64, got dtype int64"),
    (lambda d, r: None, {"window_s": -1.0}, "window_s must be a finite number of seconds >= 0, "
     "got -1.0"),
    (lambda d, r: None, {"window_s": np.inf}, "window_s must be a finite number"),
    (lambda d, r: None, {"combine": "mean"},
     "combine must be one of sum, max, first, last, got 'mean'"),
    (lambda d, r: None, {"missing_reward": np.nan}, "missing_reward must be a finite number"),
    (lambda d, r: _set(d, "event_id", 2, "d0"), {},
     "decisions.event_id must be unique; row 2 repeats b'd0' of row 0"),
    (lambda d, r: _set(d, "event_id", 1, None), {},
     r"decisions.event_id must be non-empty; row 1 has b''"),
    (lambda d, r: _set(r, "user_id", 0, None), {},
     "rewards need an event_id or a user_id; row 0 has neither"),
    (lambda d, r: d.pop("event_id"), {}, "decisions has no 'event_id' column"),
    (lambda d, r: None, {"now": at(3.5)},
     r"now must not precede any event; rewards.timestamp row 1 is 2026-01-01T00:00:04.000000, "
     r"now is 2026-01-01T00:00:03.500000"),
    (lambda d, r: None, {"now": 5}, "now must be a datetime64 or ISO text, got 5"),
])
def test_bad_inputs_name_field_value_and_row(edit, kw, message):
    dec, rew = _good()
    run(dec, rew)  # the untouched inputs are fine
    edit(dec, rew)
    with pytest.raises(ValueError, match=message):
        run(dec, rew, **kw)


def test_empty_streams():
    dec, rew = _good()
    empty_r = {k: v[:0] for k, v in rew.items()}
    a = run(dec, empty_r, now=at(100.0))
    assert a.status.tolist() == [FILLED] * 3 and a.report["rewards"] == 0
    a = run({k: v[:0] for k, v in dec.items()}, rew)
    assert a.reward_status.tolist() == [UNM, UNK] and a.reward.shape == (0,)
    check_accounts(a)


# --- against a plain-Python reference -----------------------------------------------------

def reference(dec, rew, window_us, missing_reward, combine, now_us):
    """The rules, one row at a time."""
    name = lambda x: None if x is None or x in (b"", "") else \
        x.decode() if isinstance(x, bytes) else str(x)
    td = dec["timestamp"].astype(np.int64).tolist()
    tr = rew["timestamp"].astype(np.int64).tolist()
    by_id = {name(e): i for i, e in enumerate(dec["event_id"])}
    by_user = defaultdict(list)
    for i, u in enumerate(dec["user_id"]):
        if name(u) is not None:
            by_user[name(u)].append(i)
    status, target = [], []
    for j in range(len(tr)):
        e = name(rew["event_id"][j])
        if e is not None:
            status.append(ID if e in by_id else UNK)
            target.append(by_id.get(e, -1))
            continue
        earlier = [i for i in by_user[name(rew["user_id"][j])] if td[i] <= tr[j]]
        if not earlier:
            status.append(UNM)
            target.append(-1)
            continue
        i = max(earlier, key=lambda i: (td[i], i))
        inside = tr[j] - td[i] <= window_us
        status.append(WIN if inside else LATE)
        target.append(i if inside else -1)
    got = defaultdict(list)
    for j, i in enumerate(target):
        if i >= 0:
            got[i].append((tr[j], j, float(rew["value"][j])))
    reward, when, dstatus = [], [], []
    for i in range(len(td)):
        evs = sorted(got[i])
        if evs:
            pick = {"sum": evs[-1], "first": evs[0], "last": evs[-1],
                    "max": min(evs, key=lambda e: (-e[2], e[0], e[1]))}[combine]
            total = sum(e[2] for e in evs) if combine == "sum" else pick[2]
            reward.append(total)
            when.append(pick[0])
            dstatus.append(MATCHED)
            continue
        when.append(None)
        if now_us - td[i] < window_us:
            reward.append(np.nan)
            dstatus.append(PENDING)
        elif missing_reward is None:
            reward.append(np.nan)
            dstatus.append(MISSING)
        else:
            reward.append(missing_reward)
            dstatus.append(FILLED)
    return reward, when, dstatus, status, target


def random_logs(seed, n=2000, m=3000, ids="short"):
    rng = np.random.default_rng(seed)
    sec = 10**6
    td = rng.integers(0, 600, n) * sec + rng.choice([0, 0, 0, 1, 500_000], n)  # many ties
    users = rng.integers(0, 60, n)
    pick = rng.integers(0, n, m)
    delay = rng.choice([-5, 0, 10, 29, 30, 31, 45, 90], m) * sec + rng.choice([-1, 0, 0, 1], m)
    tr = td[pick] + delay
    ruser = np.where(rng.random(m) < 0.9, users[pick], rng.integers(0, 80, m))  # 60..79: none
    with_id = rng.random(m) < 0.4
    rid = np.where(rng.random(m) < 0.9, pick, n + rng.integers(0, 50, m))  # >= n: unknown
    value = rng.integers(0, 4, m).astype(float)
    no_user = rng.random(n) < 0.05
    if ids == "int":
        dec_ev, dec_user = np.arange(n), users
        rew_ev = np.array([int(x) if w else None for x, w in zip(rid, with_id)], object)
        rew_user = ruser
        dec_user = np.where(no_user, None, dec_user.astype(object))
    else:
        fmt, efmt = ("user-0000000000-{}", "event-0000000000-{}") if ids == "long" else \
            ("u{}", "e{}")
        as_ids = lambda xs, f: np.array([f.format(x).encode() for x in xs])
        dec_ev, dec_user = as_ids(range(n), efmt), as_ids(users, fmt)
        rew_ev = np.where(with_id, as_ids(rid, efmt), b"")
        rew_user = as_ids(ruser, fmt)
        dec_user = np.where(no_user, b"", dec_user)
        if ids == "str":
            rew_ev, rew_user = rew_ev.astype("U"), rew_user.astype("U")
    keep = tr <= 610 * sec  # so that the last decisions are still pending
    rew_ev, rew_user, tr, value = rew_ev[keep], rew_user[keep], tr[keep], value[keep]
    dec = {"event_id": dec_ev, "user_id": dec_user,
           "timestamp": (T0 + td.astype("timedelta64[us]"))}
    rew = {"event_id": rew_ev, "user_id": rew_user,
           "timestamp": (T0 + tr.astype("timedelta64[us]")), "value": value}
    return dec, rew


@pytest.mark.parametrize("combine", COMBINE)
@pytest.mark.parametrize("keys", ["microseconds", "ranks"])
@pytest.mark.parametrize("ids", ["short", "long", "str", "int"])
def test_matches_reference_on_random_logs(combine, keys, ids, monkeypatch):
    if keys == "ranks":  # force the timestamp-rank keys of the window join
        monkeypatch.setattr(rw, "_KEY_LIMIT", 1)
    seed = COMBINE.index(combine) + 4 * ["short", "long", "str", "int"].index(ids)
    dec, rew = random_logs(seed, ids=ids)
    missing = None if seed % 2 else 0.0
    now = None if seed % 3 else T0 + np.timedelta64(625, "s")
    a = attribute_rewards(dec, rew, window_s=30, missing_reward=missing, combine=combine,
                          now=now)
    now_us = int(np.max([dec["timestamp"].max(), rew["timestamp"].max()]).astype(np.int64)) \
        if now is None else int(now.astype("datetime64[us]").astype(np.int64))
    reward, when, dstatus, status, target = reference(dec, rew, 30 * 10**6, missing, combine,
                                                      now_us)
    assert a.reward_status.tolist() == status
    assert a.reward_decision.tolist() == target
    assert a.status.tolist() == dstatus
    np.testing.assert_allclose(a.reward, reward, rtol=1e-12)
    ts = a.reward_timestamp.astype(np.int64)
    assert [None if np.isnat(x) else int(t) for x, t in zip(a.reward_timestamp, ts)] == when
    check_accounts(a)
    # every category occurs, so the comparison covers each rule
    r = a.report
    assert min(r[k] for k in REWARD_STATUS) > 0 and r["several_rewards"] > 0
    assert r["matched"] > 0 and r["pending"] + r["filled"] + r["missing"] > 0


def test_a_million_decisions_run_without_python_loops():
    rng = np.random.default_rng(7)
    n, m = 10**6, 500_000
    td = T0 + np.sort(rng.integers(0, 86_400 * 10**6, n)).astype("timedelta64[us]")
    users = rng.integers(0, n // 20, n).astype("S7")
    ev = np.char.add(b"event-", rng.permutation(n).astype("S7"))
    pick = rng.integers(0, n, m)
    rew = {"event_id": np.where(rng.random(m) < 0.5, ev[pick], b""), "user_id": users[pick],
           "timestamp": td[pick] + rng.integers(0, 60 * 10**6, m).astype("timedelta64[us]"),
           "value": (rng.random(m) < 0.3).astype(float)}
    t = time.perf_counter()
    a = attribute_rewards({"event_id": ev, "user_id": users, "timestamp": td}, rew,
                          window_s=30, missing_reward=0.0, combine="max")
    print(f"\n10^6 decisions, {m:,} rewards: {time.perf_counter() - t:.2f} s")
    print(format_report(a.report))
    check_accounts(a)
    assert a.report["matched_by_id"] > 0 and a.report["matched_by_window"] > 0
