"""The world registry: options declared on each world class, generic validation, and
worlds (and policies) registered from outside the packages, run through the engine."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import pytest
from test_extending import StaircaseWorld

import envs  # sets XLA flags; imported before any JAX computation runs
from common.errors import ConfigError
from common.validation import Choice, Flag, Range
from envs.worlds.base import ARMS, World


def bad_values(option):
    """Values ``option`` must reject."""
    if isinstance(option, Flag):
        return [1, "yes", None]
    if isinstance(option, Choice):
        return ["no-such-" + option.names[0], 0, None]
    bad = ["1", None, True, math.nan]
    if option.integer:
        bad.append(1.5)
    if math.isfinite(option.low):
        bad.append(option.low if option.low_open else option.low - 1)
    if math.isfinite(option.high):
        bad.append(option.high if option.high_open else option.high + 1)
    return bad


DECLARED = [(name, key) for name in envs.names() for key in envs.REGISTRY[name].OPTIONS]


def test_every_world_declares_exactly_its_constructor_fields():
    for name in envs.names():
        cls = envs.REGISTRY[name]
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        assert set(cls.OPTIONS) == fields, name
        for option in cls.OPTIONS.values():
            assert isinstance(option, Range | Choice | Flag)


@pytest.mark.parametrize("name,key", DECLARED)
def test_a_bad_value_of_every_declared_option_is_rejected_by_name(name, key):
    for value in bad_values(envs.REGISTRY[name].OPTIONS[key]):
        with pytest.raises(ValueError, match=rf"env\.{key} must be .*got "):
            envs.make(name, **{key: value})


def test_undeclared_options_and_unknown_worlds_are_errors():
    with pytest.raises(ConfigError, match=r"env 'slice-sum' has no key 'intercept'; allowed: "
                                         r"dim, n_arms, noise_std, p_eligible"):
        envs.make("slice-sum", intercept=True)
    with pytest.raises(ValueError, match="env.dataset must be one of digits, wine"):
        envs.make("supervised", dataset="mnist")
    with pytest.raises(ConfigError, match="unknown env 'nope'"):
        envs.make("nope")


# ---------------------------------------------------------------- a world from outside


def test_register_a_world_and_make_it_by_name():
    assert "test-staircase" not in envs.names()
    with envs.registered(StaircaseWorld):
        assert envs.names()[-1] == "test-staircase"
        w = envs.make("test-staircase", n_arms=4, gap=0.5)
        assert isinstance(w, StaircaseWorld) and (w.n_arms, w.gap) == (4, 0.5)
        assert w.stationary
        with pytest.raises(ValueError, match="env.gap must be a number in"):
            envs.make("test-staircase", gap=2.0)
        with pytest.raises(ValueError, match="has no key 'scale'"):
            envs.make("test-staircase", scale=1.0)
        with pytest.raises(ValueError, match="already registered"):
            envs.register(dataclasses.make_dataclass(
                "Other", [], bases=(StaircaseWorld,), frozen=True))
    assert "test-staircase" not in envs.names()
    with pytest.raises(ValueError, match="unknown env 'test-staircase'"):
        envs.make("test-staircase")


def test_register_rejects_a_malformed_world():
    @dataclass(frozen=True)
    class Undeclared(StaircaseWorld):
        extra: int = 1
        name: ClassVar[str] = "test-undeclared"

    with pytest.raises(ValueError, match=r"OPTIONS must declare exactly.*undeclared: "
                                         r"\['extra'\]"):
        envs.register(Undeclared)

    @dataclass(frozen=True)
    class Abstract(World):
        n_arms: int = 2
        name: ClassVar[str] = "test-abstract"
        OPTIONS: ClassVar[dict] = {"n_arms": ARMS}

    with pytest.raises(ValueError, match="concrete dataclass"):
        envs.register(Abstract)
    with pytest.raises(ValueError, match="subclass of World"):
        envs.register(dict)
    with pytest.raises(ValueError, match="unknown env"):
        envs.unregister("test-never-registered")
    assert "test-undeclared" not in envs.names()


def test_default_protocol_slots():
    """A stationary world's state never changes (delays are the study's feedback)."""
    w = envs.make("linear-gaussian", n_arms=3, dim=4)
    params = w.sample_params(jax.random.key(0))
    state = w.init_state(params, jax.random.key(1))
    assert state == () and w.step(params, state, jax.random.key(2), jnp.int32(5)) == ()
    assert not hasattr(w, "reward_delay")
