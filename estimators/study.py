"""Estimator studies: many logged datasets with a known truth, every estimator on each.

``run_study(cfg, out_dir)`` (what ``scripts/ope.py`` calls) draws M datasets of n rows
from a logging policy in a world, fits the reward model out of fold, computes every
configured estimator with a bootstrap interval on each dataset, and compares with the
target policy's exact value: bias, standard deviation, RMSE, relative error, interval
coverage and width, each with its Monte Carlo error.

* A fixed logging policy's datasets are drawn inside one compiled program, one at a time
  with ``lax.map``, so memory is that of one dataset, not of all M.
* A learning logging policy (``kind: bandit, learning: true``) is logged as it learns:
  each dataset is one seed of :func:`envs.data.generate.learning_logs`, run in batches of
  seeds whose logs fit in ~64 MB.
* ``sweep.path`` / ``sweep.values`` sweep one numeric key (a fixed policy's ε or
  temperature, an estimator's λ) *inside* the compiled program: every grid point sees the
  same datasets (common random numbers), and work that does not depend on the swept value
  is done once.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import bandits
from bandits.oracle import oracle_policy
from common.sweeps import Callback, combine_job_summaries
from common.validation import Range
from envs.data.generate import learning_logs, simulate_logs
from envs.data.truth import policy_value
from envs.worlds import registry as env_registry
from estimators import ope, reward_models
from estimators import registry as est_registry
from estimators.bootstrap import bootstrap_replicates
from estimators.plots import plot_errors, plot_rmse_vs_n, plot_sweep

POLICY_KINDS = {"uniform": {}, "eps_greedy": {"epsilon": Range(0.0, 1.0)},
                "softmax": {"temperature": Range(0.0, low_open=True)},
                "bandit": {"name": None, "params": None, "learning": None,
                           "warmup_rounds": Range(0, 10**8, integer=True)}}
SWEEPABLE_POLICY_KEYS = {"eps_greedy": ("epsilon",), "softmax": ("temperature",)}
BOOTSTRAP_SCHEMES = ("multinomial", "poisson")
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
        if not isinstance(cfg.get("learning", False), bool):
            raise ValueError(f"{where}.learning must be true or false, got "
                             f"{cfg.get('learning')!r}")
        if cfg.get("name") not in bandits.names():
            raise ValueError(f"{where}.name must be one of {', '.join(bandits.names())}, "
                             f"got {cfg.get('name')!r}")
        bandits.validate(cfg["name"], dict(cfg.get("params") or {}), where=f"{where}.params")
    for key, value in cfg.items():
        if key == "kind" or (kind == "bandit" and key in ("name", "params", "learning")):
            continue
        if key not in POLICY_KINDS[kind]:
            raise ValueError(f"{where} ({kind}) has no key {key!r}; allowed: "
                             f"{', '.join(POLICY_KINDS[kind]) or '(none)'}")
        POLICY_KINDS[kind][key].check(f"{where}.{key}", value)


def validate(cfg: Mapping[str, Any]) -> None:
    env_cfg = dict(cfg["env"])
    env_registry.make(env_cfg.pop("name", None), **env_cfg)
    est_registry.from_config(cfg.get("estimator"))
    _check_policy("logging_policy", cfg["logging_policy"])
    _check_policy("target_policy", cfg["target_policy"])
    reward_models.from_config(cfg.get("reward_model"), 2)
    if cfg["target_policy"]["kind"] == "bandit" and cfg["target_policy"].get("learning"):
        raise ValueError("target_policy.learning must be false: a target policy is evaluated "
                         "as a fixed policy (set warmup_rounds to train it first)")
    for key, value in cfg["study"].items():
        if key == "bootstrap":
            if value not in BOOTSTRAP_SCHEMES:
                raise ValueError(f"study.bootstrap must be one of {', '.join(BOOTSTRAP_SCHEMES)}"
                                 f", got {value!r}")
            continue
        if key not in STUDY_KEYS:
            raise ValueError(f"study has no key {key!r}; allowed: "
                             f"{', '.join([*STUDY_KEYS, 'bootstrap'])}")
        STUDY_KEYS[key].check(f"study.{key}", value)


def _with(cfg: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``cfg`` with the dotted ``path`` set to ``value``."""
    out = dict(cfg)
    head, _, rest = path.partition(".")
    out[head] = _with(out.get(head) or {}, rest, value) if rest else value
    return out


def sweep_spec(cfg: Mapping[str, Any]) -> tuple[str | None, list[float]]:
    """The in-process sweep of a config: ``(path, values)``, or ``(None, [])``.

    Every value is checked as if it were set in the config, so a bad one names the key,
    the value and the allowed range before anything is compiled.
    """
    sw = dict(cfg.get("sweep") or {})
    for key in sw:
        if key not in ("path", "values"):
            raise ValueError(f"sweep has no key {key!r}; allowed: path, values")
    path, values = sw.get("path"), sw.get("values")
    if path is None and values is None:
        return None, []
    if not isinstance(path, str) or values is None:
        raise ValueError("an in-process sweep needs sweep.path (e.g. logging_policy.epsilon) "
                         f"and sweep.values (e.g. [0.05,0.1,0.3]); got path={path!r}, "
                         f"values={values!r}")
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise ValueError("sweep.values is empty")
    parts = path.split(".")
    if parts[0] in ("logging_policy", "target_policy"):
        kind = cfg[parts[0]]["kind"]
        allowed = SWEEPABLE_POLICY_KEYS.get(kind, ())
        if len(parts) != 2 or parts[1] not in allowed:
            raise ValueError(
                f"sweep.path={path!r}: {parts[0]} is {kind!r}, whose in-process sweepable "
                f"keys are {', '.join(parts[0] + '.' + k for k in allowed) or '(none)'}; "
                "sweep a bandit policy's hyperparameters with Hydra multirun (-m)")
    elif parts[0] == "estimator":
        if len(parts) != 3 or parts[1] not in cfg["estimator"]:
            raise ValueError(f"sweep.path={path!r} must be estimator.<name>.<key> for one of "
                             f"the study's estimators: {', '.join(cfg['estimator'])}")
        allowed = list(est_registry.spec(parts[1]).params)
        if parts[2] not in allowed:
            raise ValueError(f"sweep.path={path!r}: estimator {parts[1]} has "
                             f"{'keys ' + ', '.join(allowed) if allowed else 'no keys'}")
    else:
        raise ValueError(f"sweep.path must start with logging_policy., target_policy. or "
                         f"estimator., got {path!r}; sweep study.n_rows and structural "
                         "choices with Hydra multirun (-m)")
    out = []
    for v in values:
        v = math.inf if v in ("inf", ".inf") else v
        validate({k: x for k, x in _with(cfg, path, v).items() if k != "sweep"})
        out.append(float(v))
    return path, out


def fixed_policy(cfg: Mapping[str, Any], env, params, key=None):
    """A fixed policy: uniform, ε-greedy or softmax over the world's true mean rewards, or
    (``kind: bandit``) any algorithm of :mod:`bandits` frozen after ``warmup_rounds``
    rounds of learning in this world (its ``probs``; for Thompson sampling a Monte Carlo
    estimate with one fixed set of draws)."""
    kind = cfg["kind"]
    if kind == "bandit":
        return _bandit_policy(cfg, env, params, key)

    return oracle_policy(kind, lambda x: env.mean_rewards(params, (), x),
                         epsilon=cfg.get("epsilon", 0.0), temperature=cfg.get("temperature", 1.0))


def _bandit_policy(cfg, env, env_params, key):
    from envs.engine.driver import simulate

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


class _Plan(NamedTuple):
    """What every dataset of a study shares, built once from the config."""

    cfg: Mapping[str, Any]
    env: Any
    params: Any  # the world's parameters
    root: Any  # the study's root key
    path: str | None  # the in-process sweep's dotted key, or None
    values: list[float]  # its values
    grid: Any  # (G,) float32 grid values ([0.0] without a sweep)
    names: list[str]  # estimators, in config order
    hypers: dict[str, dict[str, float]]  # each estimator's full hyperparameters
    fixed_logging: Any  # probs(x, mask) of a fixed logging policy, or None
    fixed_target: Any  # likewise for the target policy

    def at(self, v) -> Mapping[str, Any]:
        return _with(self.cfg, self.path, v) if self.path else self.cfg

    def logging_at(self, v):
        return self.fixed_logging or fixed_policy(self.at(v)["logging_policy"], self.env,
                                                  self.params)

    def target_at(self, v):
        return self.fixed_target or fixed_policy(self.at(v)["target_policy"], self.env,
                                                 self.params)

    def estimators_at(self, v):
        hypers = {n: dict(h) for n, h in self.hypers.items()}
        if self.path and self.path.startswith("estimator."):
            _, name, key = self.path.split(".")
            hypers[name][key] = v
        return [est_registry.bind(n, **hypers[n]) for n in self.names]

    def dataset_key(self, i):
        return jax.random.fold_in(jax.random.fold_in(self.root, 2), i)

    @property
    def learning(self) -> bool:
        log_cfg = self.cfg["logging_policy"]
        return log_cfg["kind"] == "bandit" and bool(log_cfg.get("learning", False))


def _plan(cfg: Mapping[str, Any]) -> _Plan:
    validate(cfg)
    path, values = sweep_spec(cfg)
    env_cfg = dict(cfg["env"])
    env = env_registry.make(env_cfg.pop("name"), **env_cfg)
    root = jax.random.key(cfg["study"].get("seed", 0))
    params = env.sample_params(jax.random.fold_in(root, 0))
    swept = path.split(".")[0] if path else None
    log_cfg, tgt_cfg = cfg["logging_policy"], cfg["target_policy"]
    learning = log_cfg["kind"] == "bandit" and bool(log_cfg.get("learning", False))
    fixed_logging = None if learning or swept == "logging_policy" else fixed_policy(
        log_cfg, env, params, jax.random.fold_in(root, 3))
    fixed_target = None if swept == "target_policy" else fixed_policy(
        tgt_cfg, env, params, jax.random.fold_in(root, 4))
    hypers = est_registry.from_config(cfg["estimator"])
    return _Plan(cfg, env, params, root, path, values,
                 jnp.asarray(values if path else [0.0], jnp.float32), list(hypers), hypers,
                 fixed_logging, fixed_target)


def _analyse(plan: _Plan):
    """``analyse(key, logs, v)``: every estimator, its interval and the weights'
    diagnostics on one dataset at grid value ``v``."""
    study = plan.cfg["study"]
    n, n_boot = study["n_rows"], study.get("n_boot", 200)
    alpha, scheme = study.get("alpha", 0.05), study.get("bootstrap", "multinomial")
    model, n_folds = reward_models.from_config(plan.cfg["reward_model"], plan.env.n_arms)

    def analyse(k, logs, v):
        pi_e = jax.vmap(plan.target_at(v))(logs.context, logs.mask)
        q_hat = reward_models.cross_fit(model, jax.random.fold_in(k, 1), logs.context,
                                        logs.action, logs.reward, n_folds)
        rows = ope.rows(logs.reward, logs.action, logs.pscore, pi_e, q_hat)
        fns = plan.estimators_at(v)

        def all_estimates(r):
            return jnp.stack([f(r).value for f in fns])

        reps = bootstrap_replicates(all_estimates, rows, jax.random.fold_in(k, 2), n_boot,
                                    scheme=scheme)
        lo, hi = jnp.quantile(reps, jnp.array([alpha / 2, 1 - alpha / 2]), axis=0)
        d = ope.diagnostics(ope.importance_weights(rows))
        return all_estimates(rows), lo, hi, jnp.stack([d.ess / n, d.max_weight])

    return analyse


def _chunks(m: int, n_chunks: int = 20) -> tuple[int, int]:
    """``(chunk, count)``: ``count`` equal chunks of ``chunk`` datasets covering ``m``."""
    chunk = -(-m // min(m, n_chunks))
    return chunk, -(-m // chunk)


def _fixed_logs_estimates(plan: _Plan, progress: bool):
    """(M, G, ·) estimates, bounds and diagnostics on datasets drawn from a fixed logging
    policy, in equal chunks of datasets (one compiled program, a progress bar over chunks).

    Dataset ``i`` depends only on ``i``: the last chunk is padded with extra datasets whose
    results are dropped, so the numbers do not depend on the chunking.
    """
    from tqdm.auto import tqdm

    study = plan.cfg["study"]
    n, m = study["n_rows"], study["n_datasets"]
    analyse = _analyse(plan)

    def dataset(i):
        k = plan.dataset_key(i)

        def point(v):
            logs = simulate_logs(plan.env, plan.params, plan.logging_at(v), k, n, 1)
            return analyse(k, jax.tree_util.tree_map(lambda x: x[0], logs), v)

        return jax.vmap(point)(plan.grid)

    chunk, count = _chunks(m)
    run = jax.jit(lambda idx: jax.lax.map(dataset, idx))
    parts = []
    with tqdm(total=m, desc="datasets", unit="dataset", disable=not progress) as bar:
        for c in range(count):
            parts.append(jax.device_get(run(jnp.arange(c * chunk, (c + 1) * chunk))))
            bar.update(min(chunk, m - c * chunk))
    return tuple(np.concatenate([p[j] for p in parts])[:m] for j in range(4))


def _learning_logs_estimates(plan: _Plan):
    """Like :func:`_fixed_logs_estimates` for a logging policy logged as it learns."""
    study, analyse = plan.cfg["study"], _analyse(plan)
    run = jax.jit(lambda idx, logs: jax.lax.map(
        lambda a: jax.vmap(lambda v: analyse(plan.dataset_key(a[0]), a[1], v))(plan.grid),
        (idx, logs)))
    log_seed = int(jax.random.randint(jax.random.fold_in(plan.root, 5), (), 0, 2**31 - 1))
    parts = [run(jnp.arange(start, start + logs.action.shape[0]), logs)
             for start, logs in learning_logs(plan.cfg["logging_policy"], plan.env,
                                               plan.params, log_seed, study["n_rows"],
                                               study["n_datasets"])]
    return tuple(np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(4))


def _truths(plan: _Plan) -> list:
    """The target policy's exact value (a Monte Carlo over contexts) per grid point."""
    n_truth = plan.cfg["study"].get("truth_contexts", 1_000_000)
    key = jax.random.fold_in(plan.root, 1)
    swept_target = plan.path is not None and plan.path.startswith("target_policy.")
    targets = [plan.target_at(jnp.float32(v)) for v in plan.values] if swept_target \
        else [plan.fixed_target]
    truths = [policy_value(plan.env, plan.params, t, key, n_contexts=n_truth)
              for t in targets]
    return truths * (len(plan.grid) // len(truths))


def run_study(cfg: Mapping[str, Any], out_dir: str | None = None, echo: bool = True,
              progress: bool | None = None) -> dict[str, Any]:
    """The estimator study of ``cfg`` (see the module docstring).

    Args:
        cfg: the composed config (``conf/ope.yaml``) as a plain mapping.
        out_dir: where ``summary.json``, ``summary.md`` and the figure go (None: nowhere).
        echo: print the table and where the outputs went.
        progress: a progress bar over datasets (default: ``echo``).

    Returns:
        ``{"summary", "estimates", "lower", "upper"}``; the arrays are (M, E), or
        (M, G, E) with a sweep.
    """
    plan = _plan(cfg)
    t0 = time.perf_counter()
    truths = _truths(plan)
    est, lo, hi, diag = _learning_logs_estimates(plan) if plan.learning else \
        _fixed_logs_estimates(plan, echo if progress is None else progress)
    est, lo, hi, diag = (np.asarray(x, np.float64) for x in (est, lo, hi, diag))  # (M, G, ·)
    summary = _summary(plan, truths, est, lo, hi, diag, time.perf_counter() - t0)
    if out_dir:
        _write_outputs(plan, summary, est, out_dir)
    if echo:
        print(format_report(summary))
    squeeze = (lambda x: x[:, 0]) if not plan.path else (lambda x: x)
    return {"summary": summary, "estimates": squeeze(est), "lower": squeeze(lo),
            "upper": squeeze(hi)}


def _summary(plan: _Plan, truths, est, lo, hi, diag, wall: float) -> dict[str, Any]:
    study = plan.cfg["study"]
    points = []
    for g in range(len(plan.grid)):
        v, v_se = float(truths[g].value), float(truths[g].std_error)
        res = summarise(plan.names, est[:, g], lo[:, g], hi[:, g], v, v_se)
        if plan.path:
            for r in res:
                r.update(sweep_value=plan.values[g], truth=v)
        points.append({"truth": v, "truth_std_error": v_se, "results": res,
                       "ess_fraction": float(diag[:, g, 0].mean()),
                       "max_weight": float(diag[:, g, 1].mean()),
                       **({"sweep_value": plan.values[g]} if plan.path else {})})
    summary = {"truth": points[0]["truth"], "truth_std_error": points[0]["truth_std_error"],
               "ess_fraction": points[0]["ess_fraction"],
               "max_weight": points[0]["max_weight"],
               "n_datasets": study["n_datasets"], "n_rows": study["n_rows"],
               "alpha": study.get("alpha", 0.05), "wall_s": wall,
               "estimators": plan.hypers, "config": plan.cfg, "points": points,
               "results": [r for p in points for r in p["results"]]}
    if plan.path:
        summary["sweep"] = {"path": plan.path, "values": plan.values}
    return summary


def _write_outputs(plan: _Plan, summary: dict, est: np.ndarray, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(format_markdown(summary) + "\n")
    n, m, alpha = summary["n_rows"], summary["n_datasets"], summary["alpha"]
    if plan.path:
        plot_sweep(plan.names, plan.path, summary["points"],
                   os.path.join(out_dir, "sweep.png"), n, m, alpha)
    else:
        plot_errors(plan.names, est[:, 0] - summary["truth"],
                    os.path.join(out_dir, "estimators.png"), n, m,
                    results=summary["points"][0]["results"], alpha=alpha)


def summarise(names, est, lo, hi, truth, truth_se: float = 0.0) -> list[dict[str, Any]]:
    """Per estimator: bias, std, RMSE, relative error, coverage and CI width, each with
    its Monte Carlo error over the M datasets.

    ``bias_se`` also carries the truth's own Monte Carlo error ``truth_se`` (the truth is
    estimated once and shared by every dataset, so its error shifts every bias alike).
    """
    out = []
    m = est.shape[0]
    for j, name in enumerate(names):
        err = est[:, j] - truth
        cover = (lo[:, j] <= truth) & (truth <= hi[:, j])
        mse = np.mean(err**2)
        rmse = math.sqrt(mse)
        out.append({
            "estimator": name,
            "bias": float(err.mean()),
            "bias_se": float(math.sqrt(err.var(ddof=1) / m + truth_se**2)),
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


def _setting(summary: Mapping[str, Any]) -> list[str]:
    """The study's set-up in words: world, policies, reward model, sizes, estimators."""
    cfg = summary["config"]
    env = dict(cfg["env"])
    world = env.pop("name")
    world += f" ({', '.join(f'{k}={v}' for k, v in env.items())})" if env else ""
    pol = lambda c: ", ".join(f"{k}={v}" for k, v in c.items() if v is not None)
    rm = ", ".join(f"{k}={v}" for k, v in cfg["reward_model"].items())
    ests = "; ".join(est_registry.describe(n, h) for n, h in summary["estimators"].items())
    st = cfg["study"]
    return [f"- world: {world}",
            f"- logging policy: {pol(cfg['logging_policy'])}",
            f"- target policy: {pol(cfg['target_policy'])}",
            f"- reward model: {rm}",
            f"- {summary['n_datasets']:,} datasets × {summary['n_rows']:,} rows; "
            f"{st.get('n_boot', 200)} {st.get('bootstrap', 'multinomial')} bootstrap "
            f"resamples, {1 - summary['alpha']:.0%} percentile intervals; seed "
            f"{st.get('seed', 0)}; {summary['wall_s']:.1f} s",
            f"- estimators: {ests}"]


def _point_line(p: Mapping[str, Any], path: str | None) -> str:
    head = f"{path} = {p['sweep_value']:g}: " if path else ""
    return (f"{head}truth V(π) = {p['truth']:.5f} ± {p['truth_std_error']:.5f}; mean "
            f"effective sample size {p['ess_fraction']:.1%} of n, mean max weight "
            f"{p['max_weight']:.1f}")


def format_report(summary: Mapping[str, Any]) -> str:
    """What the terminal shows: the set-up, then each grid point's truth and table."""
    path = (summary.get("sweep") or {}).get("path")
    out = ["estimator study", *_setting(summary),
           "± is one Monte Carlo standard error (bias: over datasets and of the truth)"]
    for p in summary["points"]:
        out += ["", _point_line(p, path), format_table(p["results"])]
    return "\n".join(out)


def format_markdown(summary: Mapping[str, Any]) -> str:
    """``summary.md``: the set-up and one Markdown table per grid point."""
    path = (summary.get("sweep") or {}).get("path")
    md = ["# Estimator study", "", *_setting(summary), "",
          "± is one Monte Carlo standard error over the datasets; the bias's also includes "
          "the truth's own Monte Carlo error.", ""]
    for p in summary["points"]:
        md += [f"## {_point_line(p, path)}", "",
               "| estimator | bias | std | RMSE | coverage | CI width |",
               "|---|---:|---:|---:|---:|---:|"]
        md += [f"| {r['estimator']} | {r['bias']:+.5f} ± {r['bias_se']:.5f} | "
               f"{r['std']:.5f} | {r['rmse']:.5f} ± {r['rmse_se']:.5f} | "
               f"{r['coverage']:.3f} ± {r['coverage_se']:.3f} | {r['ci_width']:.4f} |"
               for r in sorted(p["results"], key=lambda r: r["rmse"])]
        md.append("")
    return "\n".join(md)


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
