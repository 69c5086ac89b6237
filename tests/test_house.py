"""The house rules the code keeps, checked: short functions, modules of one job, imports
that go one way.

A function over :data:`MAX_FUNCTION_LINES` lines (docstring included) or a module over
:data:`MAX_MODULE_LINES` lines is allowed only when ``docs/design.md`` names it in its
section "Long code" (as ``path::name`` or ``path`` in backticks), with a reason.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "bandits", "envs", "estimators")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500

# package (dotted prefix) -> packages it must not import (the floors: common at the bottom,
# then bandits, worlds and feedback, the engine, logged data, studies and estimators)
FORBIDDEN = {
    "common": ("bandits", "envs", "estimators"),
    "bandits": ("envs", "estimators"),
    "envs.worlds": ("envs.engine", "envs.data", "envs.regret", "estimators"),
    "envs.feedback": ("envs.engine", "envs.data", "envs.regret", "estimators"),
    "envs.monitor": ("envs.engine", "envs.data", "envs.regret", "estimators"),
    "envs.engine": ("envs.data", "envs.regret", "estimators"),
    "envs.data": ("envs.regret", "estimators"),
    "envs.regret": ("estimators",),
    "envs.rollout": ("estimators",),
    "estimators": ("envs.regret",),
}


def modules():
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def exempt() -> set[str]:
    """What the design notes' section "Long code" names."""
    found = re.findall(r"`([\w/]+\.py(?:::\w+)?)`", _long_section())
    return {e for e in found if e.split("/")[0] in PACKAGES}


def _long_section() -> str:
    text = (ROOT / "docs" / "design.md").read_text()
    m = re.search(r"\n## Long code\n(.*?)(\n## |\Z)", text, flags=re.S)
    return m.group(1) if m else ""


def long_code() -> list[str]:
    out = []
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        src = path.read_text()
        if src.count("\n") > MAX_MODULE_LINES:
            out.append(rel)
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    out.append(f"{rel}::{node.name}")
    return out


def test_long_functions_and_modules_are_named_in_the_design_notes():
    unexplained = sorted(set(long_code()) - exempt())
    assert not unexplained, (
        f"over {MAX_FUNCTION_LINES} lines (functions) or {MAX_MODULE_LINES} lines (modules) "
        f"and not named in docs/design.md: {unexplained}")


def test_the_design_notes_name_only_code_that_is_long():
    stale = sorted(exempt() - set(long_code()))
    assert not stale, f"docs/design.md names as long what is not (any more): {stale}"


def imports_of(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_go_one_way(path):
    dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    rules = [bad for pkg, bad in FORBIDDEN.items()
             if dotted == pkg or dotted.startswith(pkg + ".")]
    wrong = sorted(m for m in imports_of(path) for bad in rules for b in bad
                   if m == b or m.startswith(b + "."))
    assert not wrong, f"{dotted} imports from a floor above it: {wrong}"


def test_scripts_do_not_edit_sys_path():
    edits = [p.name for p in sorted((ROOT / "scripts").glob("*.py"))
             if "sys.path" in p.read_text()]
    assert not edits, f"scripts editing sys.path (the package is installed): {edits}"


def test_no_package_module_is_left_at_the_root_of_envs():
    left = sorted(p.name for p in (ROOT / "envs").glob("*.py") if p.name != "__init__.py")
    assert not left, f"modules at the root of envs/ (each belongs to a subpackage): {left}"

