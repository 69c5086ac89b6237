"""Simulated deployments: a logging policy serving a world, written as a decision log.

The log has the same schema as a production one (:mod:`envs.data.events`), so it goes through
the same loaders, validation and deployment gate — with the difference that here the
truth is known. The logging policy is either fixed (uniform, or a softmax over the world's
true mean rewards: a good, exploring production policy) or any algorithm of
:mod:`bandits` logged as it learns (its propensities are the probabilities it used in that
round).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from envs.data.logged import LoggedData
from envs.data.truth import simulate_logs


def softmax_over_means(env, params, temperature: float):
    """A fixed policy: softmax of the true mean rewards over eligible arms."""

    def probs(x, m):
        z = jnp.where(m, env.mean_rewards(params, (), x) / temperature, -jnp.inf)
        return jax.nn.softmax(z)

    return probs


def simulate_deployment(env, n_rows: int, *, logging: str = "softmax",
                        temperature: float = 0.5, bandit_params: dict | None = None,
                        seed: int = 0, env_seed: int = 0,
                        slice_rows: int = 250_000) -> tuple[LoggedData, dict]:
    """Logged data of a deployment and a description of it.

    Args:
        env: a world from :mod:`envs`.
        logging: ``"uniform"``, ``"softmax"`` (over the true means, at ``temperature``) or
            the name of an algorithm of :mod:`bandits`, logged as it learns.
        bandit_params: that algorithm's hyperparameters.
        seed: the log's randomness; ``env_seed``: the world instance.
    """
    params = env.sample_params(jax.random.key(env_seed))
    if logging in ("uniform", "softmax"):
        policy = (lambda x, m: m / jnp.sum(m)) if logging == "uniform" else \
            softmax_over_means(env, params, temperature)
        parts = []
        for i in range(0, n_rows, slice_rows):  # rows are independent: draw in slices
            logs = simulate_logs(env, params, policy, jax.random.fold_in(
                jax.random.key(seed), i), min(slice_rows, n_rows - i), 1)
            parts.append(jax.tree_util.tree_map(lambda x: np.asarray(x[0]), logs))
        cat = lambda f: np.concatenate([getattr(p, f) for p in parts])
        data = LoggedData.from_arrays(context=cat("context"), action=cat("action"),
                                      reward=cat("reward"), pscore=cat("pscore"),
                                      action_dist=cat("action_dist"), mask=cat("mask"))
        exploration = {} if logging == "uniform" else {"temperature": temperature}
        return data, {"algorithm": logging, "exploration": exploration,
                      "policy_version": f"{logging}-{json.dumps(exploration, sort_keys=True)}"}
    import bandits
    from envs.engine.driver import simulate

    hyper = dict(bandit_params or {})
    policy = bandits.make(logging, env.n_arms, env.dim, **hyper)
    r = simulate(policy, env, n_rounds=n_rows, n_seeds=1, env_params=params, seed=seed,
                 record_logs=True)
    data = LoggedData.from_rollout(r)
    return data, {"algorithm": logging, "exploration": hyper,
                  "policy_version": f"{logging}-learning"}
