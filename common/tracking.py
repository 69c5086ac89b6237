"""Experiment tracking: the ``logger`` config, a W&B run around a study, what it records.

Every entry point runs its study through :func:`tracked`::

    result = tracked(run_study, cfg, out_dir, job_type="simulate")

which validates ``cfg["logger"]`` (:func:`validate`), starts the run before the study
(:func:`start`: an online run without credentials stops here, before anything is
computed), runs the study, logs its result (:func:`log_result`) and every PNG in
``out_dir``, and finishes the run. ``logger.name: none`` or ``logger.mode: disabled``
turn all of it into plain calls of the study.

What is logged depends on what the study returned:

* a regret study (``{"summary", "rollouts"}``, :func:`envs.regret.study.run_study`): the summary
  table, every algorithm's mean regret against one shared ``round`` axis, final regret
  per algorithm in ``run.summary``;
* an estimator study (``{"summary": {"results": [{"estimator", ...}]}}``,
  :func:`estimators.study.run_study`): the summary table, RMSE / bias / coverage per
  estimator in ``run.summary``, or against the swept value for an in-process sweep;
* a deployment-gate report (``{"candidates": [...]}``,
  :func:`estimators.gate.run_from_config`): tables of estimates and decisions, each
  candidate's decision and lift in ``run.summary``.
"""

from __future__ import annotations

import glob
import math
import netrc
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from common.errors import ConfigError

NAMES = ("none", "wandb")
MODES = ("offline", "online", "disabled")
KEYS = ("name", "mode", "project", "entity", "group", "tags")
DEFAULTS = {"name": "none", "mode": "offline", "project": "bandax", "entity": None,
            "group": None, "tags": []}
DEFAULT_HOST = "https://api.wandb.ai"
CREDENTIALS_FIX = ("run `wandb login` or set WANDB_API_KEY, or use logger.mode=offline "
                   "(upload later with `wandb sync`)")


# ------------------------------------------------------------------------ config


def validate(logger: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``logger`` config with its defaults filled in; raises ``ConfigError``.

    Keys: ``name`` (none | wandb), ``mode`` (offline | online | disabled), ``project``
    (text), ``entity`` and ``group`` (text or null), ``tags`` (a list of text).
    """
    logger = dict(logger or {})
    for key in logger:
        if key not in KEYS:
            raise ConfigError(f"logger has no key {key!r}; allowed: {', '.join(KEYS)}")
    out = {**DEFAULTS, **{k: v for k, v in logger.items() if v is not None}}
    if out["name"] not in NAMES:
        raise ConfigError(f"logger.name must be one of {', '.join(NAMES)}, got "
                          f"{out['name']!r}")
    if out["mode"] not in MODES:
        raise ConfigError(f"logger.mode must be one of {', '.join(MODES)}, got "
                          f"{out['mode']!r}")
    if not isinstance(out["project"], str) or not out["project"]:
        raise ConfigError(f"logger.project must be a non-empty name, got {out['project']!r}")
    for key in ("entity", "group"):
        if out[key] is not None and not isinstance(out[key], str):
            raise ConfigError(f"logger.{key} must be text or null, got {out[key]!r}")
    tags = out["tags"]
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"logger.tags must be a list of text, got {tags!r}")
    out["tags"] = list(tags)
    return out


def enabled(logger: Mapping[str, Any]) -> bool:
    """Whether a validated ``logger`` config asks for a W&B run."""
    return logger["name"] == "wandb" and logger["mode"] != "disabled"


def has_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """Whether W&B could authenticate without asking: ``WANDB_API_KEY``,
    ``WANDB_IDENTITY_TOKEN_FILE``, or a netrc entry for the W&B host (``WANDB_BASE_URL``,
    default api.wandb.ai; the netrc file is ``NETRC`` or ``~/.netrc``). Reads files only;
    nothing touches the network."""
    environ = os.environ if environ is None else environ
    if environ.get("WANDB_API_KEY") or environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(environ.get("WANDB_BASE_URL") or DEFAULT_HOST).netloc
    path = environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def check_credentials(logger: Mapping[str, Any]) -> None:
    """Raises ``ConfigError`` naming the fix when an online run has no credentials."""
    if enabled(logger) and logger["mode"] == "online" and not has_credentials():
        raise ConfigError(f"logger.mode=online but no W&B credentials were found "
                          f"(no WANDB_API_KEY and no netrc entry for "
                          f"{urlsplit(os.environ.get('WANDB_BASE_URL') or DEFAULT_HOST).netloc}"
                          f"): {CREDENTIALS_FIX}")


# ------------------------------------------------------------------------ run


def start(logger: Mapping[str, Any] | None, config: Mapping[str, Any],
          out_dir: str | None, job_type: str | None = None):
    """Validates ``logger``, checks credentials and starts a W&B run; ``None`` when
    tracking is off. Called before the study, so a bad logger config costs nothing.

    The run is written under ``<out_dir>/wandb/`` (offline: ``offline-run-*``, uploaded
    later with ``wandb sync``) and records ``config`` as its configuration.
    """
    logger = validate(logger)
    if not enabled(logger):
        return None
    check_credentials(logger)
    import wandb

    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    return wandb.init(project=logger["project"], entity=logger["entity"],
                      group=logger["group"], tags=logger["tags"], mode=logger["mode"],
                      job_type=job_type, dir=out_dir or ".", config=dict(config),
                      reinit="finish_previous")


def finish(run, exit_code: int = 0) -> None:
    """Ends ``run`` (no-op for ``None``); a non-zero ``exit_code`` marks it failed."""
    if run is not None:
        run.finish(exit_code=exit_code)


def tracked(run_fn: Callable[..., Any], cfg: Mapping[str, Any], out_dir: str | None,
            job_type: str | None = None, **kwargs) -> Any:
    """``run_fn(cfg, out_dir=out_dir, **kwargs)`` inside a W&B run when ``cfg["logger"]``
    asks for one; the result and every PNG in ``out_dir`` are logged. Returns the result.
    """
    run = start(cfg.get("logger"), cfg, out_dir, job_type)
    try:
        result = run_fn(cfg, out_dir=out_dir, **kwargs)
        if run is not None:
            log_result(run, result)
            log_images(run, out_dir)
    except BaseException:
        finish(run, exit_code=1)
        raise
    finish(run)
    return result


# ------------------------------------------------------------------------ what is logged


def log_result(run, result: Mapping[str, Any]) -> None:
    """Logs a study's result by its kind (see the module docstring); other results are
    left to :func:`log_images` alone."""
    if not isinstance(result, Mapping):
        return
    if "rollouts" in result:
        log_regret_study(run, result["summary"], result["rollouts"])
    elif "candidates" in result:
        log_gate_report(run, result)
    elif isinstance(result.get("summary"), Mapping) and "results" in result["summary"]:
        log_estimator_study(run, result["summary"])


def log_images(run, out_dir: str | None) -> list[str]:
    """Logs every PNG directly in ``out_dir`` as a ``wandb.Image`` keyed by its file name
    (``regret.png`` -> ``figures/regret``). Returns the paths logged."""
    if not out_dir:
        return []
    import wandb

    paths = sorted(glob.glob(os.path.join(out_dir, "*.png")))
    if paths:
        run.log({f"figures/{os.path.splitext(os.path.basename(p))[0]}": wandb.Image(p)
                 for p in paths})
    return paths


def table(rows: list[Mapping[str, Any]], columns: list[str]):
    """A ``wandb.Table`` of ``rows`` restricted to ``columns``; non-finite numbers become
    null, so every column keeps one type."""
    import wandb

    return wandb.Table(columns=list(columns),
                       data=[[_cell(r.get(c)) for c in columns] for r in rows])


def _cell(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, (str, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f if math.isfinite(f) else None


REGRET_COLUMNS = ["algorithm", "final_regret_mean", "final_regret_std", "final_regret_p2.5",
                  "final_regret_p97.5", "loglog_slope_last_decade", "mean_reward_per_round",
                  "runtime_s", "agent_rounds_per_s", "n_seeds", "n_rounds"]


def regret_rows(rollouts, names: list[str]) -> list[dict[str, float]]:
    """One row per checkpoint round: ``{"round": t, "regret/<algorithm>": mean, ...}``
    with every algorithm (and grid point) that kept round ``t``.

    Args:
        rollouts: the study's rollouts; each has ``mean_regret`` (G, T) and
            ``checkpoints`` (C,).
        names: one name per grid point, rollout after rollout (the order of the
            summary's result rows).
    """
    by_round: dict[int, dict[str, float]] = {}
    names_left = iter(names)
    for r in rollouts:
        for g in range(r.mean_regret.shape[0]):
            key = f"regret/{next(names_left)}"
            for t in r.checkpoints:
                by_round.setdefault(int(t), {})[key] = float(r.mean_regret[g, int(t) - 1])
    return [{"round": t, **by_round[t]} for t in sorted(by_round)]


def log_regret_study(run, summary: Mapping[str, Any], rollouts) -> None:
    """Summary table, mean regret of every algorithm on one ``round`` axis (one logged row
    per checkpoint round), final regret and slope per algorithm in ``run.summary``."""
    rows = summary["results"]
    run.log({"summary": table(rows, [c for c in REGRET_COLUMNS if c in rows[0]])})
    run.define_metric("round")
    run.define_metric("regret/*", step_metric="round")
    for row in regret_rows(rollouts, [r["algorithm"] for r in rows]):
        run.log(row)
    for r in rows:
        run.summary[f"final_regret/{r['algorithm']}"] = _cell(r["final_regret_mean"])
        run.summary[f"slope/{r['algorithm']}"] = _cell(r["loglog_slope_last_decade"])
    run.summary.update({"env": summary["env"], "n_seeds": summary["n_seeds"],
                        "n_rounds": summary["n_rounds"],
                        "best": min(rows, key=lambda r: r["final_regret_mean"])["algorithm"]})


ESTIMATOR_COLUMNS = ["estimator", "sweep_value", "truth", "bias", "bias_se", "std", "rmse",
                     "rmse_se", "relative_error", "coverage", "coverage_se", "ci_width"]
ESTIMATOR_SCALARS = ("rmse", "bias", "coverage", "ci_width")


def log_estimator_study(run, summary: Mapping[str, Any]) -> None:
    """Summary table; per estimator RMSE, bias, coverage and CI width in ``run.summary``,
    or, for an in-process sweep, against the swept value (one logged row per value)."""
    rows = [dict(r) for r in summary["results"]]
    for r in rows:
        if "sweep_value" in r:
            r["sweep_value"] = f"{float(r['sweep_value']):g}"
    run.log({"summary": table(rows, [c for c in ESTIMATOR_COLUMNS if c in rows[0]])})
    run.summary.update({k: _cell(summary[k]) for k in (
        "truth", "truth_std_error", "ess_fraction", "max_weight", "n_datasets", "n_rows",
        "wall_s") if k in summary})
    sweep = summary.get("sweep")
    if not sweep:
        for r in rows:
            for k in ESTIMATOR_SCALARS:
                run.summary[f"{k}/{r['estimator']}"] = _cell(r[k])
        return
    run.summary["sweep_path"] = sweep["path"]
    run.define_metric("sweep_value")
    for k in ESTIMATOR_SCALARS:
        run.define_metric(f"{k}/*", step_metric="sweep_value")
    for point in summary["points"]:
        if math.isfinite(point["sweep_value"]):
            run.log({"sweep_value": point["sweep_value"], **{
                f"{k}/{r['estimator']}": _cell(r[k]) for r in point["results"]
                for k in ESTIMATOR_SCALARS}})


GATE_ESTIMATE_COLUMNS = ["candidate", "estimator", "value", "lower", "upper", "lift_pct",
                         "lift_lower", "lift_upper", "p_value"]
GATE_DECISION_COLUMNS = ["candidate", "decision", "ess", "ess_fraction", "max_weight",
                         "nonzero_fraction", "support_violation", "failed_checks"]


def gate_rows(report: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    """The gate report as rows: one per (candidate, estimator), one per candidate."""
    estimates, decisions = [], []
    for c in report["candidates"]:
        for name, e in c["estimates"].items():
            lift = e.get("lift_pct") or {}
            estimates.append({"candidate": c["name"], "estimator": name, "value": e["value"],
                              "lower": e["lower"], "upper": e["upper"],
                              "lift_pct": lift.get("value"), "lift_lower": lift.get("lower"),
                              "lift_upper": lift.get("upper"), "p_value": e["p_value"]})
        failed = [ch["check"] for ch in c["checks"] if not ch["ok"]]
        decisions.append({"candidate": c["name"], "decision": c["decision"],
                          **c["diagnostics"], "failed_checks": "; ".join(failed)})
    return estimates, decisions


def log_gate_report(run, report: Mapping[str, Any]) -> None:
    """Tables of estimates and decisions; per candidate its decision and the deciding
    estimator's lift and interval in ``run.summary``."""
    estimates, decisions = gate_rows(report)
    run.log({"estimates": table(estimates, GATE_ESTIMATE_COLUMNS),
             "decisions": table(decisions, GATE_DECISION_COLUMNS)})
    decide_on = (report.get("rule") or {}).get("decide_on")
    run.summary["logging_value"] = _cell(report["logging"]["value"])
    for c in report["candidates"]:
        run.summary[f"decision/{c['name']}"] = c["decision"]
        lift = (c["estimates"].get(decide_on) or {}).get("lift_pct") or {}
        for k in ("value", "lower", "upper"):
            if k in lift:
                run.summary[f"lift_pct/{c['name']}/{k}"] = _cell(lift[k])
