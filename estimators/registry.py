"""Name → estimator, with hyperparameter ranges, for configs and studies."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bandits.registry import Range
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


REGISTRY: dict[str, EstimatorSpec] = {
    s.name: s
    for s in [
        EstimatorSpec("replay", ope.replay, summary="replay (deterministic targets)"),
        EstimatorSpec("ipw", ope.ipw, {"lambda_": LAMBDA}, summary="IPS, weights capped at λ"),
        EstimatorSpec("ipw_floor", ope.ipw_floor, {"floor": FLOOR},
                      summary="IPS with a propensity floor"),
        EstimatorSpec("snipw", ope.snipw, summary="self-normalised IPS"),
        EstimatorSpec("dm", ope.dm, needs_model=True, summary="direct method"),
        EstimatorSpec("dr", ope.dr, {"lambda_": LAMBDA}, True, "doubly robust"),
        EstimatorSpec("sndr", ope.sndr, needs_model=True, summary="self-normalised DR"),
        EstimatorSpec("switch_dr", ope.switch_dr, {"lambda_": LAMBDA}, True, "Switch-DR"),
        EstimatorSpec("dros", ope.dros, {"lambda_": LAMBDA}, True, "DR, optimistic shrinkage"),
        EstimatorSpec("sg_ipw", ope.sg_ipw, {"lambda_": SG_LAMBDA}, summary="sub-Gaussian IPS"),
        EstimatorSpec("sg_dr", ope.sg_dr, {"lambda_": SG_LAMBDA}, True, "sub-Gaussian DR"),
    ]
}


def names() -> list[str]:
    return list(REGISTRY)


def spec(name: str) -> EstimatorSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown estimator {name!r}; allowed: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def make(name: str, **hyper: Any) -> Callable[[ope.Rows], ope.Estimate]:
    """A validated ``rows -> Estimate`` function with its hyperparameters bound."""
    s = spec(name)
    for key, value in hyper.items():
        if key not in s.params:
            raise ValueError(f"estimator.{name} has no key {key!r}; allowed: "
                             f"{', '.join(s.params) or '(none)'}")
        value = math.inf if value in ("inf", ".inf") else value
        s.params[key].check(f"estimator.{name}.{key}", value)
        hyper[key] = float(value)
    return bind(name, **hyper)


def bind(name: str, **hyper: Any) -> Callable[[ope.Rows], ope.Estimate]:
    """``make`` without the checks, for values already validated or traced by JAX (an
    in-process sweep passes a hyperparameter as a traced array)."""
    fn = spec(name).fn
    return lambda rows: fn(rows, **hyper)
