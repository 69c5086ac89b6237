"""A delayed log from scripts/simulate_log.py (decisions and reward events apart) through
the gate: the report states the attribution window, the read time and the decisions still
pending in the held-out period, and warns about them."""

import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from common.errors import ConfigError
from estimators.gate import run_from_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROWS, WINDOW_S = 3000, 3600.0
END = "2026-01-01T00:24:59.500000"  # the last of 3,000 decisions, 0.5 s apart


@pytest.fixture(scope="module")
def delayed_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("delayed")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "simulate_log.py"),
                        "logs.parquet", "--rows", str(ROWS), "--arms", "3", "--dim", "3",
                        "--delay", "geometric", "--delay-mean", "600", "--window-s",
                        f"{WINDOW_S:g}", "--read-at", "end"],
                       cwd=folder, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (f"python scripts/evaluate.py data=logs.parquet rewards.path=logs.rewards.parquet "
            f"rewards.window_s=3600 rewards.now={END} candidate=lin_ucb") in p.stdout
    return folder


def _gate(folder, out, **rewards):
    cfg = {"data": str(folder / "logs.parquet"), "candidate": "uniform",
           "rewards": {"path": str(folder / "logs.rewards.parquet"), "window_s": WINDOW_S,
                       **rewards},
           "estimator": ["ipw"], "evaluation": {"n_boot": 20},
           "gate": {"decide_on": "ipw", "min_ess": 1}}
    report = run_from_config(cfg, out_dir=str(out), echo=False)
    return report, (out / "report.md").read_text()


def test_pending_held_out_decisions_are_counted_and_warned_about(delayed_log, tmp_path):
    decisions = pq.read_table(delayed_log / "logs.parquet", columns=["event_id", "timestamp"])
    rewards = pq.read_table(delayed_log / "logs.rewards.parquet")
    ts = decisions["timestamp"].to_numpy().astype("datetime64[us]")
    has_reward = np.isin(decisions["event_id"].to_numpy(zero_copy_only=False),
                         rewards["event_id"].to_numpy(zero_copy_only=False))
    now = np.datetime64(END, "us")
    assert rewards["timestamp"].to_numpy().astype("datetime64[us]").max() <= now
    kept = np.sort(ts[has_reward])  # pending decisions are left out before the split
    held = ts >= kept[kept.size - int(round(0.3 * kept.size))]
    pending = held & ~has_reward & (now - ts < np.timedelta64(int(WINDOW_S * 1e6), "us"))

    report, md = _gate(delayed_log, tmp_path)
    r = report["rewards"]
    assert r["window_s"] == WINDOW_S and r["now"] == END
    assert r["held_out"]["pending"] == int(pending.sum()) > 100
    assert r["held_out"]["decisions"] == int(held.sum())
    assert r["all"]["pending"] == ROWS - rewards.num_rows
    assert r["held_out"]["matched"] == report["data"]["test_rows"]
    share = pending.sum() / held.sum()
    assert (f"**WARNING: {int(pending.sum()):,} held-out decisions ({share:.1%} of the "
            f"{int(held.sum()):,} since") in md
    assert f"3600 s attribution window (combine sum), logs read at {END}" in md
    assert "read the logs after 2026-01-01T01:24:59.500000" in md
    # the log's empty reward cells are not counted as filled: the join left them pending
    assert report["data"]["load"]["rewards_filled"] == 0 and "rewards filled" not in md


def test_read_after_every_window_closed_nothing_is_pending(delayed_log, tmp_path):
    report, md = _gate(delayed_log, tmp_path, now="2026-01-01T02:00:00")
    r = report["rewards"]
    assert r["now"] == "2026-01-01T02:00:00.000000"
    assert r["all"]["pending"] == r["held_out"]["pending"] == 0
    n_rewards = pq.read_metadata(delayed_log / "logs.rewards.parquet").num_rows
    assert r["all"]["missing"] == ROWS - n_rewards  # closed without a reward
    assert "WARNING" not in md and "logs read at 2026-01-01T02:00:00" in md


@pytest.mark.parametrize("rewards, message", [
    ({"path": "r.csv", "now": "yesterday"}, "rewards.now must be ISO text .* got 'yesterday'"),
    ({"now": "2026-01-02T00:00:00"}, "rewards.now=2026-01-02T00:00:00 .* give rewards.path"),
    ({"path": "r.csv", "when": 3}, "rewards has no key 'when'; allowed: path, window_s"),
])
def test_bad_rewards_settings_are_named_before_reading(rewards, message):
    with pytest.raises(ConfigError, match=message):
        run_from_config({"data": "absent.parquet", "candidate": "uniform",
                         "rewards": rewards}, echo=False)


def test_a_read_time_before_the_events_is_named_as_the_gate_s_key(delayed_log, tmp_path):
    with pytest.raises(ValueError, match=r"rewards\.now must not precede any event"):
        _gate(delayed_log, tmp_path, now="2026-01-01T00:00:10")
