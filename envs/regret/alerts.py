"""Alert rules as a study: how often each rule fires on healthy runs, and how soon and how
surely it fires after an injected incident, for every threshold at once.

``python scripts/simulate.py experiment=simulate/alerts`` runs one policy on one world
with the monitor of the ``monitor`` config in every lane and the study's ``feedback``
(delays, refresh cadence) (thresholds given as lists are
evaluated in the same program), first healthy, then once per incident, each starting at
``alerts.incident_round``:

* ``world_change``: every arm's reward parameters redrawn (an abrupt drift);
* ``context_shift``: the contexts jump by ``alerts.jump_size`` along a random direction
  (a covariate shift; the reward function stays);
* ``broken_model``: the model's reward estimates negated (``faulty(corruption="flip")``);
* ``exploration_collapse``: the policy plays its most likely arm from then on;
* ``lost_propensities``: decisions are served as before but logged with probability 0.

Per rule and threshold: false alarms per 10,000 rounds (episodes on the healthy runs),
and per incident the share of seeds on which the alert was active after the incident
(detection) and the median rounds until it was (delay). ``summary.md``,
``summary.json`` and ``alerts.png`` (delay and detection against false alarms, one
column per incident) go to the run directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bandits
from common.errors import ConfigError
from common.validation import Range
from envs.engine.driver import EngineOptions, simulate
from envs.monitor import monitor_spec
from envs.monitor.online import LaneMonitor
from envs.regret.alerts_report import rule_rows, write_alerts
from envs.regret.study import feedback_of, make_world
from envs.worlds import registry as env_registry

INCIDENTS = ("world_change", "context_shift", "broken_model", "exploration_collapse",
             "lost_propensities")
ALERTS_KEYS = {"incident_round": Range(1, 10**9, integer=True),
               "jump_size": Range(0.0, 100.0, low_open=True)}


def check_alerts(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``alerts`` block (incident round before the horizon, known incidents), the one
    bandit, no ``drift`` (the incidents are the drifts); returns the settings."""
    alerts = dict(cfg.get("alerts") or {})
    unknown = set(alerts) - {*ALERTS_KEYS, "incidents"}
    if unknown:
        raise ConfigError(f"alerts has no key(s) {sorted(unknown)}; allowed: "
                          f"{', '.join([*ALERTS_KEYS, 'incidents'])}")
    for key, rng in ALERTS_KEYS.items():
        if key not in alerts:
            raise ConfigError(f"alerts.{key} is required")
        rng.check(f"alerts.{key}", alerts[key])
    n_rounds = cfg["study"]["n_rounds"]
    if alerts["incident_round"] >= n_rounds:
        raise ConfigError(f"alerts.incident_round={alerts['incident_round']} must come "
                          f"before study.n_rounds={n_rounds}")
    incidents = list(alerts.get("incidents") or INCIDENTS)
    for i, name in enumerate(incidents):
        if name not in INCIDENTS:
            raise ConfigError(f"alerts.incidents[{i}]={name!r} is not an incident; known: "
                              f"{', '.join(INCIDENTS)}")
    if cfg.get("drift") is not None:
        raise ConfigError("drift must be null in an alerts study: its incidents are the "
                          "changes of the world (alerts.incidents)")
    swept = {k: v for k, v in (cfg.get("sweep") or {}).items() if v is not None}
    if swept:
        raise ConfigError(f"an alerts study sweeps thresholds in its rules (a list in "
                          f"`when`), not sweep: got sweep keys {sorted(swept)}")
    if len(cfg.get("bandit") or {}) != 1:
        raise ConfigError(f"an alerts study runs one bandit, got "
                          f"{list(cfg.get('bandit') or {})}")
    return {**alerts, "incidents": incidents}


def incident_setup(kind: str, policy, world, at: int, jump_size: float):
    """The policy and world of one incident starting at round ``at``."""
    if kind == "world_change":
        return policy, env_registry.make_drift("abrupt", world, change_rounds=[at],
                                               rate=0.0, fraction=1.0)
    if kind == "context_shift":
        return policy, env_registry.make_drift("covariate-shift", world, rate=0.0,
                                               jump_rounds=[at], jump_size=jump_size)
    faults = {"broken_model": {"corrupt_at": at, "corruption": "flip"},
              "exploration_collapse": {"greedy_from": at},
              "lost_propensities": {"propensity_lost_from": at}}[kind]
    return bandits.faulty(policy, **faults, name=policy.name), world


def _run(policy, world, spec, watch_from: int, study: Mapping[str, Any], label: str,
         feedback=None):
    """One monitored run: every seed's alert results (``Rollout.alerts``)."""
    if study.get("progress", False):
        print(f"{label}:", flush=True)
    rollout = simulate(policy, world, n_rounds=study["n_rounds"], n_seeds=study["n_seeds"],
                       seed=study.get("seed", 0), feedback=feedback,
                       monitor=LaneMonitor(spec, world.n_arms, world.dim, watch_from),
                       options=EngineOptions(layout=study.get("layout", "lanes")),
                       progress=study.get("progress", False))
    return {rule: {k: v[0] for k, v in out.items()} for rule, out in rollout.alerts.items()}


def run(cfg: Mapping[str, Any], out_dir: str | None = None,
        echo: bool = True) -> dict[str, Any]:
    """Runs the alerts study of ``cfg`` (see the module docstring); writes its files to
    ``out_dir`` when given and returns ``{"summary": ..., "alerts": {run: results}}``."""
    settings = check_alerts(cfg)
    spec = monitor_spec(cfg.get("monitor") or {})
    world = make_world(cfg["env"])
    (bname, hyper), = cfg["bandit"].items()
    bandits.validate(bname, dict(hyper or {}))
    policy = bandits.make(bname, world.n_arms, world.dim, **dict(hyper or {}))
    study, at = cfg["study"], settings["incident_round"]
    feedback = feedback_of(cfg)
    results = {"healthy": _run(policy, world, spec, 0, study, "healthy", feedback)}
    for kind in settings["incidents"]:
        p, w = incident_setup(kind, policy, world, at, settings["jump_size"])
        results[kind] = _run(p, w, spec, at, study, kind, feedback)
    summary = {"policy": bname, "hyperparameters": dict(hyper or {}), "env": world.name,
               "n_seeds": study["n_seeds"], "n_rounds": study["n_rounds"],
               "incident_round": at, "incidents": settings["incidents"],
               "rules": rule_rows(spec, results, study["n_rounds"], at), "config": cfg}
    if out_dir:
        write_alerts(out_dir, summary, echo)
    return {"summary": summary, "alerts": results}

