"""The Hydra scripts' common entry.

Each script is one call, ``hydra_main("simulate", run_study)``: :func:`cli_setup` runs
before Hydra composes (an experiment of another script stops with the right command;
``--help`` lists a script's own config groups), Hydra composes ``conf/<script>.yaml``, and
:func:`hydra_entry` runs the study (a required key left unset, errors as
``config error:`` / ``data error:``, experiment tracking, where the outputs went).

An experiment belongs to the script named by its folder: ``conf/experiment/simulate/``
holds those of ``scripts/simulate.py``, chosen as ``experiment=simulate/NAME``.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from common.errors import ConfigError, DataError

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")
EXPERIMENT_DIR = os.path.join(CONF_DIR, "experiment")
SCRIPTS = {"simulate": "a regret study", "ope": "an estimator study",
           "evaluate": "a deployment-gate run"}


def fail(err: ValueError) -> NoReturn:
    """Prints ``data error: ...`` for a :class:`DataError`, ``config error: ...`` for any
    other ``ValueError``, and exits with status 2."""
    import sys

    kind = "data error" if isinstance(err, DataError) else "config error"
    print(f"{kind}: {err}", file=sys.stderr)
    sys.exit(2)


# ------------------------------------------------------------------------ experiments


def experiments(script: str) -> list[str]:
    """The experiments of ``script`` as Hydra takes them (``simulate/regret_curves``),
    sorted; empty for a script with no ``conf/experiment/<script>/`` folder."""
    folder = os.path.join(EXPERIMENT_DIR, script)
    if not os.path.isdir(folder):
        return []
    return sorted(f"{script}/{os.path.splitext(f)[0]}" for f in os.listdir(folder)
                  if f.endswith(".yaml"))


def experiment_script(option: str) -> str:
    """The script an experiment belongs to: the folder of ``conf/experiment/`` that holds
    it. ``option`` is ``SCRIPT/NAME`` or a bare ``NAME`` (looked up in every folder);
    raises ``ConfigError`` when there is no such experiment."""
    folder, _, name = option.rpartition("/")
    folders = [folder] if folder else sorted(os.listdir(EXPERIMENT_DIR))
    for f in folders:
        if os.path.isfile(os.path.join(EXPERIMENT_DIR, f, f"{name}.yaml")):
            return f
    raise ConfigError(f"no experiment {option!r} in conf/experiment/")


def check_experiment(script: str, option: str) -> None:
    """Raises ``ConfigError`` naming the right command when ``experiment=option`` belongs
    to another script or lacks its folder, or listing ``script``'s experiments when there
    is no such experiment."""
    own = ", ".join(experiments(script)) or "(none)"
    try:
        owner = experiment_script(option)
    except ConfigError:
        raise ConfigError(f"experiment={option}: no such experiment; scripts/{script}.py "
                          f"runs: {own}") from None
    right = f"python scripts/{owner}.py experiment={owner}/{option.rpartition('/')[2]}"
    if owner != script:
        raise ConfigError(f"experiment={option} is {SCRIPTS.get(owner, owner)}: run {right}")
    if "/" not in option:
        raise ConfigError(f"experiment={option}: an experiment is named with its script's "
                          f"folder: run {right}")


def _experiment_args(argv: list[str]) -> list[str]:
    """Experiments chosen on a Hydra command line (``experiment=a``, ``+experiment=a``,
    ``experiment=a,b``, ``experiment=choice(a,b)``), each as written (``simulate/a``)."""
    names = []
    for arg in argv:
        key, sep, value = arg.lstrip("+").partition("=")
        if not sep or key != "experiment":
            continue
        inner = re.fullmatch(r"choice\((.*)\)", value)
        for v in (inner.group(1) if inner else value).split(","):
            v = v.strip(" []'\"")
            if re.fullmatch(r"[\w/]+", v):
                names.append(v)
    return names


# ------------------------------------------------------------------------ before Hydra


def open_overrides(args: list[str], open_keys: tuple[str, ...]) -> list[str]:
    """``KEY.name=value`` overrides of an open mapping ``KEY`` (one whose keys the config
    cannot list, such as a regret study's ``sweep``: one key per hyperparameter of any
    registered policy) written ``++KEY.name=value``, so Hydra adds a key it does not know;
    the study validates the names. Other arguments are returned as they are."""
    pattern = re.compile(rf"({'|'.join(map(re.escape, open_keys))})\.\w+=") if open_keys \
        else None
    return [f"++{a}" if pattern and pattern.match(a) else a for a in args]


def cli_setup(script: str, argv: list[str] | None = None,
              open_keys: tuple[str, ...] = ()) -> None:
    """What a Hydra script does before Hydra composes its config: registers the help
    resolver, stops (``config error:``, status 2) on an experiment of another script, and
    opens the mappings ``open_keys`` on the command line (:func:`open_overrides`).
    """
    import sys

    register_help_resolver()
    try:
        for name in _experiment_args(sys.argv[1:] if argv is None else argv):
            check_experiment(script, name)
    except ValueError as err:
        fail(err)
    if argv is None:
        sys.argv[1:] = open_overrides(sys.argv[1:], open_keys)


def script_groups(script: str) -> dict[str, list[str]]:
    """The config groups in ``conf/<script>.yaml``'s defaults list, each with the
    packages it is chosen at (``{"policy": ["logging_policy", "target_policy"]}``; an
    empty list for the group's own package). Hydra's own groups are left out."""
    from omegaconf import OmegaConf

    groups: dict[str, list[str]] = {}
    for entry in OmegaConf.load(os.path.join(CONF_DIR, f"{script}.yaml")).get("defaults", []):
        key = next(iter(entry)) if not isinstance(entry, str) else entry
        if key in ("_self_", "hydra") or key.startswith(("override ", "hydra/")):
            continue
        group, _, package = key.partition("@")
        groups.setdefault(group, [])
        if package:
            groups[group].append(package)
    return groups


def _help_options(script: str) -> str:
    """The ``== Config groups`` section of ``script``'s ``--help``: one line per group
    with its options (and the packages it is chosen at)."""
    lines = []
    for group, packages in script_groups(script).items():
        if group == "experiment":
            options = experiments(script)
        else:
            options = sorted(os.path.splitext(f)[0]
                             for f in os.listdir(os.path.join(CONF_DIR, group))
                             if f.endswith(".yaml"))
        line = textwrap.fill(f"  {group + ':':<14} {', '.join(options)}", width=92,
                             subsequent_indent=" " * 17, break_on_hyphens=False)
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


# ------------------------------------------------------------------------ running


def check_required(cfg, script: str) -> None:
    """Raises ``ConfigError`` naming every key of the composed ``cfg`` (a ``DictConfig``)
    still at ``???``: a value the script needs and has no default for."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        given = " ".join(f"{k}=VALUE" for k in missing)
        raise ConfigError(f"{', '.join(missing)} {verb} required (no default): python "
                          f"scripts/{script}.py {given} ...; --help describes each key")


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


def run_entry(cfg: Mapping[str, Any], run: Callable[..., Any], out_dir: str, script: str,
              experiment: str | None = None) -> Any:
    """Runs ``run(cfg, out_dir=out_dir)`` as the command line does, without Hydra.

    ``cfg`` is the plain composed config; ``experiment`` the experiment it was composed
    with (``simulate/regret_curves``), checked against ``script`` before anything runs.
    The run goes through :func:`common.tracking.tracked` (a W&B run when
    ``cfg["logger"]`` asks for one; the logger is validated, and credentials checked,
    before ``run`` is called). A ``ValueError`` exits with status 2 (:func:`fail`); on
    success the output directory and its files are printed. Returns what ``run``
    returned.
    """
    from common import tracking

    try:
        if experiment is not None:
            check_experiment(script, experiment)
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
    ``logger=wandb``). A result with an ``objective`` (``study.objective``) returns that
    number instead, for a Hydra sweeper to optimise. A key left at ``???`` stops first
    (:func:`check_required`); see :func:`run_entry` for other errors and what is printed.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hc = HydraConfig.get()
    script = hc.job.config_name
    try:
        check_required(cfg, script)
    except ConfigError as err:
        fail(err)
    plain = OmegaConf.to_container(cfg, resolve=True)
    result = run_entry(plain, run, hc.runtime.output_dir, script,
                       hc.runtime.choices.get("experiment"))
    if isinstance(result, dict) and result.get("objective") is not None:
        return result["objective"]  # what a Hydra sweeper (hydra/sweeper=optuna) optimises
    return result


def hydra_main(script: str, run: Callable[..., Any], open_keys: tuple[str, ...] = ()) -> None:
    """The whole of ``scripts/<script>.py``: composes ``conf/<script>.yaml`` with the
    command line's overrides and runs ``run(cfg, out_dir)`` through :func:`hydra_entry`
    (``-m`` runs it once per job; ``--help`` prints ``conf/hydra/help/<script>.yaml``).
    ``open_keys``: mappings whose keys the command line may add (:func:`open_overrides`).
    """
    import hydra

    # Hydra logs at INFO; JAX's backend probing (no TPU, no GPU) is noise there.
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    cli_setup(script, open_keys=open_keys)
    task = functools.partial(hydra_entry, run=run)
    hydra.main(version_base=None, config_path=CONF_DIR, config_name=script)(task)()
