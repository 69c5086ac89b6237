"""Regret-curve studies: config in; ``summary.json``, ``summary.md``, ``curves.csv`` and
``regret.png`` out.

``run_study(cfg, out_dir)`` is what ``scripts/simulate.py`` calls with the composed Hydra
config (as a plain dict). Everything is validated before anything is compiled; the
summary, tables and files are :mod:`envs.regret.report`'s.
"""

from __future__ import annotations

import importlib
import itertools
import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

import bandits
from common import tracking
from common.shards import parse_shard, shard_range
from common.validation import Range
from envs.engine.driver import EngineOptions, Rollout, simulate
from envs.feedback import Feedback
from envs.feedback.spec import NUMERIC as FEEDBACK_NUMERIC
from envs.monitor import MonitorSpec, monitor_spec
from envs.regret.report import format_table, summarise, write_outputs
from envs.regret.shards import save_rollouts
from envs.regret.views import add_views
from envs.worlds import registry as env_registry
from envs.worlds.base import World
from envs.worlds.wrapper import DriftWorld

STUDY_KEYS = {
    "n_seeds": Range(1, 10_000_000, integer=True),
    "n_rounds": Range(1, 1_000_000_000, integer=True),
    "seed": Range(0, 2**31 - 1, integer=True),
    "n_checkpoints": Range(2, 10_000, integer=True),
}
STUDY_FLAGS = ("fixed_world", "progress", "compilation_cache")
STUDY_CHOICES = {"layout": ("lanes", "vmap"), "record": ("curves", "trajectories"),
                 "kind": ("regret", "alerts", "safety", "staged_rollout", "panels")}
# study.kind -> the module whose ``run(cfg, out_dir, echo)`` runs it (regret: this one)
STUDY_KINDS = {"alerts": "envs.regret.alerts", "safety": "envs.regret.safety",
               "staged_rollout": "envs.rollout.study", "panels": "envs.regret.panels"}
REQUIRED_STUDY_KEYS = ("n_seeds", "n_rounds")
# study.objective: the result column a job returns to a Hydra sweeper (Optuna minimises or
# maximises it); null returns nothing
OBJECTIVES = ("final_regret_mean", "final_regret_std", "final_regret_p97.5",
              "mean_reward_per_round")


# ------------------------------------------------------------------------ validation


def validate(cfg: Mapping[str, Any]) -> None:
    """Checks a composed study config; raises ``ValueError`` naming the key.

    Args:
        cfg: the plain composed config: ``env`` (``name`` and the world's options),
            ``bandit`` (name -> hyperparameters), ``study``, optional ``drift`` (``name``
            and the drift's options, :func:`envs.worlds.registry.make_drift`; its rounds
            must lie before ``study.n_rounds``), optional ``feedback`` (delays, the
            attribution window and the refresh cadence, :class:`envs.feedback.Feedback`),
            optional ``sweep`` (hyperparameter, numeric feedback setting or
            ``drift_<option>`` of the drift's numeric options -> list of values) and
            ``logger``.
    """
    for key in ("env", "bandit", "study"):
        if not isinstance(cfg.get(key), Mapping):
            raise ValueError(f"config needs a mapping at {key!r}")
    env = make_world(cfg["env"], cfg.get("drift"))
    _check_bandits(cfg["bandit"], env)
    _check_study(cfg["study"])
    if isinstance(env, DriftWorld):
        env.check_horizon(cfg["study"]["n_rounds"])
    _check_sweep(_swept(cfg), list(cfg["bandit"]), _drift_knobs(env))
    _check_objective(cfg)
    feedback_of(cfg)
    _check_drift_sweep(cfg, env)
    _monitor(cfg)
    tracking.validate(cfg.get("logger"))


def _check_objective(cfg: Mapping[str, Any]) -> None:
    """A job with ``study.objective`` returns one number: one bandit, no in-process grid."""
    objective = cfg["study"].get("objective")
    swept = _swept(cfg)
    if objective is not None and (len(cfg["bandit"]) != 1 or swept):
        raise ValueError(
            f"study.objective={objective} makes each job return one number, so a job runs "
            f"one bandit and no sweep; got bandit={','.join(cfg['bandit'])} and sweep keys "
            f"{sorted(swept) or 'none'} (search hyperparameters with hydra/sweeper=optuna)")


def objective_value(cfg: Mapping[str, Any], rows: list[dict[str, Any]]) -> float | None:
    """The job's ``study.objective`` column of its one result row, or None."""
    objective = (cfg.get("study") or {}).get("objective")
    return None if objective is None else float(rows[0][objective])


def _monitor(cfg: Mapping[str, Any]) -> MonitorSpec | None:
    """The monitor every lane keeps (``monitor=default``: ``conf/monitor/``), checked;
    ``None`` without one."""
    return monitor_spec(cfg["monitor"]) if cfg.get("monitor") else None


def make_world(env_cfg: Mapping[str, Any], drift_cfg: Any = None) -> World:
    """The world of the ``env`` config (``name`` and its options), validated; changing
    over time as the optional ``drift`` config (``name`` and its options) says."""
    options = dict(env_cfg)
    options.pop("feedback", None)  # the world's own delays: read by feedback_of
    world = env_registry.make(options.pop("name", None), **options)
    if drift_cfg is None:
        return world
    if not isinstance(drift_cfg, Mapping):
        raise ValueError(f"drift must be a mapping (name and options), got {drift_cfg!r}")
    drift = dict(drift_cfg)
    return env_registry.make_drift(drift.pop("name", None), world, **drift)


def _check_bandits(selected: Mapping[str, Any], env: World) -> None:
    """Every selected bandit's hyperparameters, and its reward type against the world's."""
    if not selected:
        raise ValueError(f"bandit: choose at least one of {', '.join(bandits.names())}")
    for bname, hyper in selected.items():
        bandits.validate(bname, bandit_options(bname, hyper, env))
        if bandits.spec(bname).binary_rewards and not env.binary_rewards:
            raise ValueError(f"bandit.{bname} needs 0/1 rewards but env {env.name!r} has "
                             f"real-valued rewards; use a binary world such as "
                             f"logistic-bernoulli")


def bandit_options(bname: str, hyper: Mapping[str, Any] | None, env: World
                   ) -> dict[str, Any]:
    """A bandit's hyperparameters for ``env``: an ``arm_features`` left null (the
    neural policies' default) is the world's (``World.arm_features``)."""
    options = dict(hyper or {})
    if "arm_features" in bandits.spec(bname).static and options.get("arm_features") is None:
        options["arm_features"] = int(getattr(env, "arm_features", 0))
    return options


def _check_study(study: Mapping[str, Any]) -> None:
    """The ``study`` keys: sizes and seed in range, flags true or false, choices known."""
    for key, value in study.items():
        if key == "shard":
            if value is not None:
                parse_shard(value, study.get("n_seeds", 1))
        elif key == "objective":
            if value is not None and value not in OBJECTIVES:
                raise ValueError(f"study.objective must be null or one of "
                                 f"{', '.join(OBJECTIVES)}, got {value!r}")
        elif key in STUDY_KEYS:
            STUDY_KEYS[key].check(f"study.{key}", value)
        elif key in STUDY_FLAGS:
            if not isinstance(value, bool):
                raise ValueError(f"study.{key} must be true or false, got {value!r}")
        elif key in STUDY_CHOICES:
            if value not in STUDY_CHOICES[key]:
                raise ValueError(f"study.{key} must be one of "
                                 f"{', '.join(STUDY_CHOICES[key])}, got {value!r}")
        else:
            raise ValueError(f"study has no key {key!r}; allowed: "
                             f"{', '.join([*STUDY_KEYS, *STUDY_FLAGS, *STUDY_CHOICES])}, "
                             f"objective, shard")
    for key in REQUIRED_STUDY_KEYS:
        if key not in study:
            raise ValueError(f"study.{key} is required")


def _swept(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``sweep`` entries that are set (not null): hyperparameter -> values."""
    return {k: v for k, v in (cfg.get("sweep") or {}).items() if v is not None}


def _drift_knobs(env: World) -> tuple[str, ...]:
    """The sweep names of the world's drift options that sweep in-process
    (``drift_<option>``)."""
    return tuple(f"drift_{k}" for k in env.KNOBS) if isinstance(env, DriftWorld) else ()


def _check_sweep(sweep: Mapping[str, Any], selected: list[str],
                 drift_knobs: tuple[str, ...] = ()) -> None:
    """Each swept hyperparameter: a non-empty list, owned by a selected bandit, every
    value in that bandit's range (feedback settings and drift options are checked where
    they are built)."""
    for key, values in sweep.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"sweep.{key} must be a non-empty list, got {values!r}")
        if key in FEEDBACK_NUMERIC or key in drift_knobs:
            continue  # checked with the feedback config (_feedback) or the drift's
        owners = [b for b in selected if key in bandits.spec(b).params]
        if not owners:
            raise ValueError(f"sweep.{key}: no selected bandit has a numeric "
                             f"hyperparameter {key!r} (selected: {', '.join(selected)}), "
                             f"and it is not a numeric feedback setting "
                             f"({', '.join(FEEDBACK_NUMERIC)}) nor an option of the "
                             f"configured drift ({', '.join(drift_knobs) or 'no drift'})")
        for b in owners:
            for i, v in enumerate(values):
                bandits.spec(b).params[key].check(f"sweep.{key}[{i}] (for bandit.{b})", v)


# ---------------------------------------------------------------------------- run


def _feedback_source(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Where the feedback settings come from and what they are: the world's own
    (``env.feedback``) when it declares them, else the study's (``feedback``).

    Raises:
        ValueError: both set delays or a refresh cadence.
    """
    study = dict(cfg.get("feedback") or {})
    world = cfg["env"].get("feedback")
    if world is None:
        return "", study
    if not isinstance(world, Mapping):
        raise ValueError(f"env.feedback must be a mapping of feedback settings, got {world!r}")
    own = Feedback.from_config(study)
    if own.delayed or own.batched:
        raise ValueError(f"env.feedback and feedback both say how rewards arrive "
                         f"(env.feedback={dict(world)}, feedback={study}): the world declares "
                         f"its own; change it there (env.feedback.KEY=...) or use "
                         f"feedback=none")
    return "env.", dict(world)


def feedback_of(cfg: Mapping[str, Any], sweep: Mapping[str, list] | None = None) -> Feedback:
    """The feedback of the study or of its world (:func:`_feedback_source`), with the
    swept feedback settings as lists when ``sweep`` gives the grid's columns; checked,
    every value (errors name ``env.feedback.<key>`` for the world's)."""
    prefix, fb_cfg = _feedback_source(cfg)
    fb_cfg.update({k: v for k, v in (sweep if sweep is not None else _swept(cfg)).items()
                   if k in FEEDBACK_NUMERIC})
    try:
        return Feedback.from_config(fb_cfg)
    except ValueError as e:
        raise ValueError(f"{prefix}{e}") from None


def _check_drift_sweep(cfg: Mapping[str, Any], env: World) -> None:
    """The drift's options are single values (lists go in ``sweep.drift_<option>``), and
    every swept value is in the option's range. A world's own grid option given as a list
    (``env.delta=[...]`` for the wheel, ``env_<option>``) runs as the grid."""
    drift_lists = [k for k in env.swept() if k.startswith("drift_")]
    if drift_lists:
        name = drift_lists[0]
        raise ValueError(f"drift.{name[len('drift_'):]} is a list; sweep it in-process "
                         f"with sweep.{name}=[...]")
    for key, values in _swept(cfg).items():
        if key in _drift_knobs(env):
            make_world(cfg["env"], _drift_config(cfg, {key: values}))


def _drift_config(cfg: Mapping[str, Any], columns: Mapping[str, list]) -> Any:
    """The ``drift`` config with the swept drift options (``drift_<option>`` columns) as
    lists; ``None`` without a drift."""
    if cfg.get("drift") is None:
        return None
    drift = dict(cfg["drift"])
    drift.update({k[len("drift_"):]: v for k, v in columns.items() if k.startswith("drift_")})
    return drift


def _grid(policy, cfg: Mapping[str, Any]) -> tuple[Any, Feedback, World]:
    """Cartesian product of the swept values this policy, the feedback and the drift
    have: the policy's params grid, fields (G,) float32 (its defaults when nothing is
    swept), the feedback with its swept settings as (G,) lists and the world with its
    swept drift options as (G,) lists."""
    sweep = _swept(cfg)
    drift_knobs = _drift_knobs(make_world(cfg["env"], cfg.get("drift")))
    own = {k: v for k, v in sweep.items() if k in policy.default_params._fields
           or k in FEEDBACK_NUMERIC or k in drift_knobs}
    combos = list(itertools.product(*own.values()))
    cols = {k: [c[i] for c in combos] for i, k in enumerate(own)} if own else {}
    params = policy.default_params._replace(**{
        k: np.array(v, np.float32) for k, v in cols.items()
        if k in policy.default_params._fields})
    return (params, feedback_of(cfg, {k: v for k, v in cols.items() if k in FEEDBACK_NUMERIC}),
            make_world(cfg["env"], _drift_config(cfg, cols)))


def run_study(cfg: Mapping[str, Any], out_dir: str | None = None,
              echo: bool = True) -> dict[str, Any]:
    """Runs every selected bandit on the configured world and writes the outputs; a
    ``study.kind`` other than ``regret`` runs that study instead (:data:`STUDY_KINDS`).

    Args:
        cfg: the plain composed config (see :func:`validate`).
        out_dir: where ``summary.json``, ``summary.md``, ``curves.csv`` and
            ``regret.png`` go; nothing is written when ``None``.
        echo: print the results table.

    Returns:
        ``{"summary": ..., "rollouts": [Rollout per bandit], "objective": ...}``; the
        summary holds the world, sizes, machine, config and one result row per bandit
        and grid point; ``objective`` is ``study.objective``'s value (None when unset).
    """
    kind = (cfg.get("study") or {}).get("kind", "regret")
    if kind != "regret":
        _check_study(cfg["study"])
        return importlib.import_module(STUDY_KINDS[kind]).run(cfg, out_dir, echo)
    validate(cfg)
    study = cfg["study"]
    if study.get("compilation_cache", True):
        from envs.engine.runtime import enable_compilation_cache

        enable_compilation_cache()
    env = make_world(cfg["env"], cfg.get("drift"))
    shard = None if study.get("shard") is None else parse_shard(study["shard"],
                                                                  study["n_seeds"])
    first, count = shard_range(study["n_seeds"], *shard) if shard else (0, study["n_seeds"])
    rollouts: list[Rollout] = []
    for bname, hyper in cfg["bandit"].items():
        policy = bandits.make(bname, env.n_arms, env.dim, **bandit_options(bname, hyper, env))
        params, feedback, world = _grid(policy, cfg)
        rollouts.append(simulate(
            policy, world, n_rounds=study["n_rounds"], n_seeds=count, first_seed=first,
            seed=study.get("seed", 0), policy_params=params, feedback=feedback,
            fixed_world=study.get("fixed_world", False),
            n_checkpoints=study.get("n_checkpoints", 60),
            record=study.get("record", "curves"),
            options=EngineOptions(layout=study.get("layout", "lanes")),
            monitor=_monitor(cfg), progress=study.get("progress", False)))
    summary = summary_of(cfg, rollouts, out_dir, echo, env.name)
    if shard and out_dir:
        save_rollouts(out_dir, cfg, rollouts, shard, first)
    return {"summary": summary, "rollouts": rollouts,
            "objective": objective_value(cfg, summary["results"])}


def summary_of(cfg: Mapping[str, Any], rollouts: list[Rollout], out_dir: str | None,
               echo: bool, env_name: str | None = None) -> dict[str, Any]:
    """The study's summary from its rollouts (one per bandit) in the world ``env_name``
    (default: the rollouts'), written to ``out_dir`` when given and its table printed
    when ``echo``; a shard's summary is of its own seeds."""
    rows = summarise(rollouts)
    env_name = env_name or rollouts[0].env
    summary = {"env": env_name, "n_seeds": rollouts[0].n_seeds,
               "n_rounds": len(rollouts[0].rounds), "machine": machine(), "config": cfg,
               "results": rows}
    add_views(summary, rollouts)
    if out_dir:
        write_outputs(out_dir, summary, rollouts)
    if echo:
        print(format_table(rows, env_name))
    return summary


def machine() -> dict[str, Any]:
    """Platform, CPU count, JAX version and devices of this process (for summary.json)."""
    import jax

    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "devices": [str(d) for d in jax.devices()]}
