"""Name → world class: ``make("linear-gaussian", n_arms=5, dim=10)``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from common.validation import POSITIVE, Range
from envs.worlds.base import World
from envs.worlds.linear import LinearGaussian, LogisticBernoulli
from envs.worlds.slice_sum import SliceSum
from envs.worlds.supervised import DATASETS, SupervisedWorld

REGISTRY: dict[str, type[World]] = {
    cls.name: cls for cls in (LinearGaussian, LogisticBernoulli, SliceSum, SupervisedWorld)
}

_RANGES = {
    "n_arms": Range(1, 100_000, integer=True),
    "dim": Range(1, 100_000, integer=True),
    "noise_std": Range(0.0),
    "p_eligible": Range(0.0, 1.0, low_open=True),
    "scale": Range(0.0),
    "base_logit": Range(-math.inf),
    "context_std": Range(0.0),
}
_CHOICES = {"dataset": DATASETS}  # options that take one of a few names


def names() -> list[str]:
    return list(REGISTRY)


def make(name: str, **kwargs: Any) -> World:
    """Builds a world after checking every option in plain Python."""
    if name not in REGISTRY:
        raise ValueError(f"unknown env {name!r}; allowed: {', '.join(REGISTRY)}")
    cls = REGISTRY[name]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    for key, value in kwargs.items():
        if key not in fields:
            raise ValueError(f"env {name!r} has no key {key!r}; allowed: "
                             f"{', '.join(sorted(fields))}")
        if key == "intercept":
            if not isinstance(value, bool):
                raise ValueError(f"env.intercept must be true or false, got {value!r}")
            continue
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ValueError(f"env.{key} must be one of {', '.join(_CHOICES[key])}, got "
                                 f"{value!r}")
            continue
        _RANGES.get(key, POSITIVE).check(f"env.{key}", value)
    return cls(**kwargs)
