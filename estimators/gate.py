"""The deployment gate: should a candidate policy replace the one that wrote the logs?

On a held-out split of logged decisions, each candidate's value is estimated off-policy
(DR by default, with IPS, SNIPS and DM beside it), every estimate with a percentile
bootstrap interval. The logging policy's value is the held-out rewards' mean — exact for
the policy that produced them — and it is resampled together with the candidate's
estimates, so the lift ((candidate − logging) / |logging|, in %) gets a paired interval
and a paired p-value. Diagnostics say how far the data supports the candidate: effective sample
size of the importance weights, their maximum, the share of rows with a non-zero weight,
and the candidate's probability mass on arms the logging policy never takes (known
exactly when the logs carry its full distribution, otherwise arms absent from the held-out
logs) or that were not eligible.

The recommendation is an explicit, configurable rule (:class:`GateRule`); the report lists
every condition with its measured value, so a "do not ship" says why.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from common.figures import pyplot, save_figure
from envs.data.events import id_runs
from envs.data.loading import describe_load, load_logs
from estimators import ope, reward_models
from estimators import registry as est_registry
from estimators.bootstrap import bootstrap_replicates

DEFAULT_ESTIMATORS = ("dr", "ipw", "snipw", "dm")


@dataclass(frozen=True)
class GateRule:
    """When a candidate may ship (every condition must hold).

    Attributes:
        decide_on: the estimator whose lift decides.
        min_lift_lower_pct: the lift's lower interval bound must exceed this (in %).
        min_ess: the importance weights' effective sample size must reach this (rows).
        max_support_violation: the candidate's mean probability on arms without support
            (never taken by the logging policy, or not eligible) must not exceed this.
        max_p_value: if set, the paired p-value of "no difference" must be below it.
    """

    decide_on: str = "dr"
    min_lift_lower_pct: float = 0.0
    min_ess: float = 100.0
    max_support_violation: float = 0.0
    max_p_value: float | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> GateRule:
        cfg = dict(cfg or {})
        allowed = set(cls.__dataclass_fields__)
        for key in cfg:
            if key not in allowed:
                raise ValueError(f"gate has no key {key!r}; allowed: {', '.join(sorted(allowed))}")
        rule = cls(**cfg)
        if rule.decide_on not in est_registry.names():
            raise ValueError(f"gate.decide_on must be one of {', '.join(est_registry.names())}, "
                             f"got {rule.decide_on!r}")
        for key in ("min_lift_lower_pct", "min_ess", "max_support_violation"):
            v = getattr(rule, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
                raise ValueError(f"gate.{key} must be a number, got {v!r}")
        if rule.min_ess < 0 or not 0 <= rule.max_support_violation <= 1:
            raise ValueError(f"gate.min_ess must be >= 0 and gate.max_support_violation in "
                             f"[0, 1]; got {rule.min_ess!r}, {rule.max_support_violation!r}")
        if rule.max_p_value is not None and not 0 < rule.max_p_value <= 1:
            raise ValueError(f"gate.max_p_value must be in (0, 1] or null, got "
                             f"{rule.max_p_value!r}")
        return rule


def decision_probs(policy, params, state, context, mask, key, batch_rows: int = 65_536
                   ) -> np.ndarray:
    """(n, K) action probabilities of a fixed (trained) policy on logged contexts.

    Row i uses the noise ``policy.draw(params, fold_in(key, i))``, so a Monte Carlo
    estimate (Thompson sampling) is reproducible row by row whatever the batch size.
    """
    n = context.shape[0]
    mask = np.ones((n, policy.n_arms), bool) if mask is None else mask

    @jax.jit
    def probs(x, m, idx):
        def one(xi, mi, i):
            noise = policy.draw(params, jax.random.fold_in(key, i))
            return policy.decide(params, state, noise, xi, mi).probs

        return jax.vmap(one)(x, m, idx)

    out = np.empty((n, policy.n_arms), np.float32)
    for s in range(0, n, batch_rows):  # batches of rows bound the memory, not a hot loop
        e = min(n, s + batch_rows)
        idx = np.arange(s, e)
        if e - s < batch_rows and n > batch_rows:  # keep one compiled shape
            idx = np.arange(e - batch_rows, e)
        out[idx] = np.asarray(probs(context[idx], mask[idx], idx))
    return out


def _interval(reps: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile interval of the finite replicates (NaN, NaN when none is finite)."""
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


@functools.cache
def _compiled_statistics(estimators: tuple[tuple[str, tuple[tuple[str, float], ...]], ...],
                         n_boot: int, scheme: str):
    """The estimators plus the logging policy's mean, on the data and on its resamples;
    compiled once per configuration, so every candidate of a report reuses them.

    ``estimators``: ``((name, ((key, value), ...)), ...)``, every hyperparameter given.
    """
    fns = [est_registry.bind(n, **dict(h)) for n, h in estimators]

    def stat(r):
        return jnp.stack([f(r).value for f in fns] + [ope.wmean(r.reward, r)])

    return jax.jit(stat), jax.jit(lambda r, k: bootstrap_replicates(stat, r, k, n_boot,
                                                                    scheme=scheme))


def evaluate_candidate(data, target_probs: np.ndarray, q_hat: np.ndarray | None, *,
                       key, estimators: Sequence[str] | Mapping[str, Any] = DEFAULT_ESTIMATORS,
                       n_boot: int = 1000, alpha: float = 0.05, rule: GateRule = GateRule(),
                       scheme: str = "multinomial") -> dict[str, Any]:
    """Estimates, lift, diagnostics and the gate's verdict for one candidate.

    Args:
        data: the held-out :class:`envs.data.logged.LoggedData`.
        target_probs: (n, K) the candidate's action probabilities on those rows.
        q_hat: (n, K) out-of-fold reward-model predictions (None: DM and DR unavailable).
        estimators: names (each at its defaults) or ``name -> hyperparameters`` (the
            ``estimator`` config group); see :func:`estimators.registry.from_config`.
    """
    hypers = est_registry.from_config(estimators)
    names = list(hypers)
    if rule.decide_on not in names:
        raise ValueError(f"gate.decide_on={rule.decide_on!r} is not among the estimators "
                         f"{names}")
    for n, spec in ((n, est_registry.spec(n)) for n in names):
        if spec.needs_model and q_hat is None:
            raise ValueError(f"estimator {n} needs a reward model")
    rows = ope.rows(np.asarray(data.reward, np.float32), data.action,
                    np.asarray(data.pscore, np.float32), target_probs, q_hat)
    point, replicates = _compiled_statistics(
        tuple((n, tuple(h.items())) for n, h in hypers.items()), n_boot, scheme)
    full = np.asarray(point(rows), np.float64)
    reps = np.asarray(replicates(rows, key), np.float64)
    logging_value, logging_reps = full[-1], reps[:, -1]
    out: dict[str, Any] = {"estimates": {}, "logging_value": {
        "value": logging_value, **dict(zip(("lower", "upper"),
                                           _interval(logging_reps, alpha)))}}
    for j, name in enumerate(names):
        lo, hi = _interval(reps[:, j], alpha)
        diff = reps[:, j] - logging_reps
        p = min(1.0, 2 * min(np.mean(diff <= 0), np.mean(diff >= 0)))
        entry = {"value": full[j], "lower": lo, "upper": hi,
                 "std_error": float(reps[:, j].std(ddof=1)), "p_value": p}
        if logging_value != 0:
            # relative to |V(logging)|, so a better candidate has a positive lift even
            # when rewards (and values) are negative
            lift = (reps[:, j] - logging_reps) / np.abs(logging_reps) * 100
            entry["lift_pct"] = {"value": (full[j] - logging_value) / abs(logging_value) * 100,
                                 **dict(zip(("lower", "upper"), _interval(lift, alpha)))}
        out["estimates"][name] = entry
    out["diagnostics"] = diagnostics(data, rows, target_probs)
    out["decision"], out["checks"] = apply_rule(out, rule)
    return out


def diagnostics(data, rows, target_probs: np.ndarray) -> dict[str, Any]:
    """How far the held-out logs support the candidate: the importance weights' effective
    sample size, maximum and non-zero share, and the candidate's probability on arms
    without support (the logging policy's zero-probability arms when the logs carry its
    distribution, else arms absent from the logs; ineligible arms always), with those
    arms listed."""
    w = np.asarray(ope.importance_weights(rows), np.float64)
    diag = {"ess": float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0,
            "max_weight": float(w.max()), "nonzero_fraction": float(np.mean(w > 0)),
            "n_rows": int(w.shape[0])}
    diag["ess_fraction"] = diag["ess"] / diag["n_rows"]
    tp = np.asarray(target_probs, np.float64)
    if data.action_dist is not None:
        unsupported = np.asarray(data.action_dist) <= 0
        diag["support_basis"] = "logging distribution"
    else:
        seen = np.bincount(data.action, minlength=data.n_arms) > 0
        unsupported = np.broadcast_to(~seen, tp.shape)
        diag["support_basis"] = "arms present in the held-out logs"
    if data.mask is not None:
        unsupported = unsupported | ~np.asarray(data.mask)
    mass = np.mean(tp * unsupported, axis=0)  # (K,) candidate mass per unsupported arm
    diag["support_violation"] = float(mass.sum())
    diag["unsupported_arms"] = [int(a) for a in np.flatnonzero(mass > 0)]
    return diag


def apply_rule(result: Mapping[str, Any], rule: GateRule) -> tuple[str, list[dict[str, Any]]]:
    est = result["estimates"][rule.decide_on]
    diag = result["diagnostics"]
    lift_lo = est.get("lift_pct", {}).get("lower", -math.inf)
    checks = [
        {"check": f"{rule.decide_on} lift lower bound > {rule.min_lift_lower_pct:g}%",
         "value": lift_lo, "ok": bool(lift_lo > rule.min_lift_lower_pct)},
        {"check": f"effective sample size >= {rule.min_ess:g}", "value": diag["ess"],
         "ok": bool(diag["ess"] >= rule.min_ess)},
        {"check": f"support violation <= {rule.max_support_violation:g}",
         "value": diag["support_violation"],
         "ok": bool(diag["support_violation"] <= rule.max_support_violation)},
    ]
    if rule.max_p_value is not None:
        checks.append({"check": f"paired p-value < {rule.max_p_value:g}",
                       "value": est["p_value"], "ok": bool(est["p_value"] < rule.max_p_value)})
    return ("ship" if all(c["ok"] for c in checks) else "do not ship"), checks


def reward_model_predictions(data, cfg: Mapping[str, Any] | None, key) -> np.ndarray:
    """Out-of-fold q̂(x, a) on ``data``'s rows; ``cfg`` is a ``reward_model`` config
    (``conf/reward_model/``, see :func:`estimators.reward_models.from_config`)."""
    model, n_folds = reward_models.from_config(cfg, data.n_arms)
    fit = jax.jit(lambda k, x, a, r: reward_models.cross_fit(model, k, x, a, r, n_folds))
    q = fit(key, jnp.asarray(data.context, jnp.float32), jnp.asarray(data.action),
            jnp.asarray(data.reward, jnp.float32))
    return np.asarray(q)


# ------------------------------------------------------------------------- report


def _fmt(v: float, pct: bool = False) -> str:
    return f"{v:+.2f}%" if pct else f"{v:.5f}"


def _unsupported_note(diag: Mapping[str, Any]) -> str:
    arms = diag.get("unsupported_arms") or []
    return f"; mass on arms without support: {id_runs(arms)}" if arms else ""


def format_table(report: Mapping[str, Any]) -> str:
    lines = [f"rule: {report['rule_text']}"]
    lv = report["logging"]
    lines.append(f"logging policy (held-out mean reward): {lv['value']:.5f} "
                 f"[{lv['lower']:.5f}, {lv['upper']:.5f}]  on {report['data']['test_rows']} "
                 "held-out rows")
    head = (f"{'candidate':<22} {'estimator':<9} {'estimate':>9} {'95% interval':>21} "
            f"{'lift':>9} {'lift interval':>21} {'p':>7}")
    lines += [head, "-" * len(head)]
    for c in report["candidates"]:
        for name, e in c["estimates"].items():
            lift = e.get("lift_pct")
            lift_s = _fmt(lift["value"], True) if lift else "n/a"
            lift_iv = f"[{lift['lower']:+.2f}%, {lift['upper']:+.2f}%]" if lift else ""
            lines.append(f"{c['name'][:22]:<22} {name:<9} {e['value']:>9.5f} "
                         f"[{e['lower']:.5f}, {e['upper']:.5f}] {lift_s:>9} {lift_iv:>21} "
                         f"{e['p_value']:>7.3f}")
        d = c["diagnostics"]
        lines.append(f"  ESS {d['ess']:.0f} ({d['ess_fraction']:.1%}), max weight "
                     f"{d['max_weight']:.1f}, non-zero weights {d['nonzero_fraction']:.1%}, "
                     f"support violation {d['support_violation']:.4f} "
                     f"({d['support_basis']}){_unsupported_note(d)}")
        lines.append(f"  -> {c['decision'].upper()}: " + "; ".join(
            f"{ch['check']} ({ch['value']:.4g}: {'ok' if ch['ok'] else 'FAIL'})"
            for ch in c["checks"]))
    return "\n".join(lines)


def format_markdown(report: Mapping[str, Any]) -> str:
    d = report["data"]
    lv = report["logging"]
    md = [f"# Deployment gate: {d['source']}", "",
          f"- held-out rows: {d['test_rows']:,} (latest {d['test_fraction']:.0%} by time); "
          f"training rows: {d['train_rows']:,}",
          f"- arms: {d['n_arms']}, features: {d['dim']}",
          *[f"- {line}" for line in describe_load(d.get("load"))],
          f"- logging policy's held-out mean reward: {lv['value']:.5f} "
          f"[{lv['lower']:.5f}, {lv['upper']:.5f}]",
          "- estimators: " + "; ".join(est_registry.describe(n, h)
                                        for n, h in report["estimators"].items()),
          "- reward model: " + ", ".join(f"{k}={v}" for k, v in report["reward_model"].items()),
          f"- {report['n_boot']} {report['bootstrap']} bootstrap resamples, seed "
          f"{report['seed']}",
          f"- rule: {report['rule_text']}", ""]
    for c in report["candidates"]:
        md += [f"## {c['name']}: **{c['decision']}**", "",
               f"source: {c['source']}; version `{c.get('version', '')}`; training data hash "
               f"`{c.get('data_hash', '')[:16]}`", "",
               "| estimator | estimate | 95% interval | lift | lift interval | p-value |",
               "|---|---:|---:|---:|---:|---:|"]
        for name, e in c["estimates"].items():
            lift = e.get("lift_pct")
            md.append(f"| {name} | {e['value']:.5f} | [{e['lower']:.5f}, {e['upper']:.5f}] | "
                      + (f"{lift['value']:+.2f}% | [{lift['lower']:+.2f}%, "
                         f"{lift['upper']:+.2f}%]" if lift else "n/a | ")
                      + f" | {e['p_value']:.3f} |")
        dg = c["diagnostics"]
        md += ["", f"Diagnostics: effective sample size {dg['ess']:.0f} "
                   f"({dg['ess_fraction']:.1%} of rows), max weight {dg['max_weight']:.1f}, "
                   f"non-zero weights {dg['nonzero_fraction']:.1%}, support violation "
                   f"{dg['support_violation']:.4f} ({dg['support_basis']}).", "",
               "| check | value | result |", "|---|---:|---|"]
        md += [f"| {ch['check']} | {ch['value']:.4g} | {'ok' if ch['ok'] else 'FAIL'} |"
               for ch in c["checks"]]
        md.append("")
    return "\n".join(md)


def plot_report(report: Mapping[str, Any], path: str) -> None:
    plt = pyplot()

    cands = report["candidates"]
    names = list(cands[0]["estimates"]) if cands else []
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cands) * max(1, len(names)) / 2), 4.5))
    lv = report["logging"]
    ax.axhspan(lv["lower"], lv["upper"], color="0.85", label="logging policy (95%)")
    ax.axhline(lv["value"], color="0.4", lw=1)
    width = 0.8 / max(1, len(names))
    for i, c in enumerate(cands):
        for j, name in enumerate(names):
            e = c["estimates"][name]
            x = i + (j - (len(names) - 1) / 2) * width
            ax.errorbar([x], [e["value"]], yerr=[[e["value"] - e["lower"]],
                                                 [e["upper"] - e["value"]]],
                        fmt="o", color=f"C{j}", capsize=3, label=name if i == 0 else None)
    ax.set_xticks(range(len(cands)), [f"{c['name']}\n{c['decision']}" for c in cands])
    ax.set(ylabel="estimated value (mean reward)",
           title="candidates vs the logging policy on held-out logs (95% intervals)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def write_report(report: Mapping[str, Any], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=_json_default)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(format_markdown(report))
    plot_report(report, os.path.join(out_dir, "report.png"))


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, GateRule):
        return asdict(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


# ------------------------------------------------------------------------- driver


def time_split(timestamp, n_rows: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and the held-out split: the latest ``test_fraction`` of
    rows by time are held out (ties keep file order)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"split.test_fraction must be in (0, 1), got {test_fraction!r}")
    order = np.arange(n_rows) if timestamp is None else np.argsort(timestamp, kind="stable")
    n_test = int(round(n_rows * test_fraction))
    if n_test < 2 or n_rows - n_test < 1:
        raise ValueError(f"split.test_fraction={test_fraction} leaves {n_rows - n_test} "
                         f"training and {n_test} held-out rows out of {n_rows}")
    return np.sort(order[:n_rows - n_test]), np.sort(order[n_rows - n_test:])


def load_candidate(spec: Mapping[str, Any], train, n_arms: int, dim: int, out_dir=None):
    """A :class:`bandits.checkpoints.Checkpoint` from ``{"checkpoint": path}`` (checked against
    the data's sizes) or ``{"algorithm": name, "params": {...}}`` (trained on ``train``
    and saved as ``<out_dir>/<name>.npz``)."""
    from bandits.checkpoints import load_checkpoint, save_checkpoint
    from bandits.train import train_checkpoint

    if spec.get("checkpoint"):
        return load_checkpoint(spec["checkpoint"], n_arms=n_arms, dim=dim), \
            f"checkpoint {spec['checkpoint']}"
    ck = train_checkpoint(spec["algorithm"], spec.get("params") or {}, train.context,
                          train.action, train.reward, n_arms=n_arms,
                          version=spec.get("version"))
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        save_checkpoint(os.path.join(out_dir, f"{spec['name']}.npz"), ck)
    return ck, f"trained on {train.n_rows:,} rows"


@contextlib.contextmanager
def _stage(what: str, show: bool):
    """Prints ``what`` and, when it is done, how long it took."""
    t0 = time.perf_counter()
    if show:
        print(f"{what} ...", end="", flush=True)
    yield
    if show:
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)


def _candidate_result(spec, i, train, test, q_hat, root, out_dir, evaluate) -> dict:
    """Trains or loads one candidate, computes its action probabilities on the held-out
    rows and evaluates it (``evaluate(probs)``)."""
    ck, origin = load_candidate(spec, train, train.n_arms, train.dim, out_dir)
    probs = decision_probs(ck.policy(), ck.params, ck.state, test.context, test.mask,
                           jax.random.fold_in(jax.random.fold_in(root, 3), i))
    return {"name": spec["name"], "algorithm": ck.algorithm,
            "hyperparameters": ck.hyperparameters, "source": origin,
            "version": ck.version, "data_hash": ck.data_hash, **evaluate(probs)}


def run_gate(data, timestamp, candidates: Sequence[Mapping[str, Any]], *,
             source: str = "logs", test_fraction: float = 0.3,
             estimators: Sequence[str] | Mapping[str, Any] = DEFAULT_ESTIMATORS,
             n_boot: int = 1000, alpha: float = 0.05,
             reward_model: Mapping[str, Any] | None = None, rule: GateRule = GateRule(),
             seed: int = 0, out_dir: str | None = None, scheme: str = "multinomial",
             load: Mapping[str, Any] | None = None, progress: bool = False,
             checkpoint_dir: str | None = None) -> dict[str, Any]:
    """The whole gate on one log: split by time, train or load each candidate, evaluate
    them on the held-out rows, apply the rule, and (with ``out_dir``) write the report.

    ``estimators``: names at their defaults or ``name -> hyperparameters``; ``load``: what
    the reader found (rows read, kept, rejected, arms and how they were counted), kept in
    the report; ``progress``: print each stage with its time; ``checkpoint_dir``: where
    trained candidates are saved as ``<name>.npz`` (default: ``out_dir``).
    """
    names = [c["name"] for c in candidates]
    if not candidates or len(set(names)) != len(names):
        raise ConfigError(f"candidates need distinct names, got {names}")
    hypers = est_registry.from_config(estimators)
    train_idx, test_idx = time_split(timestamp, data.n_rows, test_fraction)
    train, test = data.take(train_idx), data.take(test_idx)
    root = jax.random.key(seed)
    q_hat = None
    if any(est_registry.spec(n).needs_model for n in hypers):
        with _stage(f"reward model on {test.n_rows:,} held-out rows", progress):
            q_hat = reward_model_predictions(test, reward_model, jax.random.fold_in(root, 1))
    evaluate = functools.partial(evaluate_candidate, test, key=jax.random.fold_in(root, 2),
                                 estimators=hypers, n_boot=n_boot, alpha=alpha, rule=rule,
                                 scheme=scheme)  # the same resamples for every candidate
    results = []
    for i, spec in enumerate(candidates):
        with _stage(f"candidate {spec['name']}: train or load, {n_boot} bootstrap "
                    "resamples", progress):
            results.append(_candidate_result(spec, i, train, test, q_hat, root,
                                             checkpoint_dir or out_dir,
                                             lambda p: evaluate(p, q_hat)))
    report = {
        "data": {"source": source, "n_rows": data.n_rows, "train_rows": train.n_rows,
                 "test_rows": test.n_rows, "test_fraction": test_fraction,
                 "n_arms": data.n_arms, "dim": data.dim, **({"load": dict(load)} if load
                                                            else {})},
        "logging": results[0]["logging_value"],
        "rule": asdict(rule), "rule_text": describe_rule(rule, alpha), "estimators": hypers,
        "reward_model": dict(reward_model or {"name": "ridge"}), "n_boot": n_boot,
        "alpha": alpha, "bootstrap": scheme, "seed": seed, "candidates": results,
    }
    if out_dir:
        write_report(report, out_dir)
    return report


def describe_rule(rule: GateRule, alpha: float = 0.05) -> str:
    """The rule in words, as the report states it."""
    words = [f"ship when the {rule.decide_on} estimate's lift over the logging policy has "
             f"a {1 - alpha:.0%} interval whose lower bound is above "
             f"{rule.min_lift_lower_pct:g}%",
             f"the effective sample size is at least {rule.min_ess:g}",
             f"at most {rule.max_support_violation:g} of the candidate's probability falls "
             "on arms without support"]
    if rule.max_p_value is not None:
        words.append(f"the paired p-value is below {rule.max_p_value:g}")
    return ", ".join(words[:-1]) + " and " + words[-1]


# ------------------------------------------------------------------------- from config

CONFIG_KEYS = ("data", "candidate", "candidate_params", "checkpoint_dir", "load", "rewards",
               "obd", "split", "estimator", "evaluation", "reward_model", "gate", "logger")
EVALUATION_KEYS = ("n_boot", "alpha", "bootstrap", "seed")


def parse_candidates(candidate, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``candidate``: an algorithm name, a checkpoint path, or a list of them."""
    import bandits

    items = candidate if isinstance(candidate, (list, tuple)) else [candidate]
    params = dict(params or {})
    for algo in params:
        if algo not in bandits.names():
            raise ValueError(f"candidate_params.{algo}: unknown algorithm; allowed: "
                             f"{', '.join(bandits.names())}")
    out = []
    for item in items:
        item = str(item)
        if item.endswith(".npz") or os.path.sep in item:
            if not os.path.exists(item):
                raise ValueError(f"candidate checkpoint {item!r} does not exist")
            out.append({"name": os.path.splitext(os.path.basename(item))[0],
                        "checkpoint": item})
        elif item in bandits.names():
            hyper = dict(params.get(item) or {})
            bandits.validate(item, hyper, where=f"candidate_params.{item}")
            out.append({"name": item, "algorithm": item, "params": hyper})
        else:
            raise ValueError(f"candidate {item!r} is neither a checkpoint (.npz) nor an "
                             f"algorithm; algorithms: {', '.join(bandits.names())}")
    return out


def _evaluation(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The checked ``evaluation`` settings (n_boot, alpha, bootstrap scheme, seed)."""
    from common.validation import Range

    ev = dict(cfg.get("evaluation") or {})
    if "estimators" in ev:
        raise ConfigError("evaluation.estimators is now the estimator config group: "
                          f"estimator=[{','.join(map(str, ev['estimators']))}] (each at the "
                          "values of conf/estimator/<name>.yaml; estimator.dros.lambda_=10 "
                          "changes one)")
    for key in ev:
        if key not in EVALUATION_KEYS:
            raise ConfigError(f"evaluation has no key {key!r}; allowed: "
                              f"{', '.join(EVALUATION_KEYS)}")
    out = {"n_boot": ev.get("n_boot", 1000), "alpha": ev.get("alpha", 0.05),
           "scheme": ev.get("bootstrap", "multinomial"), "seed": ev.get("seed", 0)}
    if out["scheme"] not in ("multinomial", "poisson"):
        raise ConfigError(f"evaluation.bootstrap must be multinomial or poisson, got "
                          f"{out['scheme']!r}")
    Range(10, 10**6, integer=True).check("evaluation.n_boot", out["n_boot"])
    Range(0.0, 1.0, low_open=True, high_open=True).check("evaluation.alpha", out["alpha"])
    Range(0, 2**31 - 1, integer=True).check("evaluation.seed", out["seed"])
    return out


def run_from_config(cfg: Mapping[str, Any], out_dir: str | None = None,
                    echo: bool = True) -> dict[str, Any]:
    """The gate of ``conf/evaluate.yaml``: every setting is checked before the log is read.

    Estimators come from the ``estimator`` group (the values of ``conf/estimator/*.yaml``,
    as in estimator studies), the reward model from the ``reward_model`` group.
    """
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ConfigError(f"unknown config key {key!r}; allowed: {', '.join(CONFIG_KEYS)}")
    ev = _evaluation(cfg)
    hypers = est_registry.from_config(cfg.get("estimator") or list(DEFAULT_ESTIMATORS))
    reward_models.from_config(cfg.get("reward_model"), 2)
    rule = GateRule.from_config(cfg.get("gate"))
    candidates = parse_candidates(cfg.get("candidate"), cfg.get("candidate_params"))
    data, timestamp, source, load = load_logs(cfg)
    if echo:
        print("\n".join(describe_load(load)))
    report = run_gate(data, timestamp, candidates, source=source, load=load,
                      test_fraction=(cfg.get("split") or {}).get("test_fraction", 0.3),
                      estimators=hypers, n_boot=ev["n_boot"], alpha=ev["alpha"],
                      reward_model=cfg.get("reward_model"), rule=rule, seed=ev["seed"],
                      out_dir=out_dir, scheme=ev["scheme"], progress=echo,
                      checkpoint_dir=cfg.get("checkpoint_dir"))
    if echo:
        print(format_table(report))
    return report
