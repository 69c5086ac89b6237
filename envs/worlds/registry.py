"""Name → world class: ``make("linear-gaussian", n_arms=5, dim=10)``; name → drift
around a world: ``make_drift("abrupt", make("linear-gaussian"), change_rounds=(500,))``.

Options are checked against the class's own ``OPTIONS`` declaration. A world defined
elsewhere joins with :func:`register` (or, for a test, the :func:`registered` context).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

from common.errors import ConfigError
from envs.worlds.base import World
from envs.worlds.covariate_shift import CovariateShiftWorld
from envs.worlds.drift import AbruptWorld, GradualWorld, SeasonalWorld
from envs.worlds.linear import LinearGaussian, LogisticBernoulli
from envs.worlds.neural_synthetic import NeuralSyntheticWorld
from envs.worlds.slice_sum import SliceSum
from envs.worlds.supervised import SupervisedWorld
from envs.worlds.wheel import WheelWorld
from envs.worlds.wrapper import DriftWorld

REGISTRY: dict[str, type[World]] = {}
DRIFTS: dict[str, type[DriftWorld]] = {}


def init_fields(cls: type[World]) -> set[str]:
    """The options a world's constructor takes."""
    return {f.name for f in dataclasses.fields(cls) if f.init}


def _check_world_class(cls: Any) -> None:
    """Raises ``ConfigError`` unless ``cls`` is a concrete dataclass World with a name and
    one declared option per constructor field."""
    if not (isinstance(cls, type) and issubclass(cls, World)):
        raise ConfigError(f"a registered world must be a subclass of World, got {cls!r}")
    if not dataclasses.is_dataclass(cls) or inspect.isabstract(cls):
        raise ConfigError(f"world {cls.__name__} must be a concrete dataclass (every abstract "
                          f"method of World defined)")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"world {cls.__name__} must set a class constant name, got {name!r}")
    options = getattr(cls, "OPTIONS", None)
    if not isinstance(options, dict):
        raise ConfigError(f"world {name!r} must declare OPTIONS (a dict of option → Range, "
                          f"Choice or Flag)")
    fields = init_fields(cls)
    if set(options) != fields:
        raise ConfigError(f"world {name!r}: OPTIONS must declare exactly its constructor fields "
                          f"{sorted(fields)}; undeclared: {sorted(fields - set(options))}, "
                          f"not fields: {sorted(set(options) - fields)}")
    bad = [k for k, v in options.items() if not callable(getattr(v, "check", None))]
    if bad:
        raise ConfigError(f"world {name!r}: OPTIONS[{bad[0]!r}] must be a Range, Choice or Flag")


def register(cls: type[World]) -> type[World]:
    """Makes ``cls`` available to :func:`make` under ``cls.name``; returns ``cls`` (so it
    works as a class decorator).

    Raises:
        ConfigError: ``cls`` is not a concrete World dataclass, its ``OPTIONS`` do not
            declare exactly its constructor fields, or another class holds the name.
    """
    _check_world_class(cls)
    if REGISTRY.get(cls.name, cls) is not cls:
        raise ConfigError(f"env {cls.name!r} is already registered "
                          f"({REGISTRY[cls.name].__qualname__})")
    REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Removes a registered world (unknown names raise ``ConfigError``)."""
    world_class(name)
    del REGISTRY[name]


@contextlib.contextmanager
def registered(cls: type[World]) -> Iterator[type[World]]:
    """Registers ``cls`` for the duration of a ``with`` block."""
    register(cls)
    try:
        yield cls
    finally:
        unregister(cls.name)


def names() -> list[str]:
    """Every registered world, in registration order."""
    return list(REGISTRY)


def world_class(name: str) -> type[World]:
    """The class registered under ``name``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown env {name!r}; allowed: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def validate(name: str, values: dict[str, Any]) -> None:
    """Checks option names and values against the world's ``OPTIONS``; raises
    ``ValueError`` naming the option (``env.<option>``) and the value (``ConfigError`` for
    an undeclared option)."""
    options = world_class(name).OPTIONS
    for key, value in values.items():
        if key not in options:
            raise ConfigError(f"env {name!r} has no key {key!r}; allowed: "
                              f"{', '.join(sorted(options))}")
        options[key].check(f"env.{key}", value)


def make(name: str, **kwargs: Any) -> World:
    """Builds a world after checking every option in plain Python."""
    validate(name, kwargs)
    return world_class(name)(**kwargs)


# --------------------------------------------------------------------------- drifts


def register_drift(cls: type[DriftWorld]) -> type[DriftWorld]:
    """Makes a drift available to :func:`make_drift` under ``cls.kind``; its ``OPTIONS``
    must declare exactly its constructor fields besides ``base``."""
    if not (isinstance(cls, type) and issubclass(cls, DriftWorld)) or inspect.isabstract(cls):
        raise ConfigError(f"a registered drift must be a concrete DriftWorld, got {cls!r}")
    fields = init_fields(cls) - {"base"}
    options = getattr(cls, "OPTIONS", {})
    if set(options) != fields:
        raise ConfigError(f"drift {cls.kind!r}: OPTIONS must declare exactly its options "
                          f"{sorted(fields)}, got {sorted(options)}")
    if not set(cls.KNOBS) <= set(options):
        raise ConfigError(f"drift {cls.kind!r}: KNOBS must be among its options, got "
                          f"{sorted(set(cls.KNOBS) - set(options))}")
    if DRIFTS.get(cls.kind, cls) is not cls:
        raise ConfigError(f"drift {cls.kind!r} is already registered")
    DRIFTS[cls.kind] = cls
    return cls


def drift_names() -> list[str]:
    """Every registered drift, in registration order."""
    return list(DRIFTS)


def make_drift(kind: str, base: World, **kwargs: Any) -> DriftWorld:
    """``base`` changing over time as drift ``kind`` says, after checking every option
    in plain Python (``ValueError`` naming ``drift.<option>`` and the value).

    The drift's numeric ``KNOBS`` options (e.g. ``rate``) may be lists of one length: a
    grid run in one program (:func:`envs.engine.driver.simulate`), each value checked
    (``drift.<option>[i]``).
    """
    if kind not in DRIFTS:
        raise ConfigError(f"unknown drift {kind!r}; allowed: {', '.join(DRIFTS)}")
    options = DRIFTS[kind].OPTIONS
    for key, value in kwargs.items():
        if key not in options:
            raise ConfigError(f"drift {kind!r} has no key {key!r}; allowed: "
                              f"{', '.join(sorted(options))}")
        if key in DRIFTS[kind].KNOBS and isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"drift.{key} must be a number or a non-empty list of "
                                 f"numbers, got {value!r}")
            for i, v in enumerate(value):
                options[key].check(f"drift.{key}[{i}]", v)
        else:
            options[key].check(f"drift.{key}", value)
    return DRIFTS[kind](base=base, **kwargs)


for _drift in (AbruptWorld, GradualWorld, SeasonalWorld, CovariateShiftWorld):
    register_drift(_drift)

for _cls in (LinearGaussian, LogisticBernoulli, SliceSum, SupervisedWorld, WheelWorld,
             NeuralSyntheticWorld):
    register(_cls)
