"""Name → estimator, with hyperparameter ranges, for configs and studies."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError
from common.validation import Range
from estimators import ope

LAMBDA = Range(0.0, math.inf)
SG_LAMBDA = Range(0.0, 1.0)
FLOOR = Range(0.0, 1.0, low_open=True)


@dataclass(frozen=True)
class EstimatorSpec:
    name: str
    fn: Callable[..., ope.Estimate]  # fn(rows, **hyper)
    params: Mapping[str, Range] = field(default_factory=dict)
    needs_model: bool = False
    summary: str = ""
    defaults: Mapping[str, float] = field(default_factory=dict)  # conf/estimator/<name>.yaml


REGISTRY: dict[str, EstimatorSpec] = {
    s.name: s
    for s in [
        EstimatorSpec("replay", ope.replay, summary="replay (deterministic targets)"),
        EstimatorSpec("ipw", ope.ipw, {"lambda_": LAMBDA}, summary="IPS, weights capped at λ",
                      defaults={"lambda_": math.inf}),
        EstimatorSpec("ipw_floor", ope.ipw_floor, {"floor": FLOOR},
                      summary="IPS with a propensity floor", defaults={"floor": 0.01}),
        EstimatorSpec("snipw", ope.snipw, summary="self-normalised IPS"),
        EstimatorSpec("dm", ope.dm, needs_model=True, summary="direct method"),
        EstimatorSpec("dr", ope.dr, {"lambda_": LAMBDA}, True, "doubly robust",
                      {"lambda_": math.inf}),
        EstimatorSpec("sndr", ope.sndr, needs_model=True, summary="self-normalised DR"),
        EstimatorSpec("switch_dr", ope.switch_dr, {"lambda_": LAMBDA}, True, "Switch-DR",
                      {"lambda_": 10.0}),
        EstimatorSpec("dros", ope.dros, {"lambda_": LAMBDA}, True, "DR, optimistic shrinkage",
                      {"lambda_": 100.0}),
        EstimatorSpec("sg_ipw", ope.sg_ipw, {"lambda_": SG_LAMBDA}, summary="sub-Gaussian IPS",
                      defaults={"lambda_": 0.1}),
        EstimatorSpec("sg_dr", ope.sg_dr, {"lambda_": SG_LAMBDA}, True, "sub-Gaussian DR",
                      {"lambda_": 0.1}),
    ]
}


def names() -> list[str]:
    return list(REGISTRY)


def spec(name: str) -> EstimatorSpec:
    if name not in REGISTRY:
        raise ConfigError(f"unknown estimator {name!r}; allowed: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def hyperparameters(name: str, **hyper: Any) -> dict[str, float]:
    """``name``'s hyperparameters: its defaults (those of ``conf/estimator/<name>.yaml``)
    with ``hyper`` on top, each checked against its range (``.inf`` / ``"inf"`` allowed)."""
    s = spec(name)
    out = dict(s.defaults)
    for key, value in hyper.items():
        if key not in s.params:
            raise ConfigError(f"estimator.{name} has no key {key!r}; allowed: "
                              f"{', '.join(s.params) or '(none)'}")
        value = math.inf if value in ("inf", ".inf") else value
        s.params[key].check(f"estimator.{name}.{key}", value)
        out[key] = float(value)
    return out


def make(name: str, **hyper: Any) -> Callable[[ope.Rows], ope.Estimate]:
    """A validated ``rows -> Estimate`` function: the defaults with ``hyper`` on top."""
    return bind(name, **hyperparameters(name, **hyper))


def from_config(estimators: Any) -> dict[str, dict[str, float]]:
    """Every configured estimator with its full hyperparameters, validated.

    Args:
        estimators: the ``estimator`` config: a mapping ``name -> {key: value}`` (Hydra's
            ``estimator=[dr,dros] estimator.dros.lambda_=10``) or a list of names (each at
            its defaults).
    """
    if isinstance(estimators, str):
        estimators = [estimators]
    if isinstance(estimators, Mapping):
        items = [(n, dict(h or {})) for n, h in estimators.items()]
    elif isinstance(estimators, (list, tuple)):
        items = [(n, {}) for n in estimators]
    else:
        raise ConfigError(f"estimator must be a list of names or a mapping, got {estimators!r}")
    if not items:
        raise ConfigError(f"estimator: choose at least one of {', '.join(REGISTRY)}")
    return {str(n): hyperparameters(str(n), **h) for n, h in items}


def describe(name: str, hyper: Mapping[str, float]) -> str:
    """``"dros (lambda_=100)"``: a name with its hyperparameters, for reports."""
    if not hyper:
        return name
    return f"{name} ({', '.join(f'{k}={v:g}' for k, v in hyper.items())})"


def bind(name: str, **hyper: Any) -> Callable[[ope.Rows], ope.Estimate]:
    """``make`` without the checks, for values already validated or traced by JAX (an
    in-process sweep passes a hyperparameter as a traced array)."""
    fn = spec(name).fn
    return lambda rows: fn(rows, **hyper)
