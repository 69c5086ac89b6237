"""A policy that trains on a cadence (``Policy.train``, ``train_every``) trains once every
``train_every`` rounds are over, after that round's rewards are learnt, in every layout,
with a monitor whose hop is not the cadence, with delayed rewards, and exactly as
:func:`bandits.base.learned` trains one simulation outside the engine.

The policy counts its updates and the reward they summed; each training records how many
updates it saw and the sum, so an off-by-one cadence or a training before the round's
reward would change the numbers.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs  # noqa: F401  (XLA flags before JAX starts)
from bandits.base import Decision, Policy, draw_uniform, learned, uniform_probs
from envs.engine import EngineOptions, simulate
from envs.feedback import Feedback
from envs.monitor.rules import monitor_spec
from envs.worlds import registry

EVERY, ROUNDS = 40, 120


class CountingParams(NamedTuple):
    unused: float = 0.0  # a params field, so wrappers can extend the params


class Counts(NamedTuple):
    updates: jax.Array  # () rewards learnt
    total: jax.Array  # () their sum
    trainings: jax.Array  # () trainings so far
    seen: jax.Array  # (ROUNDS // EVERY,) updates at each training
    summed: jax.Array  # (ROUNDS // EVERY,) the reward sum at each training


def counting(n_arms: int, dim: int) -> Policy:
    def init(params, key):
        zero = jnp.zeros((), jnp.float32)
        slots = jnp.zeros((ROUNDS // EVERY,), jnp.float32)
        return Counts(zero, zero, jnp.zeros((), jnp.int32), slots, slots)

    def decide(params, state, noise, context, mask):
        probs = uniform_probs(mask, jnp.float32)
        return Decision(jnp.argmax(mask).astype(jnp.int32), probs)

    def update(params, state, context, action, reward):
        return state._replace(updates=state.updates + 1, total=state.total + reward)

    def train(params, state):
        slot = jnp.arange(ROUNDS // EVERY) == state.trainings
        return state._replace(trainings=state.trainings + 1,
                              seen=jnp.where(slot, state.updates, state.seen),
                              summed=jnp.where(slot, state.total, state.summed))

    return Policy("counting", n_arms, dim, CountingParams(), init, draw_uniform, decide,
                  update, train=train, train_every=EVERY)


def _run(layout="lanes", feedback=None, monitor=None):
    world = registry.make("linear-gaussian")
    policy = counting(world.n_arms, world.dim)
    out = simulate(policy, world, n_rounds=ROUNDS, n_seeds=3, seed=1, record="trajectories",
                   feedback=feedback, monitor=monitor, options=EngineOptions(layout=layout))
    return out


@pytest.mark.parametrize("layout", ["lanes", "vmap"])
def test_the_engine_trains_after_every_cadence_round(layout):
    out = _run(layout)
    state = out.final_state
    np.testing.assert_array_equal(np.asarray(state.trainings), 3)
    np.testing.assert_array_equal(np.asarray(state.seen).reshape(-1, 3), [[40, 80, 120]] * 3)
    rewards = np.asarray(out.trajectories["reward"]).reshape(3, ROUNDS)
    sums = np.cumsum(rewards, axis=1)[:, [39, 79, 119]]
    np.testing.assert_allclose(np.asarray(state.summed).reshape(3, 3), sums, rtol=1e-5)


def test_a_monitor_hop_that_is_not_the_cadence_keeps_it():
    spec = monitor_spec({"hop": 30, "reference": 30, "baseline": None,
                         "rules": {"low": {"when": "avg_reward < 0.0", "window": 30}}})
    state = _run(monitor=spec).final_state
    np.testing.assert_array_equal(np.asarray(state.seen).reshape(-1, 3), [[40, 80, 120]] * 3)


def test_with_delayed_rewards_a_training_sees_only_those_arrived():
    state = _run(feedback=Feedback("fixed", delay_mean=5)).final_state
    np.testing.assert_array_equal(np.asarray(state.seen).reshape(-1, 3), [[35, 75, 115]] * 3)


def test_learned_trains_one_simulation_on_the_same_cadence():
    policy = counting(2, 1)
    state = policy.init(CountingParams(), None)
    for t in range(ROUNDS):
        state = learned(policy, CountingParams(), state, jnp.zeros(1), 0, jnp.float32(t),
                        jnp.int32(t + 1))
    np.testing.assert_array_equal(np.asarray(state.seen), [40, 80, 120])
    np.testing.assert_allclose(np.asarray(state.summed), [780, 3160, 7140])


def test_a_cadence_that_is_not_a_positive_integer_is_refused():
    world = registry.make("linear-gaussian")
    policy = counting(world.n_arms, world.dim)._replace(train_every=0)
    with pytest.raises(ValueError, match="train_every .* positive integer, got 0"):
        simulate(policy, world, n_rounds=10, n_seeds=1)


def test_wrappers_pass_the_trainings_on():
    """A fault model, the safety layer and a staged rollout around a policy that trains:
    its state inside the wrapper's is trained on the same cadence; two inner policies on
    different cadences are refused."""
    import bandits
    from bandits.faults import faulty
    from bandits.safety import validated
    from bandits.staged import Stage, staged_rollout

    world = registry.make("linear-gaussian")
    inner = counting(world.n_arms, world.dim)
    uniform = bandits.make("uniform", world.n_arms, world.dim)
    stages = (Stage("canary", 60, 0.5), Stage("full", None, 1.0))
    wrapped = {"faulty": (faulty(inner), lambda s: s.inner),
               "validated": (validated(inner, uniform), lambda s: s.policy),
               "staged": (staged_rollout(inner, uniform, stages, validate=False),
                          lambda s: s.candidate)}
    for name, (policy, inner_state) in wrapped.items():
        assert policy.train_every == EVERY, name
        state = simulate(policy, world, n_rounds=ROUNDS, n_seeds=2).final_state
        np.testing.assert_array_equal(np.asarray(inner_state(state).seen).reshape(-1, 3),
                                      [[40, 80, 120]] * 2, err_msg=name)
    other = inner._replace(train_every=30)
    with pytest.raises(ValueError, match=r"train every \[30, 40\] rounds"):
        validated(inner, other)


@pytest.mark.parametrize("update_every, changes", [(20, [40, 80]), (40, [40, 80]),
                                                   (25, [50, 100])])
def test_a_lagging_served_model_serves_the_trained_state_at_its_refresh(update_every,
                                                                        changes):
    """Decisions read the trainings of the served state (arm = trainings mod K). With
    update_every B, a training after round 40 shows from the first refresh at or after
    it: at round 40 when B divides 40 (the refresh of that round serves the trained
    state, not the one before the training), at round 50 for B = 25."""
    world = registry.make("linear-gaussian")
    base = counting(world.n_arms, world.dim)

    def decide(params, state, noise, context, mask):
        return Decision((state.trainings % world.n_arms).astype(jnp.int32),
                        uniform_probs(mask, jnp.float32))

    out = simulate(base._replace(decide=decide), world, n_rounds=ROUNDS, n_seeds=2, seed=1,
                   record="trajectories", feedback=Feedback(update_every=update_every))
    actions = np.asarray(out.trajectories["action"]).reshape(2, ROUNDS)
    for a in actions:
        np.testing.assert_array_equal(np.flatnonzero(np.diff(a)) + 1, changes)
    np.testing.assert_array_equal(np.asarray(out.final_state.seen).reshape(-1, 3),
                                  [[40, 80, 120]] * 2)


def test_a_neural_policy_served_on_its_training_cadence_decides_as_if_fresh():
    """Neural ε-greedy decides from its network alone, which changes only at trainings;
    served with update_every = train_every, every refresh carries the training just made,
    so the whole run equals the run with a fresh served model, action for action."""
    world = registry.make("wheel", delta=0.5)
    from bandits.neural import neural_eps_greedy
    policy = neural_eps_greedy(world.n_arms, world.dim, hidden=8, buffer=64, train_every=10,
                               n_steps=2, batch=8)
    runs = [simulate(policy, world, n_rounds=60, n_seeds=3, seed=2, record="trajectories",
                     feedback=Feedback(update_every=b)) for b in (1, 10)]
    for name in ("action", "reward", "propensity"):
        np.testing.assert_array_equal(np.asarray(runs[0].trajectories[name]),
                                      np.asarray(runs[1].trajectories[name]))
    lagged = simulate(policy, world, n_rounds=60, n_seeds=3, seed=2, record="trajectories",
                      feedback=Feedback(update_every=20))
    assert not np.array_equal(np.asarray(lagged.trajectories["action"]),
                              np.asarray(runs[0].trajectories["action"]))
