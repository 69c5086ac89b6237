"""Formatting shared by every report: plain values in error messages, JSON of NumPy
values, and text and Markdown tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np


def plain(x: Any) -> str:
    """A value as plain Python would print it (no ``np.float64(...)`` wrapper)."""
    return repr(np.asarray(x).tolist())


def json_default(x: Any) -> Any:
    """``json.dump(..., default=json_default)``: NumPy scalars and arrays as Python
    numbers and lists, dataclasses as dictionaries, anything else as its ``str``."""
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.asdict(x)
    return str(x)


def text_table(header: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> list[str]:
    """A fixed-width text table: the header line, a rule, one line per row.

    Args:
        header: ``(title, spec)`` per column; ``spec`` is a format alignment and width
            such as ``"<11"`` or ``">9"``, applied to the title and to every cell; a
            column widens to its longest cell.
        rows: the cells, already formatted as strings.
    """
    specs = [spec[0] + str(max([int(spec[1:]), len(title), *(len(r[i]) for r in rows)]))
             for i, (title, spec) in enumerate(header)]
    line = lambda cells: " ".join(f"{c:{spec}}" for c, spec in zip(cells, specs))
    head = line([title for title, _ in header])
    return [head, "-" * len(head), *(line(r) for r in rows)]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align: str | None = None) -> list[str]:
    """A Markdown table. ``align`` holds one letter per column, ``l`` or ``r``; by
    default the first column is left-aligned and the others right-aligned."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"
    return ["| " + " | ".join(header) + " |", rule,
            *("| " + " | ".join(r) + " |" for r in rows)]
