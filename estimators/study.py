"""Estimator studies: many logged datasets with a known truth, every estimator on each.

``run_study(cfg, out_dir)`` (what ``scripts/ope.py`` calls) draws M datasets of n rows
from a fixed logging policy in a world, fits the reward model out of fold, computes every
configured estimator with a bootstrap interval on each dataset, and compares with the
target policy's exact value: bias, standard deviation, RMSE, relative error, interval
coverage and width, each with its Monte Carlo error. Datasets are processed with
``lax.map``, so memory is that of one dataset, not of all M.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import bandits
from bandits.registry import Range
from envs import registry as env_registry
from envs.study import Callback, combine_job_summaries
from envs.truth import policy_value, simulate_logs
from estimators import ope, reward_models
from estimators import registry as est_registry
from estimators.bootstrap import bootstrap_replicates

POLICY_KINDS = {"uniform": {}, "eps_greedy": {"epsilon": Range(0.0, 1.0)},
                "softmax": {"temperature": Range(0.0, low_open=True)},
                "bandit": {"name": None, "params": None,
                           "warmup_rounds": Range(0, 10**8, integer=True)}}
STUDY_KEYS = {"n_datasets": Range(1, 10**7, integer=True),
              "n_rows": Range(2, 10**9, integer=True),
              "seed": Range(0, 2**31 - 1, integer=True),
              "n_boot": Range(10, 10**6, integer=True),
              "alpha": Range(0.0, 1.0, low_open=True, high_open=True),
              "truth_contexts": Range(1000, 10**9, integer=True)}


def _check_policy(where: str, cfg: Mapping[str, Any]) -> None:
    kind = cfg.get("kind")
    if kind not in POLICY_KINDS:
        raise ValueError(f"{where}.kind must be one of {', '.join(POLICY_KINDS)}, got {kind!r}")
    if kind == "bandit":
        if cfg.get("name") not in bandits.names():
            raise ValueError(f"{where}.name must be one of {', '.join(bandits.names())}, "
                             f"got {cfg.get('name')!r}")
        bandits.validate(cfg["name"], dict(cfg.get("params") or {}), where=f"{where}.params")
    for key, value in cfg.items():
        if key == "kind" or (kind == "bandit" and key in ("name", "params")):
            continue
        if key not in POLICY_KINDS[kind]:
            raise ValueError(f"{where} ({kind}) has no key {key!r}; allowed: "
                             f"{', '.join(POLICY_KINDS[kind]) or '(none)'}")
        POLICY_KINDS[kind][key].check(f"{where}.{key}", value)


def validate(cfg: Mapping[str, Any]) -> None:
    env_cfg = dict(cfg["env"])
    env_registry.make(env_cfg.pop("name", None), **env_cfg)
    if not cfg.get("estimator"):
        raise ValueError(f"estimator: choose at least one of {', '.join(est_registry.names())}")
    for name, hyper in cfg["estimator"].items():
        est_registry.make(name, **dict(hyper or {}))
    _check_policy("logging_policy", cfg["logging_policy"])
    _check_policy("target_policy", cfg["target_policy"])
    model = cfg.get("reward_model") or {}
    if model.get("name") not in ("ridge", "mlp"):
        raise ValueError(f"reward_model.name must be ridge or mlp, got {model.get('name')!r}")
    Range(1, 20, integer=True).check("reward_model.n_folds", model.get("n_folds", 2))
    for key, value in cfg["study"].items():
        if key not in STUDY_KEYS:
            raise ValueError(f"study has no key {key!r}; allowed: {', '.join(STUDY_KEYS)}")
        STUDY_KEYS[key].check(f"study.{key}", value)


def fixed_policy(cfg: Mapping[str, Any], env, params, key=None):
    """A fixed policy: uniform, ε-greedy or softmax over the world's true mean rewards, or
    (``kind: bandit``) any algorithm of :mod:`bandits` frozen after ``warmup_rounds``
    rounds of learning in this world (its ``probs``; for Thompson sampling a Monte Carlo
    estimate with one fixed set of draws)."""
    kind = cfg["kind"]
    if kind == "bandit":
        return _bandit_policy(cfg, env, params, key)

    def probs(x, m):
        mu = env.mean_rewards(params, (), x)
        if kind == "uniform":
            return m / jnp.sum(m)
        if kind == "softmax":
            z = jnp.where(m, mu / cfg["temperature"], -jnp.inf)
            return jax.nn.softmax(z)
        s = jnp.where(m, mu, -jnp.inf)
        best = ((s == jnp.max(s)) & m).astype(jnp.float32)
        best = best / jnp.sum(best)
        return (1 - cfg["epsilon"]) * best + cfg["epsilon"] * m / jnp.sum(m)

    return probs


def _bandit_policy(cfg, env, env_params, key):
    from envs.rollout import simulate

    key = jax.random.key(0) if key is None else key
    policy = bandits.make(cfg["name"], env.n_arms, env.dim, **dict(cfg.get("params") or {}))
    pp = policy.default_params
    warmup = int(cfg.get("warmup_rounds", 0))
    if warmup > 0:
        r = simulate(policy, env, n_rounds=warmup, n_seeds=1, env_params=env_params,
                     seed=int(jax.random.randint(key, (), 0, 2**31 - 1)))
        state = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0, 0]), r.final_state)
    else:
        state = policy.init(pp, key)
    noise = policy.draw(pp, jax.random.fold_in(key, 1))
    return lambda x, m: policy.decide(pp, state, noise, x, m).probs


def _model(cfg, n_arms):
    cfg = dict(cfg)
    name = cfg.pop("name")
    cfg.pop("n_folds", None)
    return reward_models.ridge(n_arms, **cfg) if name == "ridge" else \
        reward_models.mlp(n_arms, **cfg)


def run_study(cfg: Mapping[str, Any], out_dir: str | None = None,
              echo: bool = True) -> dict[str, Any]:
    validate(cfg)
    study = cfg["study"]
    env_cfg = dict(cfg["env"])
    env = env_registry.make(env_cfg.pop("name"), **env_cfg)
    root = jax.random.key(study.get("seed", 0))
    params = env.sample_params(jax.random.fold_in(root, 0))
    logging = fixed_policy(cfg["logging_policy"], env, params, jax.random.fold_in(root, 3))
    target = fixed_policy(cfg["target_policy"], env, params, jax.random.fold_in(root, 4))
    names = list(cfg["estimator"])
    fns = [est_registry.make(n, **dict(cfg["estimator"][n] or {})) for n in names]
    model = _model(cfg["reward_model"], env.n_arms)
    n_folds = cfg["reward_model"].get("n_folds", 2)
    n, m_sets = study["n_rows"], study["n_datasets"]
    n_boot, alpha = study.get("n_boot", 200), study.get("alpha", 0.05)

    def all_estimates(rows):
        return jnp.stack([f(rows).value for f in fns])

    def one_dataset(i):
        k = jax.random.fold_in(jax.random.fold_in(root, 2), i)
        logs = simulate_logs(env, params, logging, k, n, 1)
        logs = jax.tree_util.tree_map(lambda x: x[0], logs)
        pi_e = jax.vmap(target)(logs.context, logs.mask)
        q_hat = reward_models.cross_fit(model, jax.random.fold_in(k, 1), logs.context,
                                        logs.action, logs.reward, n_folds)
        rows = ope.rows(logs.reward, logs.action, logs.pscore, pi_e, q_hat)
        reps = bootstrap_replicates(all_estimates, rows, jax.random.fold_in(k, 2), n_boot)
        lo, hi = jnp.quantile(reps, jnp.array([alpha / 2, 1 - alpha / 2]), axis=0)
        return all_estimates(rows), lo, hi

    t0 = time.perf_counter()
    truth = policy_value(env, params, target, jax.random.fold_in(root, 1),
                         n_contexts=study.get("truth_contexts", 1_000_000))
    est, lo, hi = jax.jit(lambda: jax.lax.map(one_dataset, jnp.arange(m_sets)))()
    est, lo, hi = (np.asarray(x, np.float64) for x in (est, lo, hi))
    wall = time.perf_counter() - t0
    v, v_se = float(truth.value), float(truth.std_error)
    rows = summarise(names, est, lo, hi, v)
    summary = {"truth": v, "truth_std_error": v_se, "n_datasets": m_sets, "n_rows": n,
               "wall_s": wall, "config": cfg, "results": rows}
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        plot_errors(names, est - v, os.path.join(out_dir, "estimators.png"), n, m_sets)
    if echo:
        print(f"truth V(π) = {v:.5f} ± {v_se:.5f}  ({m_sets} datasets × {n} rows, "
              f"{wall:.1f} s)")
        print(format_table(rows))
    return {"summary": summary, "estimates": est, "lower": lo, "upper": hi}


def summarise(names, est, lo, hi, truth) -> list[dict[str, Any]]:
    out = []
    m = est.shape[0]
    for j, name in enumerate(names):
        err = est[:, j] - truth
        cover = (lo[:, j] <= truth) & (truth <= hi[:, j])
        mse = np.mean(err**2)
        rmse = math.sqrt(mse)
        out.append({
            "estimator": name,
            "bias": float(err.mean()), "bias_se": float(err.std(ddof=1) / math.sqrt(m)),
            "std": float(err.std(ddof=1)),
            "std_se": float(err.std(ddof=1) / math.sqrt(2 * (m - 1))),
            "rmse": rmse, "rmse_se": float(np.std(err**2, ddof=1) / math.sqrt(m) / (2 * rmse))
            if rmse > 0 else 0.0,
            "relative_error": float(np.mean(np.abs(err)) / abs(truth)) if truth else math.nan,
            "coverage": float(cover.mean()),
            "coverage_se": float(math.sqrt(cover.mean() * (1 - cover.mean()) / m)),
            "ci_width": float(np.mean(hi[:, j] - lo[:, j])),
            "ci_width_se": float(np.std(hi[:, j] - lo[:, j], ddof=1) / math.sqrt(m)),
        })
    return out


def format_table(rows) -> str:
    head = (f"{'estimator':<11} {'bias':>18} {'std':>8} {'RMSE':>18} {'coverage':>15} "
            f"{'CI width':>9}")
    lines = [head, "-" * len(head)]
    for r in sorted(rows, key=lambda r: r["rmse"]):
        lines.append(
            f"{r['estimator']:<11} {r['bias']:>+9.5f} ± {r['bias_se']:.5f} {r['std']:>8.5f} "
            f"{r['rmse']:>9.5f} ± {r['rmse_se']:.5f} {r['coverage']:>7.3f} ± "
            f"{r['coverage_se']:.3f} {r['ci_width']:>9.5f}")
    return "\n".join(lines)


def plot_errors(names, errors, path, n, m) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(np.sqrt(np.mean(errors**2, 0)))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names)), 4.5))
    ax.boxplot([errors[:, j] for j in order], whis=(2.5, 97.5), showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), [names[j] for j in order], rotation=30)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(ylabel="estimate − true value",
           title=f"estimator errors over {m} datasets of {n} rows (whiskers 2.5–97.5%)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


class CombineEstimatorStudies(Callback):
    """Hydra callback: after ``-m``, one table of every job and RMSE against n.

    Writes ``combined_summary.csv`` and, when the jobs differ in ``study.n_rows``,
    ``rmse_vs_n.png`` (one line per estimator, log-log, error bars from the Monte Carlo
    error) in the sweep directory.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        keys = ("estimator", "bias", "std", "rmse", "rmse_se", "coverage", "ci_width")
        sweep_dir = config.hydra.sweep.dir
        rows = combine_job_summaries(sweep_dir, lambda job, s, r: {
            "job": job, "n_rows": s["n_rows"], "truth": s["truth"],
            **{k: r[k] for k in keys}})
        if len({r["n_rows"] for r in rows}) > 1:
            plot_rmse_vs_n(rows, os.path.join(sweep_dir, "rmse_vs_n.png"))


def plot_rmse_vs_n(rows, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name in dict.fromkeys(r["estimator"] for r in rows):
        pts = sorted((r["n_rows"], r["rmse"], r["rmse_se"]) for r in rows
                     if r["estimator"] == name)
        n, rmse, se = (np.array(x) for x in zip(*pts))
        ax.errorbar(n, rmse, yerr=2 * se, marker="o", ms=3, capsize=2, label=name)
    ax.set(xscale="log", yscale="log", xlabel="logged rows n", ylabel="RMSE",
           title="estimator RMSE against sample size (bars: ±2 MC s.e.)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
