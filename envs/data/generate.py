"""Log generators: simulated logged data with a known truth.

* :func:`simulate_logs`: a fixed logging policy; every row is independent, so n rows of M
  datasets are one vectorised draw, no scan needed;
* :func:`learning_logs`: a bandit algorithm logged as it learns, through the engine;
* :func:`simulate_deployment`: one deployment's log (either of the above), in the form a
  production log has, for the deployment gate and the decision-log files.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

import bandits
from bandits.base import sample_categorical
from bandits.oracle import oracle_policy
from envs.data.logged import LoggedBatch, LoggedData
from envs.data.truth import Target
from envs.engine.driver import simulate
from envs.engine.plan import largest_divisor
from envs.engine.records import recorded_floats
from envs.worlds.base import World


def simulate_logs(env: World, env_params, logging: Target, key: Array, n_rows: int,
                  n_datasets: int = 1) -> LoggedBatch:
    """Logs of a fixed logging policy: dataset m uses ``fold_in(key, m)``, row i
    ``fold_in(dataset_key, i)``, so a dataset does not depend on how many are drawn."""
    state = env.init_state(env_params, key)

    def row(k):
        kc, kr, ka = jax.random.split(k, 3)
        x, m = env.sample_context(kc, env_params, state)
        probs = logging(x, m)
        a = sample_categorical(probs, jax.random.uniform(ka))
        mu = env.mean_rewards(env_params, state, x)
        y = env.realise(env_params, mu, env.draw_reward_noise(kr, env_params, state))
        chosen = jnp.arange(env.n_arms) == a
        return LoggedBatch(x, m, a, jnp.sum(jnp.where(chosen, y, 0.0)),
                           jnp.sum(jnp.where(chosen, probs, 0.0)), probs, mu)

    def dataset(mi):
        dk = jax.random.fold_in(key, mi)
        return jax.vmap(lambda i: row(jax.random.fold_in(dk, i)))(jnp.arange(n_rows))

    return jax.lax.map(dataset, jnp.arange(n_datasets))


def learning_logs(cfg, env, params, seed: int, n_rows: int, n_datasets: int,
                  first_dataset: int = 0):
    """Logs of a bandit algorithm as it learns, in batches of datasets (one seed each):
    datasets ``first_dataset .. first_dataset + n_datasets − 1``, dataset i seed i.

    ``cfg`` is a logging-policy config: ``name``, ``params`` and ``warmup_rounds``.

    Yields ``(first_dataset, LoggedBatch)`` with arrays (batch, n, ...); the first
    ``warmup_rounds`` rounds of every run are dropped from its log.
    """
    policy = bandits.make(cfg["name"], env.n_arms, env.dim, **dict(cfg.get("params") or {}))
    warm = int(cfg.get("warmup_rounds", 0))
    per_row = (warm + n_rows) * recorded_floats("logs", env.n_arms, env.dim) * 4
    batch = largest_divisor(n_datasets, max(1, 2**26 // per_row))
    for start in range(first_dataset, first_dataset + n_datasets, batch):
        r = simulate(policy, env, n_rounds=warm + n_rows, n_seeds=batch, env_params=params,
                     seed=seed, first_seed=start, record="logs")
        logs = LoggedBatch.from_rollout(r, warmup=warm)
        bad = np.argwhere(~(logs.pscore > 0))
        if len(bad):
            d, i = bad[0]
            raise ValueError(
                f"logging_policy {cfg['name']} recorded propensity {logs.pscore[d, i]} "
                f"for its own action (dataset {start + d}, row {i}): a Monte Carlo "
                "estimate of its action probabilities (Beta Thompson sampling) needs more "
                "n_prob_draws")
        yield start, logs


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
        policy = oracle_policy(logging, lambda x: env.mean_rewards(params, (), x),
                               temperature=temperature)
        parts = []
        for i in range(0, n_rows, slice_rows):  # rows are independent: draw in slices
            logs = simulate_logs(env, params, policy, jax.random.fold_in(
                jax.random.key(seed), i), min(slice_rows, n_rows - i), 1)
            parts.append(jax.tree_util.tree_map(np.asarray, logs))
        data = LoggedData.from_batch(LoggedBatch.concat_rows(parts))
        exploration = {} if logging == "uniform" else {"temperature": temperature}
        return data, {"algorithm": logging, "exploration": exploration,
                      "policy_version": f"{logging}-{json.dumps(exploration, sort_keys=True)}"}
    hyper = dict(bandit_params or {})
    policy = bandits.make(logging, env.n_arms, env.dim, **hyper)
    r = simulate(policy, env, n_rounds=n_rows, n_seeds=1, env_params=params, seed=seed,
                 record="logs")
    data = LoggedData.from_rollout(r)
    return data, {"algorithm": logging, "exploration": hyper,
                  "policy_version": f"{logging}-learning"}
