"""The NumPy reference of the monitor: every KPI and every alert on 12 rounds computed by
hand (hop 2, window 4, for 2), and the vectorised sums against a loop over the
definitions on random rounds."""

import math

import numpy as np
import pytest

from common.errors import DataError
from envs.monitor import MonitorInputs, evaluate_rules, monitor_spec, reference, window_kpis

NAN = math.nan
LN2 = math.log(2)
H_3_1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # shares (3/4, 1/4)


def _hand_inputs(**drop):
    """12 rounds over 3 arms. Rows 0-3 are the reference (reward 1, feature 0 alternating
    0 and 2: mean 1, variance 1); feature 1 is constant (both variances 0: counts 0)."""
    probs = np.array([[0.5, 0.5, 0]] * 4 + [[1.0, 0, 0]] * 6 + [[0.25, 0.25, 0.5]] * 2)
    arrays = dict(
        reward=[1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1],
        action=np.array([0, 1, 0, 1, 0, 0, 0, 0, 0, 2, 1, 2]),
        propensity=[.5, .5, .5, .5, .5, .9, .9, .9, .9, .2, .5, .5],
        context=np.column_stack([[0, 2, 0, 2, 0, 2, 4, 6, 4, 6, 4, 6], np.full(12, 1.0)]),
        probs=probs, regret=[0] * 4 + [0.5] * 8, failed=np.arange(12) == 9,
        fallback=np.isin(np.arange(12), (5, 6, 9)))
    return MonitorInputs.from_arrays(**{k: v for k, v in arrays.items() if k not in drop})


RULES = {
    "drop": {"when": "avg_reward < 0.5 * baseline", "window": 4, "for": 2, "severity": "high"},
    "grid": {"when": "avg_reward < [0.3, 0.8] * baseline", "window": 4, "for": 2},
    "concentration": {"when": "max_share > 0.7", "window": 4, "for": 0},
    "drift": {"when": "context_drift > 1", "window": 4, "for": 2},
    "explore": {"when": "exploration_rate > 0.3", "window": 4, "for": 0},
    "late": {"when": "error_rate > 0.1", "window": 8, "for": 2},
}
SPEC = monitor_spec({"hop": 2, "reference": 4, "baseline": None, "rules": RULES})

# windows of 4 rounds at e = 4, 6, 8, 10, 12: rows 0-3, 2-5, 4-7, 6-9, 8-11
BY_HAND = {
    "avg_reward": [NAN, 1, 0.75, 0.25, 0, 0.5],
    "regret": [NAN, 0, 0.25, 0.5, 0.5, 0.5],
    "max_share": [NAN, 0.5, 0.75, 1, 0.75, 0.5],
    "share_entropy": [NAN, LN2, H_3_1, 0, H_3_1, 1.5 * LN2],
    "action_entropy": [NAN, LN2, LN2 / 2, 0, 0, 0.75 * LN2],
    "exploration_rate": [NAN, 0.5, 0.25, 0, 0.25, 0.5],  # actions off the first argmax
    "min_propensity": [NAN, 0.5, 0.5, 0.5, 0.2, 0.2],
    "error_rate": [NAN, 0, 0, 0, 0.25, 0.25],
    "fallback_rate": [NAN, 0, 0.25, 0.5, 0.5, 0.25],  # rows 5, 6 and 9
    # rows 4-7 of feature 0 are 0, 2, 4, 6: mean 3, variance 5 -> 2 / sqrt(3)
    "context_drift": [NAN, 0, 0, 2 / math.sqrt(3), 4, 4],
}


def test_every_kpi_matches_the_hand_computed_windows():
    kpis = window_kpis(_hand_inputs(), SPEC)
    np.testing.assert_array_equal(kpis["rounds"], [2, 4, 6, 8, 10, 12])
    assert kpis["baseline"] == 1.0 and kpis["unavailable"] == {}
    assert set(kpis["windows"]) == {4, 8}
    for name, want in BY_HAND.items():
        np.testing.assert_allclose(kpis["windows"][4][name], want, atol=1e-12, err_msg=name)
    # a window of 8 is first full at e = 8: rows 0-7, 2-9, 4-11
    np.testing.assert_allclose(kpis["windows"][8]["avg_reward"],
                               [NAN, NAN, NAN, 5 / 8, 3 / 8, 3 / 8])
    np.testing.assert_allclose(kpis["windows"][8]["error_rate"], [NAN] * 3 + [0, 1 / 8, 1 / 8])


def test_alerts_fire_when_the_condition_held_for_the_last_points():
    res = evaluate_rules(window_kpis(_hand_inputs(), SPEC), SPEC)
    summary = {name: (r["first_round"].tolist(), r["episodes"].tolist(),
                      r["active_count"].tolist()) for name, r in res.items()}
    assert summary == {
        # avg_reward < 0.5 at e = 8, 10 -> active at 10 only (two points in a row)
        "drop": ([10], [1], [1]),
        # < 0.3 as above; < 0.8 at e = 6, 8, 10, 12 -> active from 8
        "grid": ([10, 8], [1, 1], [1, 3]),
        # for 0: active wherever the condition holds (e = 6, 8, 10)
        "concentration": ([6], [1], [3]),
        # drift > 1 at e = 8, 10, 12 -> active at 10, 12
        "drift": ([10], [1], [2]),
        # exploration 0.5 at e = 4 and 12: two episodes
        "explore": ([4], [2], [2]),
        # error rate 1/8 at e = 10, 12 (window 8) -> active at 12
        "late": ([12], [1], [1]),
    }
    np.testing.assert_array_equal(res["grid"]["condition"][:, 1], [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(res["grid"]["active"][:, 1], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(res["grid"]["thresholds"], [0.3, 0.8])  # × baseline 1


def test_a_set_baseline_and_missing_inputs():
    spec = monitor_spec({"hop": 2, "reference": 4, "baseline": 0.5, "rules": RULES})
    kpis = window_kpis(_hand_inputs(probs=1, regret=1, failed=1, fallback=1), spec)
    assert kpis["baseline"] == 0.5
    assert set(kpis["unavailable"]) == {"action_entropy", "exploration_rate", "regret",
                                        "fallback_rate"}
    assert "exploration_rate" not in kpis["windows"][4]
    np.testing.assert_allclose(kpis["windows"][4]["error_rate"], [NAN] + [0] * 5)
    res = evaluate_rules(kpis, spec)
    assert res["explore"] == {"skipped": "exploration_rate needs the per-round input "
                                         "'probs', which the inputs lack"}
    # 0.5 × 0.5 = 0.25: avg_reward < 0.25 at e = 10 only -> never two points in a row
    assert res["drop"]["first_round"].tolist() == [-1] and res["drop"]["episodes"] == 0
    with pytest.raises(DataError, match="3 rounds, fewer than monitor.reference=4"):
        window_kpis(MonitorInputs.from_arrays(reward=[1, 1, 1], action=[0, 1, 0],
                                              propensity=[1, 1, 1], context=[1, 2, 3]), spec)


def _loop_kpis(x: MonitorInputs, w: int, e: int, ref: int) -> dict[str, float]:
    """The definitions, row by row, over rounds [e - w, e)."""
    rows = slice(e - w, e)
    shares = np.array([np.sum(x.action[rows] == a) for a in range(x.n_arms)]) / w
    p = x.probs[rows]
    drift = 0.0
    for j in range(x.context.shape[1]):
        cw, cr = x.context[rows, j], x.context[:ref, j]
        if cw.var() > 0 or cr.var() > 0:
            drift = max(drift, abs(cw.mean() - cr.mean()) / math.sqrt((cw.var() + cr.var()) / 2))
    return {"avg_reward": x.reward[rows].mean(), "regret": x.regret[rows].mean(),
            "max_share": shares.max(),
            "share_entropy": -sum(s * math.log(s) for s in shares if s > 0),
            "action_entropy": np.mean([-sum(q * math.log(q) for q in row if q > 0) for row in p]),
            "exploration_rate": np.mean(x.action[rows] != p.argmax(axis=1)),
            "min_propensity": x.propensity[rows].min(), "error_rate": x.failed[rows].mean(),
            "context_drift": drift if e >= ref else NAN}


def test_vectorised_windows_match_a_loop_over_the_definitions(monkeypatch):
    rng = np.random.default_rng(3)
    n, k = 203, 5
    logits = rng.normal(size=(n, k)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs[::7, 1] = 0.0  # rows with an impossible arm (0 log 0)
    context = np.column_stack([rng.normal(size=n), np.full(n, 3.0), rng.integers(0, 2, n),
                               rng.normal(size=n) + np.linspace(0, 2, n)])
    x = MonitorInputs.from_arrays(reward=rng.normal(size=n), action=rng.integers(0, k, n),
                                  propensity=rng.uniform(0.1, 1, n), context=context,
                                  probs=probs, regret=rng.uniform(size=n),
                                  failed=rng.uniform(size=n) < 0.1)
    spec = monitor_spec({"hop": 10, "reference": 40, "baseline": None, "rules": {
        "a": {"when": "avg_reward < 1", "window": 30}, "b": {"when": "regret > 1",
                                                              "window": 50}}})
    kpis = window_kpis(x, spec)
    assert kpis["rounds"].tolist() == list(range(10, 201, 10))
    for w in (30, 50):
        for i, e in enumerate(kpis["rounds"]):
            got = {name: v[i] for name, v in kpis["windows"][w].items()}
            if e < w:
                assert all(math.isnan(v) for v in got.values())
                continue
            want = _loop_kpis(x, w, int(e), spec.reference)
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True), (w, e)
    # the context's block sums taken three blocks at a time give the same drift
    monkeypatch.setattr(reference, "CHUNK_ROWS", 30)
    np.testing.assert_allclose(window_kpis(x, spec)["windows"][50]["context_drift"],
                               kpis["windows"][50]["context_drift"], rtol=1e-12)


@pytest.mark.parametrize("change, message", [
    ({"reward": [1, math.nan, 1]}, r"reward must be finite; row 1 has nan"),
    ({"context": [[0.0], [math.inf], [1.0]]}, r"context must be finite; row 1 has \[inf\]"),
    ({"action": [0, 1, 5]}, r"action must be in \[0, 2\]; row 2 has 5"),
    ({"propensity": [1, 1]}, r"propensity must have shape \(3,\)"),
    ({"probs": [[1, 0, 0], [0.5, 0.5, 0], [1.5, -0.5, 0]]},
     r"probs must be finite and >= 0; row 2 has \[1.5, -0.5, 0.0\]"),
    ({"failed": [0, 1, 0]}, r"failed must be a \(3,\) bool array"),
])
def test_bad_inputs_name_the_input_and_the_row(change, message):
    good = dict(reward=[1, 0, 1], action=[0, 1, 2], propensity=[1, 1, 1],
                context=[[0.0], [1.0], [2.0]], n_arms=3)
    with pytest.raises(DataError, match=message):
        MonitorInputs.from_arrays(**{**good, **change})
