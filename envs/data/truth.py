"""Ground truth for off-policy evaluation: a fixed policy's exact value in a world.

A fixed policy is a function ``target(context, mask) -> probs (n_arms,)`` (a bandit
policy with frozen state: ``lambda x, m: policy.decide(params, state, noise, x, m).probs``).
Its value V(π) = E_x[Σ_a π(a|x) μ(x, a)] is exact in the arms and Monte Carlo over
contexts only, so the standard error reported with it is the only approximation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from envs.worlds.base import World

Target = Callable[[Array, Array], Array]


class Value(NamedTuple):
    value: Array  # () Monte Carlo estimate of V(π)
    std_error: Array  # () its standard error
    n_contexts: int


def policy_value(env: World, env_params, target: Target, key: Array,
                 n_contexts: int = 1_000_000, batch: int = 100_000) -> Value:
    """V(π) by Monte Carlo over ``n_contexts`` contexts, in batches of ``batch``."""
    n_batches = max(1, -(-n_contexts // batch))
    state = env.init_state(env_params, key)

    def one(k):
        x, m = env.sample_context(k, env_params, state)
        return jnp.sum(target(x, m) * env.mean_rewards(env_params, state, x))

    def block(b):
        keys = jax.random.split(jax.random.fold_in(key, b), batch)
        v = jax.vmap(one)(keys)
        return jnp.sum(v), jnp.sum(v**2)

    s, s2 = jax.lax.map(block, jnp.arange(n_batches))
    n = n_batches * batch
    mean = jnp.sum(s) / n
    var = (jnp.sum(s2) / n - mean**2) * n / (n - 1)
    return Value(mean, jnp.sqrt(jnp.maximum(var, 0.0) / n), n)
