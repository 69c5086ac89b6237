"""The policy registry: policies registered from outside the package, counts that must be
integers, and training that goes through each algorithm's declared ``fold_logs``."""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

import bandits
import envs  # noqa: F401  (XLA flags before JAX computes)
from bandits import context_free, linear, linear_shared
from bandits.base import Decision, Policy, draw_uniform, one_hot
from bandits.registry import PolicySpec
from bandits.train import train
from common.errors import ConfigError, DataError
from common.validation import Range


class FirstArmParams(NamedTuple):
    pass


def first_arm(n_arms: int, dim: int, n_extra: int = 1) -> Policy:
    """Always plays arm 0; the state counts updates (``n_extra`` is a static option it
    ignores)."""
    del n_extra

    def init(params, key):
        del params, key
        return jnp.zeros((), jnp.float32)

    def decide(params, state, noise, context, mask):
        del params, state, noise, context, mask
        action = jnp.int32(0)
        return Decision(action, one_hot(action, n_arms))

    def update(params, state, context, action, reward):
        return state + 1.0

    return Policy("test_first_arm", n_arms, dim, FirstArmParams(), init, draw_uniform,
                  decide, update)


def count_rows(state, batches):
    return state + sum(float(len(a)) for _, a, _ in batches)


FIRST_ARM = PolicySpec("test_first_arm", first_arm, {}, {"n_extra": Range(1, 9, integer=True)})


def _rows(n, k=3, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, k, n),
            rng.random(n).astype(np.float32))


def test_builtin_families_declare_how_they_learn_from_logs():
    """Families with sufficient statistics fold logs; the neural ones (a network trained
    on a buffer) replay them; the drift-aware policies (which discount or window their
    statistics) declare that they cannot."""
    drift = {"discounted_lin_ucb", "discounted_ucb", "sliding_window_ucb", "discounted_ts",
             "decaying_eps_greedy", "restart_lin_ucb"}
    neural = {"neural_eps_greedy", "neural_linear", "neural_ucb", "neural_ts"}
    for name in bandits.names():
        s = bandits.spec(name)
        family = linear if s.contextual else context_free
        if name.endswith("_shared"):
            family = linear_shared
        assert s.fold_logs is (None if name in drift | neural else family.fold_logs), name
        assert s.replays_logs == (name in neural), name
        assert s.trains_from_logs == (name not in drift), name


def test_register_a_policy_and_make_it_by_name():
    assert "test_first_arm" not in bandits.names()
    with bandits.registered("test_first_arm", FIRST_ARM):
        assert bandits.names()[-1] == "test_first_arm"
        policy = bandits.make("test_first_arm", 3, 2, n_extra=4)
        assert (policy.name, policy.n_arms, policy.dim) == ("test_first_arm", 3, 2)
        bandits.validate("test_first_arm", {"n_extra": 2})
        with pytest.raises(ValueError, match=r"bandit.test_first_arm.n_extra must be an "
                                             r"integer in \[1, 9\], got 2.5"):
            bandits.make("test_first_arm", 3, 2, n_extra=2.5)
        with pytest.raises(ValueError, match="has no key 'alpha'"):
            bandits.make("test_first_arm", 3, 2, alpha=1.0)
        with pytest.raises(ValueError, match="already registered"):
            bandits.register("test_first_arm", PolicySpec("test_first_arm", first_arm, {}))
    assert "test_first_arm" not in bandits.names()
    with pytest.raises(ConfigError, match="unknown bandit 'test_first_arm'"):
        bandits.make("test_first_arm", 3, 2)


def test_register_rejects_a_malformed_spec():
    with pytest.raises(ValueError, match="its PolicySpec is named 'test_first_arm'"):
        bandits.register("other", FIRST_ARM)
    with pytest.raises(ValueError, match=r"params\['c'\] must be a Range"):
        bandits.register("test_bad", PolicySpec("test_bad", first_arm, {"c": (0, 1)}))
    with pytest.raises(ValueError, match="fold_logs must be callable"):
        bandits.register("test_bad", PolicySpec("test_bad", first_arm, {}, fold_logs=3))
    with pytest.raises(ValueError, match="expected a PolicySpec"):
        bandits.register("test_bad", first_arm)
    with pytest.raises(ValueError, match="unknown bandit"):
        bandits.unregister("test_never_registered")
    assert "test_bad" not in bandits.names()


def test_a_policy_without_fold_logs_cannot_train_and_says_so():
    x, a, r = _rows(20)
    with bandits.registered("test_first_arm", FIRST_ARM):
        policy = bandits.make("test_first_arm", 3, 2)
        with pytest.raises(ConfigError, match=r"bandit 'test_first_arm' cannot be trained from "
                                             r"logs: its PolicySpec declares no fold_logs"):
            train(policy, policy.default_params, x, a, r)


def test_a_registered_fold_logs_is_what_train_calls():
    """Rows arrive checked, in batches of ``batch_rows``, and the fold's state is returned."""
    x, a, r = _rows(25)
    spec = PolicySpec("test_first_arm", first_arm, {}, fold_logs=count_rows)
    with bandits.registered("test_first_arm", spec):
        policy = bandits.make("test_first_arm", 3, 2)
        state = train(policy, policy.default_params, x, a, r, batch_rows=7)
        assert float(state) == 25.0
        a[3] = 3
        with pytest.raises(DataError, match=r"action must be in \[0, 3\), got 3 at row 3"):
            train(policy, policy.default_params, x, a, r)


def test_counts_must_be_integers_and_true_is_not_one():
    with pytest.raises(ValueError, match="n_arms must be an integer"):
        bandits.make("ucb1", True, 2)
    with pytest.raises(ValueError, match="dim must be an integer"):
        bandits.make("lin_ucb", 3, 2.0)
    with pytest.raises(ValueError, match="n_prob_draws must be an integer.*got True"):
        bandits.make("ts_beta", 3, 1, n_prob_draws=True)
    policy = bandits.make("ucb1", 3, 2)
    x, a, r = _rows(10)
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="batch_rows must be an integer"):
            train(policy, policy.default_params, x, a, r, batch_rows=bad)


def test_training_rows_with_fractional_actions_or_a_foreign_state_are_named():
    policy = bandits.make("lin_ucb", 3, 2)
    x, a, r = _rows(10)
    fractional = a.astype(np.float64)
    fractional[4] = 1.5
    with pytest.raises(DataError, match="action must be whole arm indices, got 1.5 at row 4"):
        train(policy, policy.default_params, x, fractional, r)
    whole = train(policy, policy.default_params, x, a.astype(np.float32), r)
    np.testing.assert_array_equal(whole.theta,
                                  train(policy, policy.default_params, x, a, r).theta)
    ucb = bandits.make("ucb1", 3, 2)
    with pytest.raises(ValueError, match="context-free policy trains from an ArmStats state, "
                                         "got RidgeState"):
        train(ucb, ucb.default_params, x, a, r, state=whole)
    with pytest.raises(ValueError, match="linear policy trains from a RidgeState"):
        train(policy, policy.default_params, x, a, r,
              state=ucb.init(ucb.default_params, None))
