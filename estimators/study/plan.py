"""What an estimator study's datasets share, and what changes along its in-process sweep.

A :class:`Plan` holds the world, its parameters, the fixed policies, the estimators and
the reward model, built once from the config. A :class:`Point` is what one grid point of
the sweep uses: :func:`fixed_point` without a sweep, :func:`swept_point` at a sweep value
(the swept policy rebuilt at it, or the swept estimator hyperparameter set to it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import bandits
from bandits.oracle import oracle_policy
from envs.worlds import registry as env_registry
from estimators import registry as est_registry
from estimators import reward_models
from estimators.study.config import study_settings, sweep_spec, validate, with_value


def _bandit_probs(policy, params, state, noise, context, mask):
    """(K,) a frozen bandit policy's action probabilities on one context (d,)."""
    return policy.decide(params, state, noise, context, mask).probs


def _bandit_policy(cfg: Mapping[str, Any], env, env_params, key):
    """A bandit algorithm frozen after ``warmup_rounds`` rounds of learning in ``env``."""
    from envs.engine.driver import simulate

    key = jax.random.key(0) if key is None else key
    policy = bandits.make(cfg["name"], env.n_arms, env.dim, **dict(cfg.get("params") or {}))
    pp = policy.default_params
    warmup = int(cfg.get("warmup_rounds", 0))
    if warmup > 0:
        r = simulate(policy, env, n_rounds=warmup, n_seeds=1, env_params=env_params,
                     seed=int(jax.random.randint(key, (), 0, 2**31 - 1)))
        state = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0, 0]), r.final_state)
    else:
        state = policy.init(pp, key)
    noise = policy.draw(pp, jax.random.fold_in(key, 1))
    return functools.partial(_bandit_probs, policy, pp, state, noise)


def _world_means(env, params, context):
    """(K,) the world's true mean reward of every arm at one context (d,)."""
    return env.mean_rewards(params, (), context)


def fixed_policy(cfg: Mapping[str, Any], env, params, key=None):
    """A fixed policy ``probs(x (d,), mask (K,)) -> (K,)``: uniform, ε-greedy or softmax over
    the world's true mean rewards, or (``kind: bandit``) any algorithm of :mod:`bandits`
    frozen after ``warmup_rounds`` rounds of learning in this world (its ``probs``; for
    Thompson sampling a Monte Carlo estimate with one fixed set of draws)."""
    kind = cfg["kind"]
    if kind == "bandit":
        return _bandit_policy(cfg, env, params, key)
    return oracle_policy(kind, functools.partial(_world_means, env, params),
                         epsilon=cfg.get("epsilon", 0.0), temperature=cfg.get("temperature", 1.0))


class Plan(NamedTuple):
    """What every dataset of a study shares, built once from the config."""

    cfg: Mapping[str, Any]
    settings: dict[str, Any]  # the ``study`` section, defaults filled in
    env: Any
    params: Any  # the world's parameters
    root: Any  # the study's root key
    path: str | None  # the in-process sweep's dotted key, or None
    values: list[float]  # its values
    grid: Any  # (G,) float32 grid values ([0.0] without a sweep)
    names: list[str]  # estimators, in config order
    hypers: dict[str, dict[str, float]]  # each estimator's full hyperparameters
    logging: Callable | None  # a fixed logging policy; None when it learns or is swept
    target: Callable | None  # the target policy; None when it is swept
    reward_model: reward_models.RewardModel
    n_folds: int  # the reward model's cross-fitting folds

    @property
    def swept(self) -> str | None:
        """The swept section: ``logging_policy``, ``target_policy``, ``estimator`` or None."""
        return self.path.split(".")[0] if self.path else None

    @property
    def learning(self) -> bool:
        """Whether the logging policy is logged as it learns."""
        return _learns(self.cfg["logging_policy"])


def _learns(policy_cfg: Mapping[str, Any]) -> bool:
    """Whether a policy section is a bandit logged as it learns."""
    return policy_cfg["kind"] == "bandit" and bool(policy_cfg.get("learning", False))


def make_plan(cfg: Mapping[str, Any]) -> Plan:
    """The :class:`Plan` of a study config, after checking it."""
    validate(cfg)
    path, values = sweep_spec(cfg)
    env_cfg = dict(cfg["env"])
    env = env_registry.make(env_cfg.pop("name"), **env_cfg)
    settings = study_settings(cfg)
    root = jax.random.key(settings["seed"])
    params = env.sample_params(jax.random.fold_in(root, 0))
    swept = path.split(".")[0] if path else None
    log_cfg, tgt_cfg = cfg["logging_policy"], cfg["target_policy"]
    logging = None if _learns(log_cfg) or swept == "logging_policy" else fixed_policy(
        log_cfg, env, params, jax.random.fold_in(root, 3))
    target = None if swept == "target_policy" else fixed_policy(
        tgt_cfg, env, params, jax.random.fold_in(root, 4))
    hypers = est_registry.from_config(cfg["estimator"])
    model, n_folds = reward_models.from_config(cfg["reward_model"], env.n_arms,
                                               getattr(env, "arm_features", 0))
    return Plan(cfg, settings, env, params, root, path, values,
                jnp.asarray(values if path else [0.0], jnp.float32), list(hypers), hypers,
                logging, target, model, n_folds)


def dataset_key(plan: Plan, index) -> jax.Array:
    """The PRNG key of dataset ``index`` (its logs, folds and resamples)."""
    return jax.random.fold_in(jax.random.fold_in(plan.root, 2), index)


class Point(NamedTuple):
    """The policies and estimators of one grid point."""

    logging: Callable | None  # probs(x (d,), mask (K,)) -> (K,); None when it learns
    target: Callable  # likewise
    estimators: tuple[Callable, ...]  # rows -> Estimate, in config order


def _bound_estimators(plan: Plan, hypers: Mapping[str, Mapping[str, Any]]) -> tuple:
    return tuple(est_registry.bind(n, **hypers[n]) for n in plan.names)


def fixed_point(plan: Plan) -> Point:
    """The single point of a study without an in-process sweep."""
    return Point(plan.logging, plan.target, _bound_estimators(plan, plan.hypers))


def swept_point(plan: Plan, sweep_value) -> Point:
    """The point of the in-process sweep at ``sweep_value`` (a float32 scalar, traced
    inside the compiled study): the swept policy rebuilt with its key at that value, or
    the swept estimator's hyperparameter set to it."""
    if plan.swept == "estimator":
        _, name, key = plan.path.split(".")
        hypers = {n: dict(h) for n, h in plan.hypers.items()}
        hypers[name][key] = sweep_value
        return fixed_point(plan)._replace(estimators=_bound_estimators(plan, hypers))
    policy = fixed_policy(with_value(plan.cfg, plan.path, sweep_value)[plan.swept], plan.env,
                          plan.params)
    if plan.swept == "logging_policy":
        return fixed_point(plan)._replace(logging=policy)
    return fixed_point(plan)._replace(target=policy)
