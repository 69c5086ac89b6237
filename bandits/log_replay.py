"""Training from logs by replaying them: for policies whose state is not a sum over rows
(the neural ones: a network trained on a replay buffer every ``train_every`` rows), the
state after learning from a log is the one the policy reaches when it sees the rows one
by one, as it would have online.

Each row is *observed* as the logged decision (a policy that keeps statistics of its own
decisions, NeuralUCB's design diagonal, takes the logged arm), *learnt* (``update``), and
every ``train_every`` rows the policy *trains* (:func:`bandits.base.learned`); the
cadence counts from the first row of the call. One batch of rows is one compiled
``lax.scan``; batches follow each other on the host.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from bandits.base import Decision, Policy, State, learned, observed, one_hot


def _replay_batch(policy: Policy, params):
    """A compiled ``(state, seen, context, action, reward) -> state``: the batch's rows in
    order, ``seen`` the rows learnt before it."""
    k = policy.n_arms
    mask = jnp.ones((k,), bool)

    def row(carry, xs):
        state, seen = carry
        context, action, reward = xs
        noise = policy.draw(params, jax.random.fold_in(jax.random.key(0), seen))
        decision = Decision(action, one_hot(action, k))
        state = observed(policy, params, state, noise, context, mask, decision)
        state = learned(policy, params, state, context, action, reward, seen + 1)
        return (state, seen + 1), None

    def batch(state, seen, context, action, reward):
        (state, _), _ = jax.lax.scan(row, (state, seen), (context, action, reward))
        return state

    return jax.jit(batch)


def replay_logs(policy: Policy, params, state: State,
                batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> State:
    """The state after ``policy`` saw every logged row in turn (see the module docstring).

    Args:
        policy, params: the policy and its params.
        state: the state to continue from.
        batches: ``(context (b, dim), action (b,) int64, reward (b,))`` in time order.
    """
    replay = _replay_batch(policy, params)
    seen = jnp.zeros((), jnp.int32)
    for context, action, reward in batches:
        state = replay(state, seen, jnp.asarray(context, jnp.float32),
                       jnp.asarray(action, jnp.int32), jnp.asarray(reward, jnp.float32))
        seen = seen + action.shape[0]
    return state
