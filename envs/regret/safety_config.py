"""The safety study's configuration: checked where it enters, before anything compiles,
and turned into the policies the study runs.

A config holds, besides ``env``, ``bandit`` (exactly one) and ``study``:

* ``safety.faults``: fault name -> the options of :func:`bandits.faulty` (``{}`` for a
  healthy run); every scheduled round must lie before ``study.n_rounds``;
* ``safety.breaker``: the circuit breaker's ``failures``, ``window``, ``cooldown`` and
  ``timeout`` (ms, null for none; also the latency above which a served decision counts
  as too slow);
* ``safety.fallback``: the policy served when the guarded one fails, ``name`` and its
  hyperparameters (a name of :mod:`bandits.registry`);
* ``monitor``: the monitor's rules (``conf/monitor/default.yaml``), or none (``~monitor``
  on the command line).

Errors are :class:`common.errors.ConfigError` naming the key and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bandits
from bandits.base import Policy
from common.errors import ConfigError
from envs.monitor.rules import MonitorSpec, monitor_spec
from envs.regret.safety_audit import audited
from envs.regret.study import make_world
from envs.worlds.base import World

SAFETY_KEYS = ("faults", "breaker", "fallback")
FAULT_KEYS = ("nan_rate", "outages", "stale_from", "corrupt_at", "corruption",
              "latency_mean", "latency_sigma", "greedy_from", "propensity_lost_from")
ROUND_KEYS = ("stale_from", "corrupt_at", "greedy_from", "propensity_lost_from")
BREAKER_KEYS = ("failures", "window", "cooldown", "timeout")
MODES = ("bare", "guarded")


@dataclass(frozen=True)
class SafetyPlan:
    """Everything the study runs, checked: the world, the policy and its fallback, each
    fault's options, the breaker's, the monitor."""

    env: World
    policy: Policy
    fallback: Policy
    faults: dict[str, dict[str, Any]]
    breaker: dict[str, Any]
    monitor: MonitorSpec | None

    @property
    def timeout(self) -> float:
        return self.breaker["timeout"]

    def served(self, fault: str, mode: str) -> Policy:
        """The policy served under ``fault``: bare (the faulty policy itself) or guarded
        (a circuit breaker around it), audited (:func:`audited`; the bare policy draws
        its noise as the guarded branch does, so the two runs of a seed share it) and
        named ``fault/mode``."""
        broken = bandits.faulty(self.policy, **self.faults[fault])
        if mode == "guarded":
            broken = bandits.circuit_breaker(broken, self.fallback, **self.breaker)
        return audited(broken, self.timeout, pair_noise=mode == "bare",
                       name=f"{fault}/{mode}")


def onset(options: Mapping[str, Any]) -> int | None:
    """The first round a fault acts in (``None`` for a healthy run)."""
    rounds = [options[k] for k in ROUND_KEYS if options.get(k, -1) >= 0]
    rounds += [start for start, _ in options.get("outages", ())]
    if options.get("nan_rate", 0) > 0 or options.get("latency_mean", 0) > 0:
        rounds.append(0)
    return min(rounds) if rounds else None


def _mapping(where: str, value: Any, allowed: tuple[str, ...] | None = None) -> dict:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    for key in value:
        if allowed is not None and key not in allowed:
            raise ConfigError(f"{where} has no key {key!r} (value {value[key]!r}); allowed: "
                              f"{', '.join(allowed)}")
    return dict(value)


def _renamed(err: ValueError, prefix: str, own: str) -> ConfigError:
    """``err`` with the combinator's key prefix ``own`` (``faulty.``) replaced by the
    config's ``prefix``."""
    text = str(err)
    text = prefix + text[len(own):] if text.startswith(own) else f"{prefix[:-1]}: {text}"
    return ConfigError(text)


def check_fault(name: str, options: Any, policy: Policy, n_rounds: int) -> dict[str, Any]:
    """One fault's options, checked by :func:`bandits.faulty` and against the horizon."""
    where = f"safety.faults.{name}"
    options = _mapping(where, {} if options is None else options, FAULT_KEYS)
    if isinstance(options.get("outages"), (list, tuple)):
        options["outages"] = [tuple(p) if isinstance(p, (list, tuple)) else p
                              for p in options["outages"]]
    try:
        bandits.faulty(policy, **options)
    except ValueError as err:
        raise _renamed(err, f"{where}.", "faulty.") from None
    for key in ROUND_KEYS:
        if options.get(key, -1) >= n_rounds:
            raise ConfigError(f"{where}.{key}={options[key]} is not before study.n_rounds="
                              f"{n_rounds}: the fault would never act")
    for i, (start, stop) in enumerate(options.get("outages", ())):
        if stop > n_rounds:
            raise ConfigError(f"{where}.outages[{i}]={[start, stop]} ends after "
                              f"study.n_rounds={n_rounds}")
    return options


def check_breaker(breaker: Any, policy: Policy, fallback: Policy) -> dict[str, Any]:
    """The breaker's settings, checked by :func:`bandits.circuit_breaker`; a null
    ``timeout`` is none (infinite)."""
    options = _mapping("safety.breaker", breaker, BREAKER_KEYS)
    if options.get("timeout", None) is None:
        options["timeout"] = math.inf
    try:
        bandits.circuit_breaker(policy, fallback, **options)
    except ValueError as err:
        raise _renamed(err, "safety.breaker.", "circuit_breaker.") from None
    return options


def _fallback(cfg: Any, env: World) -> Policy:
    options = _mapping("safety.fallback", cfg)
    name = options.pop("name", None)
    if name not in bandits.names():
        raise ConfigError(f"safety.fallback.name must be one of {', '.join(bandits.names())}"
                          f", got {name!r}")
    bandits.validate(name, options, where="safety.fallback")
    return bandits.make(name, env.n_arms, env.dim, **options)


def _policy(cfg: Mapping[str, Any], env: World) -> Policy:
    selected = _mapping("bandit", cfg.get("bandit"))
    if len(selected) != 1:
        raise ConfigError(f"the safety study runs one bandit; got bandit="
                          f"[{', '.join(selected)}] (choose one: bandit=[lin_eps_greedy])")
    (name, hyper), = selected.items()
    bandits.validate(name, dict(hyper or {}))
    return bandits.make(name, env.n_arms, env.dim, **dict(hyper or {}))


def _check_unused(cfg: Mapping[str, Any]) -> None:
    """Settings of a regret study this study does not take: a drift, delayed or batched
    feedback, a sweep."""
    if cfg.get("drift") is not None:
        raise ConfigError(f"the safety study runs a stationary world; got drift="
                          f"{cfg['drift']!r} (use drift=null)")
    feedback = dict(cfg.get("feedback") or {})
    if feedback.get("delay", "none") != "none" or feedback.get("update_every", 1) != 1 \
            or "feedback" in (cfg.get("env") or {}):
        raise ConfigError(f"the safety study learns every reward in its round; got feedback="
                          f"{feedback!r} (use feedback=none)")
    if any(v is not None for v in (cfg.get("sweep") or {}).values()):
        raise ConfigError(f"the safety study sweeps faults, not hyperparameters; got sweep="
                          f"{cfg['sweep']!r}")


def check_config(cfg: Mapping[str, Any]) -> SafetyPlan:
    """The checked :class:`SafetyPlan` of a composed config (see the module docstring)."""
    _check_unused(cfg)
    env = make_world(_mapping("env", cfg.get("env")))
    policy = _policy(cfg, env)
    safety = _mapping("safety", cfg.get("safety"), SAFETY_KEYS)
    for key in SAFETY_KEYS:
        if key not in safety:
            raise ConfigError(f"safety.{key} is required")
    fallback = _fallback(safety["fallback"], env)
    faults = _mapping("safety.faults", safety["faults"])
    if not faults:
        raise ConfigError("safety.faults must name at least one fault (healthy: {})")
    n_rounds = cfg["study"]["n_rounds"]
    checked = {name: check_fault(name, opts, policy, n_rounds) for name, opts in faults.items()}
    breaker = check_breaker(safety["breaker"], policy, fallback)
    monitor = None if cfg.get("monitor") is None else monitor_spec(cfg["monitor"])
    return SafetyPlan(env, policy, fallback, checked, breaker, monitor)
