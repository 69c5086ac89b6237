"""An estimator study's config: what each section may hold, and the in-process sweep."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import bandits
from common.shards import parse_shard
from common.validation import Range
from envs.worlds import registry as env_registry
from estimators import registry as est_registry
from estimators import reward_models

POLICY_KINDS = {"uniform": {}, "eps_greedy": {"epsilon": Range(0.0, 1.0)},
                "softmax": {"temperature": Range(0.0, low_open=True)},
                "bandit": {"name": None, "params": None, "learning": None,
                           "warmup_rounds": Range(0, 10**8, integer=True)}}
SWEEPABLE_POLICY_KEYS = {"eps_greedy": ("epsilon",), "softmax": ("temperature",)}
POLICY_ROLES = ("logging_policy", "target_policy")
BOOTSTRAP_SCHEMES = ("multinomial", "poisson")
STUDY_KEYS = {"n_datasets": Range(1, 10**7, integer=True),
              "n_rows": Range(2, 10**9, integer=True),
              "seed": Range(0, 2**31 - 1, integer=True),
              "n_boot": Range(10, 10**6, integer=True),
              "alpha": Range(0.0, 1.0, low_open=True, high_open=True),
              "truth_contexts": Range(1000, 10**9, integer=True)}
STUDY_DEFAULTS = {"seed": 0, "n_boot": 200, "alpha": 0.05, "truth_contexts": 1_000_000,
                  "bootstrap": "multinomial", "shard": None}


def study_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``study`` section with every default filled in."""
    return {**STUDY_DEFAULTS, **cfg["study"]}


def _check_bandit_policy(where: str, cfg: Mapping[str, Any]) -> None:
    if not isinstance(cfg.get("learning", False), bool):
        raise ValueError(f"{where}.learning must be true or false, got "
                         f"{cfg.get('learning')!r}")
    if cfg.get("name") not in bandits.names():
        raise ValueError(f"{where}.name must be one of {', '.join(bandits.names())}, "
                         f"got {cfg.get('name')!r}")
    bandits.validate(cfg["name"], dict(cfg.get("params") or {}), where=f"{where}.params")


def _check_policy(where: str, cfg: Mapping[str, Any]) -> None:
    """Checks a ``logging_policy`` or ``target_policy`` section (``where`` names it)."""
    kind = cfg.get("kind")
    if kind not in POLICY_KINDS:
        raise ValueError(f"{where}.kind must be one of {', '.join(POLICY_KINDS)}, got {kind!r}")
    if kind == "bandit":
        _check_bandit_policy(where, cfg)
    for key, value in cfg.items():
        if key == "kind" or (kind == "bandit" and key in ("name", "params", "learning")):
            continue
        if key not in POLICY_KINDS[kind]:
            raise ValueError(f"{where} ({kind}) has no key {key!r}; allowed: "
                             f"{', '.join(POLICY_KINDS[kind]) or '(none)'}")
        POLICY_KINDS[kind][key].check(f"{where}.{key}", value)


def _check_study(study: Mapping[str, Any]) -> None:
    """Checks the ``study`` section: sizes, seed, resampling, interval level."""
    for key, value in study.items():
        if key == "shard":
            if value is not None:
                parse_shard(value, study.get("n_datasets", 1), "study.n_datasets")
            continue
        if key == "bootstrap":
            if value not in BOOTSTRAP_SCHEMES:
                raise ValueError(f"study.bootstrap must be one of {', '.join(BOOTSTRAP_SCHEMES)}"
                                 f", got {value!r}")
            continue
        if key not in STUDY_KEYS:
            raise ValueError(f"study has no key {key!r}; allowed: "
                             f"{', '.join([*STUDY_KEYS, 'bootstrap', 'shard'])}")
        STUDY_KEYS[key].check(f"study.{key}", value)


def validate(cfg: Mapping[str, Any]) -> None:
    """Checks a study config (``conf/ope.yaml`` composed) before anything is compiled:
    the world, the estimators, both policies, the reward model and the study sizes."""
    env_cfg = dict(cfg["env"])
    env_registry.make(env_cfg.pop("name", None), **env_cfg)
    est_registry.from_config(cfg.get("estimator"))
    for role in POLICY_ROLES:
        _check_policy(role, cfg[role])
    reward_models.check_config(cfg.get("reward_model"))
    if cfg["target_policy"]["kind"] == "bandit" and cfg["target_policy"].get("learning"):
        raise ValueError("target_policy.learning must be false: a target policy is evaluated "
                         "as a fixed policy (set warmup_rounds to train it first)")
    _check_study(cfg["study"])


def with_value(cfg: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``cfg`` with the dotted ``path`` set to ``value``."""
    out = dict(cfg)
    head, _, rest = path.partition(".")
    out[head] = with_value(out.get(head) or {}, rest, value) if rest else value
    return out


def _check_sweep_path(cfg: Mapping[str, Any], path: str) -> None:
    """Checks that ``path`` names a key that can be swept inside one compiled program: a
    fixed policy's ε or temperature, or one of the study's estimators' hyperparameters."""
    parts = path.split(".")
    if parts[0] in POLICY_ROLES:
        kind = cfg[parts[0]]["kind"]
        allowed = SWEEPABLE_POLICY_KEYS.get(kind, ())
        if len(parts) != 2 or parts[1] not in allowed:
            raise ValueError(
                f"sweep.path={path!r}: {parts[0]} is {kind!r}, whose in-process sweepable "
                f"keys are {', '.join(parts[0] + '.' + k for k in allowed) or '(none)'}; "
                "sweep a bandit policy's hyperparameters with Hydra multirun (-m)")
    elif parts[0] == "estimator":
        if len(parts) != 3 or parts[1] not in cfg["estimator"]:
            raise ValueError(f"sweep.path={path!r} must be estimator.<name>.<key> for one of "
                             f"the study's estimators: {', '.join(cfg['estimator'])}")
        allowed = list(est_registry.spec(parts[1]).params)
        if parts[2] not in allowed:
            raise ValueError(f"sweep.path={path!r}: estimator {parts[1]} has "
                             f"{'keys ' + ', '.join(allowed) if allowed else 'no keys'}")
    else:
        raise ValueError(f"sweep.path must start with logging_policy., target_policy. or "
                         f"estimator., got {path!r}; sweep study.n_rows and structural "
                         "choices with Hydra multirun (-m)")


def sweep_spec(cfg: Mapping[str, Any]) -> tuple[str | None, list[float]]:
    """The in-process sweep of a config: ``(path, values)``, or ``(None, [])``.

    Every value is checked as if it were set in the config, so a bad one names the key,
    the value and the allowed range before anything is compiled.
    """
    sw = dict(cfg.get("sweep") or {})
    for key in sw:
        if key not in ("path", "values"):
            raise ValueError(f"sweep has no key {key!r}; allowed: path, values")
    path, values = sw.get("path"), sw.get("values")
    if path is None and values is None:
        return None, []
    if not isinstance(path, str) or values is None:
        raise ValueError("an in-process sweep needs sweep.path (e.g. logging_policy.epsilon) "
                         f"and sweep.values (e.g. [0.05,0.1,0.3]); got path={path!r}, "
                         f"values={values!r}")
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise ValueError("sweep.values is empty")
    _check_sweep_path(cfg, path)
    out = []
    for v in values:
        v = math.inf if v in ("inf", ".inf") else v
        validate({k: x for k, x in with_value(cfg, path, v).items() if k != "sweep"})
        out.append(float(v))
    return path, out
