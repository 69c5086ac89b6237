"""The Hydra scripts' common entry.

:func:`cli_setup` runs before Hydra composes (an experiment of another script stops with
the right command; ``--help`` lists a script's own config groups); :func:`hydra_entry`
runs the study (errors as ``config error:`` / ``data error:``, experiment tracking, where
the outputs went).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from typing import Any, NoReturn

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")
SCRIPTS = {"simulate": "a regret study", "ope": "an estimator study",
           "evaluate": "a deployment-gate run"}


def fail(err: ValueError) -> NoReturn:
    """Prints ``data error: ...`` for a :class:`DataError`, ``config error: ...`` for any
    other ``ValueError``, and exits with status 2."""
    import sys

    from common.errors import DataError

    kind = "data error" if isinstance(err, DataError) else "config error"
    print(f"{kind}: {err}", file=sys.stderr)
    sys.exit(2)


def experiment_script(name: str) -> str | None:
    """The script an experiment belongs to (its ``script:`` key), ``None`` if it declares
    none; raises ``ConfigError`` when there is no such experiment."""
    from omegaconf import OmegaConf

    from common.errors import ConfigError

    path = os.path.join(CONF_DIR, "experiment", f"{name}.yaml")
    if not os.path.isfile(path):
        raise ConfigError(f"no experiment named {name!r} in conf/experiment/")
    return OmegaConf.load(path).get("script")


def experiments(script: str) -> list[str]:
    """The experiments of ``script``, sorted by name."""
    names = sorted(os.path.splitext(f)[0]
                   for f in os.listdir(os.path.join(CONF_DIR, "experiment"))
                   if f.endswith(".yaml"))
    return [n for n in names if experiment_script(n) == script]


def check_experiment(script: str, name: str) -> None:
    """Raises ``ConfigError`` naming the right script when ``experiment=name`` belongs to
    another one, or listing ``script``'s experiments when there is no such experiment."""
    from common.errors import ConfigError

    own = ", ".join(experiments(script)) or "(none)"
    try:
        owner = experiment_script(name)
    except ConfigError:
        raise ConfigError(f"experiment={name}: no such experiment; scripts/{script}.py "
                          f"runs: {own}") from None
    if owner is not None and owner != script:
        raise ConfigError(f"experiment={name} is {SCRIPTS.get(owner, owner)}: run "
                          f"python scripts/{owner}.py experiment={name}")


def _experiment_args(argv: list[str]) -> list[str]:
    """Experiment names chosen on a Hydra command line (``experiment=a``, ``+experiment=a``,
    ``experiment=a,b``, ``experiment=choice(a,b)``)."""
    names = []
    for arg in argv:
        key, sep, value = arg.lstrip("+").partition("=")
        if not sep or key != "experiment":
            continue
        inner = re.fullmatch(r"choice\((.*)\)", value)
        for v in (inner.group(1) if inner else value).split(","):
            v = v.strip(" []'\"")
            if re.fullmatch(r"\w+", v):
                names.append(v)
    return names


def cli_setup(script: str, argv: list[str] | None = None) -> None:
    """What a Hydra script does before Hydra composes its config: registers the help
    resolver and stops (``config error:``, status 2) on an experiment of another script.
    """
    import sys

    register_help_resolver()
    try:
        for name in _experiment_args(sys.argv[1:] if argv is None else argv):
            check_experiment(script, name)
    except ValueError as err:
        fail(err)


def script_groups(script: str) -> dict[str, list[str]]:
    """The config groups in ``conf/<script>.yaml``'s defaults list, each with the
    packages it is chosen at (``{"policy": ["logging_policy", "target_policy"]}``; an
    empty list for the group's own package). Hydra's own groups are left out."""
    from omegaconf import OmegaConf

    groups: dict[str, list[str]] = {}
    for entry in OmegaConf.load(os.path.join(CONF_DIR, f"{script}.yaml")).get("defaults", []):
        key = next(iter(entry)) if not isinstance(entry, str) else entry
        if key == "_self_" or key.startswith(("override ", "hydra/")):
            continue
        group, _, package = key.partition("@")
        groups.setdefault(group, [])
        if package:
            groups[group].append(package)
    return groups


def _help_options(script: str) -> str:
    lines = []
    for group, packages in script_groups(script).items():
        if group == "experiment":
            options = experiments(script)
        else:
            options = sorted(os.path.splitext(f)[0]
                             for f in os.listdir(os.path.join(CONF_DIR, group))
                             if f.endswith(".yaml"))
        line = f"  {group + ':':<14} {', '.join(options)}"
        if packages:
            line += "\n" + " " * 17 + "(chosen as " + ", ".join(
                f"{group}@{p}=OPTION" for p in packages) + ")"
        lines.append(line)
    return "\n".join(lines)


def register_help_resolver() -> None:
    """``${bandax_options:SCRIPT}``: for a script's ``--help``, the options of every config
    group its defaults list uses (experiments: those of SCRIPT), read from ``conf/``."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("bandax_options"):
        OmegaConf.register_new_resolver("bandax_options", _help_options)


def list_outputs(out_dir: str) -> str:
    """``wrote DIR/: a, b, c`` for the files a run left in ``out_dir`` (its config under
    ``.hydra/`` and a W&B run under ``wandb/`` named apart)."""
    names = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
    files = [n for n in names if os.path.isfile(os.path.join(out_dir, n))]
    line = f"wrote {os.path.join(out_dir, '')}: {', '.join(files) or '(no files)'}"
    if ".hydra" in names:
        line += "; config in .hydra/"
    runs = sorted(glob.glob(os.path.join(out_dir, "wandb", "*run-*")))
    if runs:
        rel = os.path.relpath(runs[-1], out_dir)
        line += f"; W&B run in {rel}/"
        if os.path.basename(runs[-1]).startswith("offline-"):
            line += f" (upload: wandb sync {runs[-1]})"
    return line


def run_entry(cfg: dict, run: Callable[..., Any], out_dir: str, script: str) -> Any:
    """Runs ``run(cfg, out_dir=out_dir)`` as the command line does, without Hydra.

    ``cfg`` is the plain composed config; its ``script`` key (set by an experiment) is
    checked against ``script`` and removed. The run goes through
    :func:`common.tracking.tracked` (a W&B run when ``cfg["logger"]`` asks for one; the
    logger is validated, and credentials checked, before ``run`` is called). A
    ``ValueError`` exits with status 2 (:func:`fail`); on success the output directory
    and its files are printed. Returns what ``run`` returned.
    """
    from common import tracking

    owner = cfg.pop("script", None)
    try:
        if owner is not None and owner != script:
            raise ValueError(f"this config is {SCRIPTS.get(owner, owner)}: run "
                             f"python scripts/{owner}.py")
        result = tracking.tracked(run, cfg, out_dir, job_type=script)
    except ValueError as err:
        fail(err)
    print(list_outputs(out_dir))
    return result


def hydra_entry(cfg, run: Callable[..., Any]) -> Any:
    """Body of a Hydra entry point: plain config in, outputs in the run directory.

    ``run(cfg: dict, out_dir: str) -> dict`` receives the whole resolved config, its
    ``logger`` key included, and returns its result: a regret study's
    ``{"summary", "rollouts"}``, an estimator study's ``{"summary": {...}, ...}`` or a
    gate report with ``"candidates"`` (what :mod:`common.tracking` logs to W&B when
    ``logger=wandb``). See :func:`run_entry` for errors and what is printed.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hc = HydraConfig.get()
    plain = OmegaConf.to_container(cfg, resolve=True)
    return run_entry(plain, run, hc.runtime.output_dir, hc.job.config_name)
