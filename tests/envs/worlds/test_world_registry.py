"""The world registry: options declared on each world class, generic validation, and
worlds (and policies) registered from outside the packages, run through the engine."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # sets XLA flags; imported before any JAX computation runs
from bandits.base import Decision, Policy, draw_uniform, one_hot
from bandits.registry import PolicySpec
from common.errors import ConfigError
from common.validation import Choice, Flag, Range
from envs.engine.driver import simulate
from envs.worlds.base import ARMS, DIM, NOISE_STD, P_ELIGIBLE, World


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


class StepParams(NamedTuple):
    means: jax.Array  # (n_arms,)
    noise_std: jax.Array  # ()


@dataclass(frozen=True)
class StaircaseWorld(World):
    """Arm a's mean is ``gap · a`` whatever the context."""

    n_arms: int = 3
    dim: int = 2
    gap: float = 0.25
    noise_std: float = 0.0
    p_eligible: float = 1.0
    name: ClassVar[str] = "test-staircase"
    OPTIONS: ClassVar[dict] = {"n_arms": ARMS, "dim": DIM, "gap": Range(0.0, 1.0),
                               "noise_std": NOISE_STD, "p_eligible": P_ELIGIBLE}

    def sample_params(self, key):
        del key
        return StepParams(self.gap * jnp.arange(self.n_arms, dtype=jnp.float32),
                          jnp.float32(self.noise_std))

    def mean_rewards(self, params, state, context):
        del state, context
        return params.means


class RoundRobinParams(NamedTuple):
    offset: float = 0.0  # the arm played first


def round_robin(n_arms: int, dim: int) -> Policy:
    """Plays arms 0, 1, …, K − 1, 0, … from ``offset``; the state counts rounds."""

    def init(params, key):
        del params, key
        return jnp.zeros((), jnp.float32)

    def decide(params, state, noise, context, mask):
        del noise, context, mask
        action = jnp.mod(state + params.offset, n_arms).astype(jnp.int32)
        return Decision(action, one_hot(action, n_arms))

    def update(params, state, context, action, reward):
        return state + 1.0

    return Policy("test_round_robin", n_arms, dim, RoundRobinParams(), init, draw_uniform,
                  decide, update)


ROUND_ROBIN = PolicySpec("test_round_robin", round_robin, {"offset": Range(0.0, 10.0)},
                         summary="a test policy")


def test_register_a_world_and_make_it_by_name():
    assert "test-staircase" not in envs.names()
    with envs.registered(StaircaseWorld):
        assert envs.names()[-1] == "test-staircase"
        w = envs.make("test-staircase", n_arms=4, gap=0.5)
        assert isinstance(w, StaircaseWorld) and (w.n_arms, w.gap) == (4, 0.5)
        assert w.stationary and w.max_delay == 0
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
    """A stationary world's state never changes and its rewards are never delayed."""
    w = envs.make("linear-gaussian", n_arms=3, dim=4)
    params = w.sample_params(jax.random.key(0))
    state = w.init_state(params, jax.random.key(1))
    assert state == () and w.step(params, state, jax.random.key(2), jnp.int32(5)) == ()
    delay = w.reward_delay(params, jax.random.key(3))
    assert delay.shape == () and delay.dtype == jnp.int32 and int(delay) == 0


def test_registered_world_and_policy_run_through_the_engine():
    """The engine plays the toy policy on the toy world: arms in turn from ``offset``,
    rewards equal to the means (no noise), regret the gap to the best arm."""
    with envs.registered(StaircaseWorld), bandits.registered("test_round_robin", ROUND_ROBIN):
        w = envs.make("test-staircase", n_arms=3, dim=2, gap=0.25)
        policy = bandits.make("test_round_robin", w.n_arms, w.dim, offset=1.0)
        r = simulate(policy, w, n_rounds=7, n_seeds=2, record="trajectories")
    want = (np.arange(7) + 1) % 3
    np.testing.assert_array_equal(r.trajectories["action"][0], np.tile(want, (2, 1)))
    np.testing.assert_array_equal(r.trajectories["reward"][0],
                                  np.tile(0.25 * want, (2, 1)).astype(np.float32))
    np.testing.assert_allclose(r.trajectories["regret"][0], np.tile(0.5 - 0.25 * want, (2, 1)))
    np.testing.assert_array_equal(np.asarray(r.final_state)[0], 7.0)
