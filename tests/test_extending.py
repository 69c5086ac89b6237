"""Adding a world and a policy from outside the packages (docs/design.md, "Adding a
policy, a world, an estimator, an experiment"): both are defined in this file only,
registered, made by name, run by the engine and by a regret study from its config, with
results checked against their closed form.

The toy world's arm a has mean ``gap · a`` and no noise; the toy policy plays arms
``offset, offset + 1, …`` in turn. Round t's regret is therefore ``gap · (K − 1 − a_t)``
with ``a_t = (t + offset) mod K``, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import bandits
import envs  # sets XLA flags; imported before any JAX computation runs
from bandits.base import Decision, Policy, draw_uniform, one_hot
from bandits.registry import PolicySpec
from common.validation import Range
from envs.engine import simulate
from envs.regret.study import run_study
from envs.worlds.base import ARMS, DIM, NOISE_STD, P_ELIGIBLE, World


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
        del params, context, action, reward
        return state + 1.0

    return Policy("test_round_robin", n_arms, dim, RoundRobinParams(), init, draw_uniform,
                  decide, update)


ROUND_ROBIN = PolicySpec("test_round_robin", round_robin, {"offset": Range(0.0, 10.0)},
                         summary="a test policy")


def closed_form_regret(n_rounds: int, n_arms: int, gap: float, offset: int) -> np.ndarray:
    """(T,) the toy policy's regret per round on the toy world."""
    action = (np.arange(n_rounds) + offset) % n_arms
    return gap * (n_arms - 1 - action)


def test_a_world_and_a_policy_from_a_test_file_run_through_the_engine():
    with envs.registered(StaircaseWorld), bandits.registered("test_round_robin", ROUND_ROBIN):
        world = envs.make("test-staircase", n_arms=3, dim=2, gap=0.25)
        policy = bandits.make("test_round_robin", world.n_arms, world.dim, offset=1.0)
        r = simulate(policy, world, n_rounds=7, n_seeds=2, record="trajectories")
    want = closed_form_regret(7, 3, 0.25, 1)
    np.testing.assert_allclose(r.trajectories["regret"][0], np.tile(want, (2, 1)), atol=1e-7)
    np.testing.assert_allclose(r.mean_regret[0], np.cumsum(want), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(r.final_state)[0], 7.0)


def test_a_regret_study_of_the_added_world_and_policy_from_its_config(tmp_path):
    """The study finds both by name, sweeps the added hyperparameter in one program and
    writes its outputs; every grid point's regret is the closed form."""
    cfg = {"env": {"name": "test-staircase", "n_arms": 4, "gap": 0.5},
           "bandit": {"test_round_robin": {}},
           "study": {"n_seeds": 3, "n_rounds": 40, "progress": False,
                     "compilation_cache": False},
           "sweep": {"offset": [0.0, 1.0, 3.0]}}
    with envs.registered(StaircaseWorld), bandits.registered("test_round_robin", ROUND_ROBIN):
        out = run_study(cfg, str(tmp_path), echo=False)
    rows = out["summary"]["results"]
    assert [row["params"]["offset"] for row in rows] == [0.0, 1.0, 3.0]
    for row in rows:
        want = closed_form_regret(40, 4, 0.5, int(row["params"]["offset"])).sum()
        assert abs(row["final_regret_mean"] - want) < 1e-4, row
    assert {p.name for p in tmp_path.iterdir()} >= {"summary.json", "summary.md",
                                                     "curves.csv", "regret.png"}


def test_registration_is_undone_after_the_block():
    with envs.registered(StaircaseWorld), bandits.registered("test_round_robin", ROUND_ROBIN):
        assert "test-staircase" in envs.names() and "test_round_robin" in bandits.names()
    assert "test-staircase" not in envs.names() and "test_round_robin" not in bandits.names()
