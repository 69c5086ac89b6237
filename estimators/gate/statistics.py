"""The gate's numbers for one candidate: estimates with bootstrap intervals, the paired lift
over the logging policy, the support diagnostics, and the rule that turns them into a
decision.

The logging policy's value is the held-out rewards' mean — exact for the policy that
produced them — and it is resampled together with the candidate's estimates, so the lift
((candidate − logging) / |logging|, in %) gets a paired interval and a paired p-value.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from estimators import ope, reward_models
from estimators import registry as est_registry
from estimators.bootstrap import bootstrap_replicates, paired_p_value

DEFAULT_ESTIMATORS = ("dr", "ipw", "snipw", "dm")
RULE_NUMBERS = ("min_lift_lower_pct", "min_ess", "max_support_violation")


@dataclass(frozen=True)
class GateRule:
    """When a candidate may ship (every condition must hold).

    Attributes:
        decide_on: the estimator whose lift decides.
        min_lift_lower_pct: the lift's lower interval bound must exceed this (in %).
        min_ess: the importance weights' effective sample size must reach this (rows).
        max_support_violation: the candidate's mean probability on arms without support
            (never taken by the logging policy, or not eligible) must not exceed this.
        max_p_value: if set, the paired p-value of "no difference" must be below it.
    """

    decide_on: str = "dr"
    min_lift_lower_pct: float = 0.0
    min_ess: float = 100.0
    max_support_violation: float = 0.0
    max_p_value: float | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> GateRule:
        """The rule of a ``gate`` config, every key and value checked."""
        cfg = dict(cfg or {})
        allowed = set(cls.__dataclass_fields__)
        for key in cfg:
            if key not in allowed:
                raise ValueError(f"gate has no key {key!r}; allowed: {', '.join(sorted(allowed))}")
        rule = cls(**cfg)
        if rule.decide_on not in est_registry.names():
            raise ValueError(f"gate.decide_on must be one of {', '.join(est_registry.names())}, "
                             f"got {rule.decide_on!r}")
        for key in RULE_NUMBERS:
            v = getattr(rule, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
                raise ValueError(f"gate.{key} must be a number, got {v!r}")
        if rule.min_ess < 0 or not 0 <= rule.max_support_violation <= 1:
            raise ValueError(f"gate.min_ess must be >= 0 and gate.max_support_violation in "
                             f"[0, 1]; got {rule.min_ess!r}, {rule.max_support_violation!r}")
        if rule.max_p_value is not None and not 0 < rule.max_p_value <= 1:
            raise ValueError(f"gate.max_p_value must be in (0, 1] or null, got "
                             f"{rule.max_p_value!r}")
        return rule


DEFAULT_RULE = GateRule()


def _row_probs(policy, params, state, key, context, mask, index):
    """(K,) the policy's probabilities on one row, with the noise of row ``index``."""
    noise = policy.draw(params, jax.random.fold_in(key, index))
    return policy.decide(params, state, noise, context, mask).probs


def rows_probs(policy, params, state, key, context, mask, index):
    """(B, K) :func:`_row_probs` of a batch of rows: context (B, d), mask (B, K),
    index (B,)."""
    one = functools.partial(_row_probs, policy, params, state, key)
    return jax.vmap(one)(context, mask, index)


def decision_probs(policy, params, state, context, mask, key, batch_rows: int = 65_536
                   ) -> np.ndarray:
    """(n, K) action probabilities of a fixed (trained) policy on logged contexts.

    Row i uses the noise ``policy.draw(params, fold_in(key, i))``, so a Monte Carlo
    estimate (Thompson sampling) is reproducible row by row whatever the batch size.

    Args:
        context: (n, d) logged contexts; mask: (n, K) eligible arms, or None (all).
        batch_rows: rows per compiled batch (bounds the memory).
    """
    n = context.shape[0]
    mask = np.ones((n, policy.n_arms), bool) if mask is None else mask
    probs = jax.jit(functools.partial(rows_probs, policy, params, state, key))
    out = np.empty((n, policy.n_arms), np.float32)
    for s in range(0, n, batch_rows):  # batches of rows bound the memory, not a hot loop
        e = min(n, s + batch_rows)
        idx = np.arange(s, e)
        if e - s < batch_rows and n > batch_rows:  # keep one compiled shape
            idx = np.arange(e - batch_rows, e)
        out[idx] = np.asarray(probs(context[idx], mask[idx], idx))
    return out


def interval(replicates: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile interval of the finite (n_boot,) replicates (NaN, NaN when none is
    finite)."""
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _values_and_logging_mean(estimators: Sequence, rows: ope.Rows):
    """(E + 1,) every estimator's value, then the logging policy's (count-weighted) mean
    reward."""
    return jnp.stack([f(rows).value for f in estimators] + [ope.wmean(rows.reward, rows)])


def _replicates(statistic, n_boot: int, scheme: str, rows: ope.Rows, key):
    """(n_boot, E + 1) ``statistic`` on the bootstrap resamples of ``rows``."""
    return bootstrap_replicates(statistic, rows, key, n_boot, scheme=scheme)


@functools.cache
def _compiled_statistics(estimators: tuple[tuple[str, tuple[tuple[str, float], ...]], ...],
                         n_boot: int, scheme: str):
    """The estimators plus the logging policy's mean, on the data and on its resamples;
    compiled once per configuration, so every candidate of a report reuses them.

    ``estimators``: ``((name, ((key, value), ...)), ...)``, every hyperparameter given.
    """
    fns = tuple(est_registry.bind(n, **dict(h)) for n, h in estimators)
    statistic = functools.partial(_values_and_logging_mean, fns)
    return jax.jit(statistic), jax.jit(functools.partial(_replicates, statistic, n_boot,
                                                         scheme))


def estimate_entry(value: float, replicates: np.ndarray, logging_value: float,
                    logging_replicates: np.ndarray, alpha: float) -> dict[str, Any]:
    """One estimator's report entry: value, interval, bootstrap standard error, paired
    p-value and (when the logging value is not 0) the lift in % with its interval.

    Args:
        replicates, logging_replicates: (n_boot,) float64, from the same resamples.
    """
    lo, hi = interval(replicates, alpha)
    diff = replicates - logging_replicates
    entry = {"value": value, "lower": lo, "upper": hi,
             "std_error": float(replicates.std(ddof=1)),
             "p_value": float(paired_p_value(diff, np))}
    if logging_value != 0:
        # relative to |V(logging)|, so a better candidate has a positive lift even
        # when rewards (and values) are negative
        lift = (replicates - logging_replicates) / np.abs(logging_replicates) * 100
        entry["lift_pct"] = {"value": (value - logging_value) / abs(logging_value) * 100,
                             **dict(zip(("lower", "upper"), interval(lift, alpha)))}
    return entry


def check_decide_on(estimators: Mapping[str, Any], rule: GateRule) -> None:
    """Raises ValueError unless the rule's estimator is among ``estimators``."""
    if rule.decide_on not in estimators:
        raise ValueError(f"gate.decide_on={rule.decide_on!r} is not among the estimators "
                         f"{list(estimators)}")


def _checked_estimators(estimators, q_hat, rule: GateRule) -> dict[str, dict[str, float]]:
    """The estimators' full hyperparameters, after checking the rule's estimator is among
    them and every model-based one has its reward model."""
    hypers = est_registry.from_config(estimators)
    check_decide_on(hypers, rule)
    names = list(hypers)
    for n in names:
        if est_registry.spec(n).needs_model and q_hat is None:
            raise ValueError(f"estimator {n} needs a reward model")
    return hypers


def evaluate_candidate(data, target_probs: np.ndarray, q_hat: np.ndarray | None, *,
                       key, estimators: Sequence[str] | Mapping[str, Any] = DEFAULT_ESTIMATORS,
                       n_boot: int = 1000, alpha: float = 0.05, rule: GateRule = DEFAULT_RULE,
                       scheme: str = "multinomial") -> dict[str, Any]:
    """Estimates, lift, diagnostics and the gate's verdict for one candidate.

    Args:
        data: the held-out :class:`envs.data.logged.LoggedData` (n rows, K arms).
        target_probs: (n, K) the candidate's action probabilities on those rows.
        q_hat: (n, K) out-of-fold reward-model predictions (None: DM and DR unavailable).
        estimators: names (each at its defaults) or ``name -> hyperparameters`` (the
            ``estimator`` config group); see :func:`estimators.registry.from_config`.
    """
    hypers = _checked_estimators(estimators, q_hat, rule)
    rows = ope.rows(np.asarray(data.reward, np.float32), data.action,
                    np.asarray(data.pscore, np.float32), target_probs, q_hat)
    point, replicates = _compiled_statistics(
        tuple((n, tuple(h.items())) for n, h in hypers.items()), n_boot, scheme)
    full = np.asarray(point(rows), np.float64)
    reps = np.asarray(replicates(rows, key), np.float64)
    logging_value, logging_reps = full[-1], reps[:, -1]
    out: dict[str, Any] = {"estimates": {}, "logging_value": {
        "value": logging_value, **dict(zip(("lower", "upper"),
                                           interval(logging_reps, alpha)))}}
    for j, name in enumerate(hypers):
        out["estimates"][name] = estimate_entry(full[j], reps[:, j], logging_value,
                                                 logging_reps, alpha)
    out["diagnostics"] = diagnostics(data, rows, target_probs)
    out["decision"], out["checks"] = apply_rule(out, rule)
    return out


def _unsupported(data, target_probs: np.ndarray) -> tuple[np.ndarray, str]:
    """(n, K) which (row, arm) pairs lack support, and on what basis: the logging
    policy's zero-probability arms when the logs carry its distribution, else arms absent
    from the logs; ineligible arms always."""
    if data.action_dist is not None:
        unsupported = np.asarray(data.action_dist) <= 0
        basis = "logging distribution"
    else:
        seen = np.bincount(data.action, minlength=data.n_arms) > 0
        unsupported = np.broadcast_to(~seen, target_probs.shape)
        basis = "arms present in the held-out logs"
    if data.mask is not None:
        unsupported = unsupported | ~np.asarray(data.mask)
    return unsupported, basis


def diagnostics(data, rows: ope.Rows, target_probs: np.ndarray) -> dict[str, Any]:
    """How far the held-out logs support the candidate: the importance weights' effective
    sample size, maximum and non-zero share, and the candidate's probability on arms
    without support (see :func:`_unsupported`), with those arms listed.

    Args:
        data: the held-out logs (n rows, K arms); rows: their :class:`ope.Rows` under the
            candidate; target_probs: (n, K) the candidate's probabilities.
    """
    w = np.asarray(ope.importance_weights(rows), np.float64)
    with np.errstate(invalid="ignore"):  # every weight 0: (Σw)²/Σw² is 0/0, reported as 0
        weights = ope.diagnostics(w, np)
    diag = {"ess": float(weights.ess) if weights.nonzero_fraction > 0 else 0.0,
            "max_weight": float(weights.max_weight),
            "nonzero_fraction": float(weights.nonzero_fraction), "n_rows": int(w.shape[0])}
    diag["ess_fraction"] = diag["ess"] / diag["n_rows"]
    tp = np.asarray(target_probs, np.float64)
    unsupported, diag["support_basis"] = _unsupported(data, tp)
    mass = np.mean(tp * unsupported, axis=0)  # (K,) candidate mass per unsupported arm
    diag["support_violation"] = float(mass.sum())
    diag["unsupported_arms"] = [int(a) for a in np.flatnonzero(mass > 0)]
    return diag


def apply_rule(result: Mapping[str, Any], rule: GateRule) -> tuple[str, list[dict[str, Any]]]:
    """``(decision, checks)``: "ship" when every check of ``rule`` holds on a candidate's
    ``result`` (its estimates and diagnostics), each check with its measured value."""
    est = result["estimates"][rule.decide_on]
    diag = result["diagnostics"]
    lift_lo = est.get("lift_pct", {}).get("lower", -math.inf)
    checks = [
        {"check": f"{rule.decide_on} lift lower bound > {rule.min_lift_lower_pct:g}%",
         "value": lift_lo, "ok": bool(lift_lo > rule.min_lift_lower_pct)},
        {"check": f"effective sample size >= {rule.min_ess:g}", "value": diag["ess"],
         "ok": bool(diag["ess"] >= rule.min_ess)},
        {"check": f"support violation <= {rule.max_support_violation:g}",
         "value": diag["support_violation"],
         "ok": bool(diag["support_violation"] <= rule.max_support_violation)},
    ]
    if rule.max_p_value is not None:
        checks.append({"check": f"paired p-value < {rule.max_p_value:g}",
                       "value": est["p_value"], "ok": bool(est["p_value"] < rule.max_p_value)})
    return ("ship" if all(c["ok"] for c in checks) else "do not ship"), checks


def reward_model_predictions(data, cfg: Mapping[str, Any] | None, key) -> np.ndarray:
    """(n, K) out-of-fold q̂(x, a) on ``data``'s rows; ``cfg`` is a ``reward_model`` config
    (``conf/reward_model/``, see :func:`estimators.reward_models.from_config`)."""
    return reward_models.out_of_fold(cfg, key, data.context, data.action, data.reward,
                                     data.n_arms, data.arm_features)
