"""The monitor's KPIs and alerts in NumPy: the reference every other implementation is
checked against.

Evaluation happens every ``hop`` rounds, at round ends ``e = hop, 2·hop, ...`` (``e``
counts the rounds seen; rounds after the last multiple of ``hop`` are not evaluated). A
KPI with window ``w`` at ``e`` reads rounds ``[e − w, e)`` and is NaN while ``e < w``:

==================  ===============================================================
avg_reward          mean reward
regret              mean per-round regret (needs ``regret``)
max_share           max over arms a of #(action == a) / w
share_entropy       −Σ_a s_a log s_a of the action shares s_a (0·log 0 = 0, natural log)
action_entropy      mean over rows of −Σ_a p_a log p_a of ``probs`` (needs ``probs``)
exploration_rate    share of rows whose action is not the first argmax of ``probs``
min_propensity      min propensity
error_rate          mean of ``failed`` (0 when not given)
fallback_rate       mean of ``fallback``: rounds the safety layer's fallback served
context_drift       max_j |m_w,j − m_r,j| / sqrt((v_w,j + v_r,j) / 2): mean and population
                    variance of feature j over the window (w) and the reference rounds
                    [0, reference) (r); a feature whose two variances are both 0 counts 0;
                    NaN also while e < reference
==================  ===============================================================

A variance counts as 0 when it is at most :data:`ZERO_VARIANCE` times the mean square of
the values it came from (rounding in the sums); values are shifted by the first round's
context before summing, so a feature constant from the first round sums to exactly 0.

Rules (:func:`evaluate_rules`): the condition ``kpi op threshold`` (threshold × baseline
when relative) at each evaluation point, false where the KPI is NaN and, for a rule
relative to the reference rounds' mean reward, before those rounds are over; *active* at point i
when it held at the last ``for_rounds / hop + 1`` points up to i, i.e. at every point of
``[e − for_rounds, e]`` (all of them existing: an alert is never active sooner than
``for_rounds`` rounds after its window is first full; ``for_rounds = 0``: this point
alone); an *episode* is a maximal run of consecutive active points. Count KPIs
(shares, rates) are exact ratios, so a value equal to its threshold does not satisfy a
strict ``<`` or ``>``.

Every quantity is a sum over blocks of ``hop`` rounds, then a cumulative sum over blocks:
windows are multiples of ``hop``, so a window is a difference of two cumulative sums
(``min_propensity``: a minimum over the window's block minima).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from common.errors import DataError
from envs.monitor.inputs import MonitorInputs
from envs.monitor.rules import KPI_INPUTS, KPIS, MonitorSpec

ZERO_VARIANCE = 1e-10  # relative: rounding in cumulative sums of up to ~1e8 rounds is below it
CHUNK_ROWS = 1 << 18  # rounds of context converted to float64 at a time


def evaluation_rounds(n_rounds: int, hop: int) -> np.ndarray:
    """(E,) the round ends ``hop, 2·hop, ...`` up to ``n_rounds``."""
    return hop * np.arange(1, n_rounds // hop + 1, dtype=np.int64)


def unavailable_kpis(inputs: MonitorInputs) -> dict[str, str]:
    """KPI -> why it cannot be computed from ``inputs`` (an optional input it lacks)."""
    return {k: f"needs the per-round input {need!r}, which the inputs lack"
            for k, need in KPI_INPUTS.items() if need not in inputs.available}


def _blocks(x: np.ndarray, hop: int, n_blocks: int) -> np.ndarray:
    """(E+1, ...) cumulative sums of ``x`` (n, ...) over blocks of ``hop`` rounds, from 0."""
    s = x[:n_blocks * hop].reshape(n_blocks, hop, *x.shape[1:]).sum(axis=1, dtype=np.float64)
    return np.concatenate([np.zeros((1, *s.shape[1:])), np.cumsum(s, axis=0)])


def _window(cum: np.ndarray, m: int) -> np.ndarray:
    """(E, ...) sums over the last ``m`` blocks at each evaluation point, NaN while fewer
    than ``m`` blocks were seen."""
    out = np.full((cum.shape[0] - 1, *cum.shape[1:]), np.nan)
    if m < cum.shape[0]:
        out[m - 1:] = cum[m:] - cum[:cum.shape[0] - m]
    return out


def _row_quantities(inputs: MonitorInputs) -> dict[str, np.ndarray]:
    """Per-round quantities whose window means are KPIs."""
    q = {"avg_reward": inputs.reward,
         "error_rate": (np.zeros(inputs.n_rounds) if inputs.failed is None
                        else inputs.failed.astype(np.float64))}
    if inputs.regret is not None:
        q["regret"] = inputs.regret
    if inputs.fallback is not None:
        q["fallback_rate"] = inputs.fallback.astype(np.float64)
    if inputs.probs is not None:
        p = inputs.probs
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        q["action_entropy"] = -plogp.sum(axis=1)
        q["exploration_rate"] = (inputs.action != np.argmax(p, axis=1)).astype(np.float64)
    return q


def _reference_context(context: np.ndarray, reference: int):
    """The first round's context x0, and the reference rounds' mean, variance and mean
    square of the shifted values x − x0, each (d,)."""
    x0 = context[0].astype(np.float64)
    ref = context[:reference].astype(np.float64) - x0
    mean = ref.mean(axis=0)
    return x0, mean, ((ref - mean) ** 2).mean(axis=0), (ref ** 2).mean(axis=0)


def _context_blocks(context: np.ndarray, x0: np.ndarray, hop: int, n_blocks: int):
    """(E+1, d) cumulative block sums of x − x0 and of (x − x0)², in float64, a few
    thousand blocks at a time (the (n, d) float64 copy is never made whole)."""
    d = context.shape[1]
    s1, s2 = np.zeros((n_blocks, d)), np.zeros((n_blocks, d))
    step = max(1, CHUNK_ROWS // hop)
    for b in range(0, n_blocks, step):
        e = min(b + step, n_blocks)
        xs = context[b * hop:e * hop].astype(np.float64).reshape(e - b, hop, d) - x0
        s1[b:e], s2[b:e] = xs.sum(axis=1), (xs ** 2).sum(axis=1)
    zero = np.zeros((1, d))
    return (np.concatenate([zero, np.cumsum(s1, axis=0)]),
            np.concatenate([zero, np.cumsum(s2, axis=0)]))


def _drift(s1, s2, w: int, ref) -> np.ndarray:
    """(E,) context drift from window sums ``s1``, ``s2`` (E, d) of the shifted context."""
    _, m_r, v_r, q_r = ref
    m_w = s1 / w
    q_w = s2 / w
    v_w = np.maximum(q_w - m_w ** 2, 0.0)
    zero_w = v_w <= ZERO_VARIANCE * q_w
    zero_r = v_r <= ZERO_VARIANCE * q_r
    v_w, v_r = np.where(zero_w, 0.0, v_w), np.where(zero_r, 0.0, v_r)
    both = zero_w & zero_r
    spread = np.sqrt(np.where(both, 1.0, (v_w + v_r) / 2))
    z = np.where(both, 0.0, np.abs(m_w - m_r) / spread)
    return z.max(axis=1, initial=0.0)


def _share_kpis(counts: np.ndarray, w: int) -> dict[str, np.ndarray]:
    """max_share and share_entropy from (E, K) window counts (NaN rows stay NaN)."""
    s = counts / w
    slogs = np.where(s > 0, s * np.log(np.where(s > 0, s, 1.0)), 0.0)
    slogs[np.isnan(s)] = np.nan
    return {"max_share": s.max(axis=1), "share_entropy": -slogs.sum(axis=1)}


def _sliding_min(block_min: np.ndarray, m: int) -> np.ndarray:
    """(E,) the minimum over the last ``m`` blocks, NaN while fewer were seen."""
    out = np.full(block_min.shape[0], np.nan)
    if m <= block_min.shape[0]:
        out[m - 1:] = np.lib.stride_tricks.sliding_window_view(block_min, m).min(axis=1)
    return out


def _prepare(inputs: MonitorInputs, spec: MonitorSpec, n_blocks: int) -> dict[str, Any]:
    """Cumulative block sums of every per-round quantity, block arm counts and minimum
    propensities, and the context reference."""
    hop, k = spec.hop, inputs.n_arms
    block = np.repeat(np.arange(n_blocks), hop)
    counts = np.bincount(block * k + inputs.action[:n_blocks * hop],
                         minlength=n_blocks * k).reshape(n_blocks, k)
    ref = _reference_context(inputs.context, spec.reference)
    x1, x2 = _context_blocks(inputs.context, ref[0], hop, n_blocks)
    return {"sums": {name: _blocks(x, hop, n_blocks)
                     for name, x in _row_quantities(inputs).items()},
            "counts": np.concatenate([np.zeros((1, k)), np.cumsum(counts, axis=0)]),
            "min_propensity": inputs.propensity[:n_blocks * hop].reshape(n_blocks, hop)
            .min(axis=1),
            "context": ref, "x1": x1, "x2": x2}


def _kpis_of_window(pre: dict[str, Any], w: int, spec: MonitorSpec,
                    rounds: np.ndarray) -> dict[str, np.ndarray]:
    """Every available KPI over windows of ``w`` rounds, each (E,)."""
    m = w // spec.hop
    out = {name: _window(cum, m) / w for name, cum in pre["sums"].items()}
    out.update(_share_kpis(_window(pre["counts"], m), w))
    out["min_propensity"] = _sliding_min(pre["min_propensity"], m)
    drift = _drift(_window(pre["x1"], m), _window(pre["x2"], m), w, pre["context"])
    out["context_drift"] = np.where((rounds >= spec.reference) & (rounds >= w), drift, np.nan)
    return {k: out[k] for k in KPIS if k in out}


def window_kpis(inputs: MonitorInputs, spec: MonitorSpec,
                windows: Iterable[int] | None = None,
                unavailable: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every KPI the inputs allow, at every evaluation point, for each window.

    Args:
        inputs: n rounds in time order; n must reach ``spec.reference``.
        spec: the monitor (hop, reference, baseline; its rules' windows by default).
        windows: window lengths (multiples of ``spec.hop``); default ``spec.windows``.
        unavailable: KPIs the caller declares not available, each with the reason
            (e.g. ``error_rate`` of a log whose failed decisions were not kept): left
            out of the windows and reported with the others.

    Returns:
        ``rounds`` (E,) the evaluation round ends; ``baseline`` (float: ``spec.baseline``
        or the reference rounds' mean reward); ``windows``: ``{w: {kpi: (E,) float64}}``,
        NaN where not evaluated; ``unavailable``: ``{kpi: reason}`` for KPIs the inputs
        cannot give.
    """
    n, hop = inputs.n_rounds, spec.hop
    if n < spec.reference:
        raise DataError(f"the inputs have {n:,} rounds, fewer than monitor.reference="
                        f"{spec.reference:,} (the rounds of the baseline reward and of the "
                        "context reference); lower monitor.reference")
    windows = tuple(sorted(set(spec.windows if windows is None else windows)))
    for w in windows:
        if w <= 0 or w % hop:
            raise DataError(f"window {w} is not a positive multiple of monitor.hop={hop}")
    rounds = evaluation_rounds(n, hop)
    pre = _prepare(inputs, spec, rounds.size)
    baseline = (float(np.mean(inputs.reward[:spec.reference])) if spec.baseline is None
                else float(spec.baseline))
    missing = {**unavailable_kpis(inputs), **(unavailable or {})}
    by_window = {w: {k: v for k, v in _kpis_of_window(pre, w, spec, rounds).items()
                     if k not in missing} for w in windows}
    return {"rounds": rounds, "baseline": baseline, "windows": by_window,
            "unavailable": missing}


def active_points(condition: np.ndarray, n_points: int) -> np.ndarray:
    """(E, T) bool: the condition (E, T) held at the last ``n_points`` evaluation points
    up to each one (all of them existing)."""
    idx = np.arange(condition.shape[0])[:, None]
    last_false = np.maximum.accumulate(np.where(condition, -1, idx), axis=0)
    return idx - last_false >= n_points


def _alert_summary(active: np.ndarray, rounds: np.ndarray) -> dict[str, np.ndarray]:
    """First active round (−1: never), number of episodes and of active points, each (T,)."""
    any_active = active.any(axis=0)
    first = np.where(any_active, rounds[np.argmax(active, axis=0)], -1)
    starts = active[:1].sum(axis=0) + (active[1:] & ~active[:-1]).sum(axis=0)
    return {"first_round": first.astype(np.int64), "episodes": starts.astype(np.int64),
            "active_count": active.sum(axis=0).astype(np.int64)}


def evaluate_rules(kpis: dict[str, Any], spec: MonitorSpec) -> dict[str, dict[str, Any]]:
    """Each rule of ``spec`` on :func:`window_kpis`' output.

    Returns ``{rule name: result}``; a result holds ``thresholds`` (T,) (factors times the
    baseline for a relative rule), ``condition`` and ``active`` (E, T) bool,
    ``first_round`` (T,) (the first active evaluation's round end, −1 if none),
    ``episodes`` (T,) and ``active_count`` (T,); or, for a rule whose KPI the inputs
    cannot give, only ``skipped`` (the reason).
    """
    out: dict[str, dict[str, Any]] = {}
    rounds = kpis["rounds"]
    for rule in spec.rules:
        if rule.kpi in kpis["unavailable"]:
            out[rule.name] = {"skipped": f"{rule.kpi} {kpis['unavailable'][rule.kpi]}"}
            continue
        values = kpis["windows"][rule.window][rule.kpi]
        thresholds = np.asarray(rule.thresholds, np.float64)
        if rule.relative:
            thresholds = thresholds * kpis["baseline"]
        with np.errstate(invalid="ignore"):
            cond = (values[:, None] < thresholds if rule.op == "<"
                    else values[:, None] > thresholds)
        if rule.relative and spec.baseline is None:  # the baseline is known from then on
            cond &= (rounds >= spec.reference)[:, None]
        active = active_points(cond, rule.for_rounds // spec.hop + 1)
        out[rule.name] = {"thresholds": thresholds, "condition": cond, "active": active,
                          **_alert_summary(active, rounds)}
    return out
