"""What each simulated rollout ended with, and the rates across rollouts per true lift.

Everything is read from the rollout's final state (:class:`bandits.staged.StagedState`,
leaves (G, S, ...): G lifts, S seeds) and the engine's cumulative regret, on the host:

* shipped: reached the last stage (full) without a rollback; blocked: rolled back, and
  why (:data:`bandits.staged.CAUSES`: a failed decision, an alert, the guardrail, the
  promotion rule);
* rounds to full: the round the last stage began, among shipped rollouts;
* exposed: decisions the candidate served (users, since every round is a new context);
* regret: expected reward lost against serving the better of the two policies to every
  user from the first round, ``Σ_t (max(v_cand, v_inc) − μ(a_t))`` (the engine's regret
  against the best arm, less ``T·(μ* − max(v_cand, v_inc))``);
* the shadow stage's off-policy estimates of the candidate (SNIPS and doubly robust, each
  with its 95% CLT interval) and their coverage of the true value, and the share of
  shadow decisions on which the candidate and the incumbent disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bandits.staged import CAUSES
from bandits.staged_shadow import shadow_estimates

FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
Z95 = 1.959964


def wilson(successes: np.ndarray, n: int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a binomial proportion (exact enough at 0 and 1)."""
    p = np.asarray(successes, np.float64) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def per_rollout(rollout, n_stages: int, best_mean: float, better_values: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Every rollout's outcome, (G, S) arrays; ``better_values`` (G,) is
    ``max(v_cand, v_inc)`` per lift and ``best_mean`` the best arm's mean."""
    fs = rollout.final_state
    rolled_back = np.asarray(fs.rolled_back, bool)
    stage = np.asarray(fs.stage)
    n_rounds = len(rollout.rounds)
    shadow = shadow_estimates(fs.ope)
    disagreement = np.asarray(fs.disagreement, np.float64).sum(-2)
    return {
        "shipped": (stage == n_stages - 1) & ~rolled_back,
        "rolled_back": rolled_back, "stage": stage, "cause": np.asarray(fs.cause),
        "full_at": np.asarray(fs.entered)[..., -1],
        "entered": np.asarray(fs.entered), "rolled_back_at": np.asarray(fs.rolled_back_at),
        "exposed": np.asarray(fs.exposed),
        "regret": rollout.final_regret - n_rounds * (best_mean - better_values[:, None]),
        "shadow_snips": shadow["snips"], "shadow_low": shadow["snips_low"],
        "shadow_high": shadow["snips_high"], "shadow_n": shadow["n"],
        "shadow_dr": shadow["dr"], "shadow_dr_low": shadow["dr_low"],
        "shadow_dr_high": shadow["dr_high"],
        "disagreement": disagreement[..., 1] / np.maximum(disagreement[..., 0], 1.0),
    }


def _quantiles(x: np.ndarray) -> dict[str, float | None]:
    if x.size == 0:
        return {"median": None, "q10": None, "q90": None}
    q10, q50, q90 = np.quantile(x, [0.1, 0.5, 0.9])
    return {"median": float(q50), "q10": float(q10), "q90": float(q90)}


def _coverage(estimate: np.ndarray, low: np.ndarray, high: np.ndarray, truth: float
              ) -> tuple[float | None, float | None]:
    """(mean estimate, share of intervals covering ``truth``) over the rollouts with an
    estimate; ``(None, None)`` without any."""
    finite = np.isfinite(estimate)
    if not finite.any():
        return None, None
    covered = (low <= truth) & (truth <= high)
    return float(estimate[finite].mean()), float(covered[finite].mean())


def lift_row(lift: float, values: tuple[float, float], out: dict[str, np.ndarray], g: int,
             stage_names: list[str]) -> dict[str, Any]:
    """The outcome rates of lift ``g`` across its rollouts; ``values`` are the
    candidate's and the incumbent's true values."""
    n = out["shipped"].shape[1]
    shipped, back = out["shipped"][g], out["rolled_back"][g]
    ship_lo, ship_hi = wilson(shipped.sum(), n)
    back_lo, back_hi = wilson(back.sum(), n)
    truth = values[0]
    snips_mean, snips_coverage = _coverage(out["shadow_snips"][g], out["shadow_low"][g],
                                           out["shadow_high"][g], truth)
    dr_mean, dr_coverage = _coverage(out["shadow_dr"][g], out["shadow_dr_low"][g],
                                     out["shadow_dr_high"][g], truth)
    blocked_at = {name: int(np.sum(back & (out["stage"][g] == i)))
                  for i, name in enumerate(stage_names)}
    causes = {name: int(np.sum(back & (out["cause"][g] == i)))
              for i, name in enumerate(CAUSES) if i}
    return {
        "lift": lift, "value_candidate": truth, "value_incumbent": values[1],
        "n_rollouts": n, "p_full": float(shipped.mean()), "p_full_ci95": [ship_lo, ship_hi],
        "p_rollback": float(back.mean()), "p_rollback_ci95": [back_lo, back_hi],
        "p_wrong": float(shipped.mean() if lift < 0 else back.mean() if lift > 0 else 0.0),
        "rounds_to_full": _quantiles(out["full_at"][g][shipped].astype(np.float64)),
        "regret_mean": float(out["regret"][g].mean()),
        "regret_se": float(out["regret"][g].std(ddof=1) / np.sqrt(n)) if n > 1 else None,
        "exposed_mean": float(out["exposed"][g].mean()),
        "exposed_bad_mean": float(out["exposed"][g].mean()) if lift < 0 else 0.0,
        "rolled_back_in": {k: v for k, v in blocked_at.items() if v},
        "rolled_back_by": {k: v for k, v in causes.items() if v},
        "shadow_snips_mean": snips_mean, "shadow_ci95_coverage": snips_coverage,
        "shadow_dr_mean": dr_mean, "shadow_dr_ci95_coverage": dr_coverage,
        "shadow_disagreement": float(out["disagreement"][g].mean()),
    }


def share_paths(out: dict[str, np.ndarray], shares: np.ndarray, rounds: np.ndarray
                ) -> np.ndarray:
    """(G, S, P) the candidate's traffic share at each of ``rounds`` (P,): the share of
    the stage in effect, 0 once rolled back."""
    entered = out["entered"][..., None]  # (G, S, n_stages, 1)
    reached = (entered >= 0) & (entered <= rounds)
    stage = np.sum(reached, axis=-2) - 1
    share = np.asarray(shares)[np.maximum(stage, 0)]
    back = out["rolled_back_at"][..., None]
    return np.where((back >= 0) & (rounds >= back), 0.0, share)


def fan(paths: np.ndarray) -> dict[str, np.ndarray]:
    """Per lift the mean share and its :data:`FAN_QUANTILES` across seeds, (G, P) each."""
    out = {"mean": paths.mean(1)}
    for q, v in zip(FAN_QUANTILES, np.quantile(paths, FAN_QUANTILES, axis=1)):
        out[f"q{round(q * 100):02d}"] = v
    return out
