"""The staged-rollout study: ``python scripts/simulate.py experiment=simulate/staged_rollout``
(``study.kind: staged_rollout``; :func:`envs.regret.study.run_study` dispatches here).

One compiled program runs ``study.n_seeds`` rollouts for every true lift in
``rollout.lifts``: a fixed candidate against a fixed incumbent on a world whose means
make the candidate's value exactly ``(1 + lift)`` times the incumbent's
(:mod:`envs.rollout.candidates`), wrapped in :func:`bandits.staged.staged_rollout` with
the configured schedule and rule, with the study's ``feedback`` (its attribution window
tells the rollout how long rewards may take) and the monitor's high-severity alert rules
(:mod:`envs.rollout.alerts`). ``rollout.candidate_faults`` injects
:func:`bandits.faults.faulty`'s faults into every candidate (the lifts stay those of the
healthy candidates). Healthy candidates are fixed and valid, so their decisions are
validated only when an alert rule reads their failures. The world, the policies and the
lifts are the ``rollout`` block's; ``env`` and ``bandit`` are not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from bandits.faults import faulty
from bandits.staged import staged_rollout
from common.errors import ConfigError
from envs.engine.driver import simulate
from envs.feedback import Feedback
from envs.rollout.alerts import NONE, RolloutAlerts, rollout_alerts
from envs.rollout.candidates import (
    arm_means,
    fixed_arm,
    lift_world,
    policy_value,
)
from envs.rollout.outcomes import fan, lift_row, per_rollout, share_paths
from envs.rollout.report import markdown, write
from envs.rollout.schedule import RolloutConfig, rollout_from_config

FAN_POINTS = 400


def _feedback(cfg: Mapping[str, Any]) -> Feedback:
    """The study's feedback, one setting per key (the lifts are the grid)."""
    try:
        feedback = Feedback.from_config(cfg.get("feedback"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if feedback.swept():
        raise ConfigError(f"the staged-rollout study takes one feedback setting per key "
                          f"(the true lifts are its grid), got lists for "
                          f"{sorted(feedback.swept())}")
    return feedback


def _checked(cfg: Mapping[str, Any]
             ) -> tuple[dict[str, Any], RolloutConfig, Feedback, RolloutAlerts]:
    study = cfg.get("study")
    if not isinstance(study, Mapping):
        raise ConfigError("config needs a mapping at 'study'")
    for key in ("n_seeds", "n_rounds"):
        if key not in study:
            raise ConfigError(f"study.{key} is required")
    swept = {k: v for k, v in (cfg.get("sweep") or {}).items() if v is not None}
    if swept:
        raise ConfigError(f"the staged-rollout study's grid is rollout.lifts; sweep is not "
                          f"read, got sweep keys {sorted(swept)}")
    if cfg.get("drift") is not None:
        raise ConfigError("drift must be null in the staged-rollout study: its outcomes are "
                          "judged by each candidate's exact lift on a stationary world; to "
                          "roll out on a drifting world, run bandits.staged_rollout through "
                          "envs.engine.simulate on envs.make_drift(...)")
    rc = rollout_from_config(cfg.get("rollout"), study["n_rounds"])
    alerts = rollout_alerts(cfg.get("monitor"), rc.rule, 1 + len(rc.lifts), rc.dim)
    return dict(study), rc, _feedback(cfg), alerts


def build(rc: RolloutConfig, feedback: Feedback, alerts: RolloutAlerts = NONE):
    """The rollout policy, its params grid (one candidate arm per lift), the world and its
    instance. Candidates get ``rc.candidate_faults``; their decisions are validated when
    they have faults or an alert rule reads their failures."""
    world, world_params = lift_world(rc.lifts, rc.epsilon, rc.value, rc.noise_std, rc.dim)
    k = world.n_arms
    window = int(feedback.attribution_window) if feedback.delayed else 0
    candidate = fixed_arm(k, rc.dim, 1, rc.epsilon)
    if rc.candidate_faults:
        candidate = faulty(candidate, **dict(rc.candidate_faults))
    reads = alerts.watch is not None and alerts.watch.reads_failures
    policy = staged_rollout(candidate, fixed_arm(k, rc.dim, 0, rc.epsilon), rc.stages,
                            rc.rule, attribution_window=window,
                            validate=bool(rc.candidate_faults) or reads,
                            name="staged_rollout", watch=alerts.watch)
    defaults = candidate.default_params
    params = type(defaults)(*(jnp.full((k - 1,), v, jnp.float32) for v in defaults))
    params = params._replace(arm=jnp.arange(1, k, dtype=jnp.float32))
    return policy, params, world, world_params


def summarise(rollout, rc: RolloutConfig, study: Mapping[str, Any], feedback: Feedback
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The summary (one row per lift) and each rollout's outcome."""
    means = arm_means(rc.lifts, rc.epsilon, rc.value)
    inc = policy_value(means, 0, rc.epsilon)
    values = [(policy_value(means, g + 1, rc.epsilon), inc) for g in range(len(rc.lifts))]
    out = per_rollout(rollout, len(rc.stages), float(means.max()),
                      np.array([max(v) for v in values]))
    names = [s.name for s in rc.stages]
    rows = [lift_row(lift, values[g], out, g, names) for g, lift in enumerate(rc.lifts)]
    n_lanes = len(rc.lifts) * rollout.n_seeds * len(rollout.rounds)
    summary = {
        "n_seeds": rollout.n_seeds, "n_rounds": len(rollout.rounds),
        "seed": study.get("seed", 0),
        "stages": [s._asdict() for s in rc.stages], "rule": rc.rule._asdict(),
        "world": {"value": rc.value, "noise_std": rc.noise_std, "epsilon": rc.epsilon,
                  "dim": rc.dim, "arm_means": means},
        "attribution_window": int(feedback.attribution_window) if feedback.delayed else 0,
        "feedback": vars(feedback),
        "timing": {"wall_s": rollout.wall_s, "compile_s": rollout.compile_s,
                   "run_s": rollout.run_s, "lane_rounds_per_s": n_lanes / rollout.run_s},
        "lifts": rows}
    return summary, out


def run(cfg: Mapping[str, Any], out_dir: str | None = None, echo: bool = True
        ) -> dict[str, Any]:
    """Runs the study from the plain composed config; writes ``summary.json``,
    ``summary.md`` and ``staged_rollout.png`` to ``out_dir`` when given. Returns
    ``{"summary", "rollout", "outcomes"}``."""
    study, rc, feedback, alerts = _checked(cfg)
    if study.get("compilation_cache", True):
        from envs.engine.runtime import enable_compilation_cache

        enable_compilation_cache()
    policy, params, world, world_params = build(rc, feedback, alerts)
    rollout = simulate(policy, world, n_rounds=study["n_rounds"], n_seeds=study["n_seeds"],
                       seed=study.get("seed", 0), policy_params=params,
                       env_params=world_params, feedback=feedback,
                       progress=study.get("progress", False))
    summary, out = summarise(rollout, rc, study, feedback)
    summary["alerts"] = {"watched": alerts.watched, "guardrail": alerts.guardrail,
                         "not_rolling_back": alerts.not_rolling_back}
    if out_dir:
        rounds = np.unique(np.linspace(0, study["n_rounds"] - 1, FAN_POINTS).astype(int))
        shares = np.array([s.share for s in rc.stages])
        write(out_dir, summary, rounds, fan(share_paths(out, shares, rounds)))
    if echo:
        print(markdown(summary))
    return {"summary": summary, "rollout": rollout, "outcomes": out}
