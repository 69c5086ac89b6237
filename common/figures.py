"""Helpers every figure of the project uses: matplotlib without a display, PNG
output, distinguishable colours."""

from __future__ import annotations


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str) -> None:
    """Writes ``fig`` as a PNG at ``path`` (legends outside the axes included) and
    releases it. A figure without a layout engine gets ``tight_layout`` first."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    pyplot().close(fig)


def colors(n: int) -> list:
    """``n`` distinguishable colours: tab10 up to 10, tab20 beyond (cycled past 20)."""
    cmap = pyplot().get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]
