"""The symbolic results as a figure: derived values against the paper's formulas.

For the diagonal network, the derived FullBS and MiniBS at a point are compared with
what the paper's Appendix F formulas give from the same per-sample eigenvalues
(FullBS = max(λ1, λ2)/2, MiniBS = (λ1 + λ2)/2). Grouped bars; equal bars mean the
formula holds at that point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes


def plot_formula_comparison(
    ax: Axes, rows: Sequence[tuple[str, float, float]], *, title: str = ""
) -> list[Artist]:
    """Grouped bars: derived value vs the paper's formula for each quantity.

    Args:
        ax: Target axes.
        rows: (quantity, derived value, paper formula value) triples.
        title: Axes title.

    Returns:
        The bar and text artists.
    """
    x = np.arange(len(rows))
    width = 0.38
    derived = [r[1] for r in rows]
    paper = [r[2] for r in rows]
    out: list[Artist] = []
    out += list(
        ax.bar(x - width / 2, derived, width, color="tab:blue", label="derived (eoss)")
    )
    out += list(
        ax.bar(x + width / 2, paper, width, color="tab:gray", label="paper's formula")
    )
    for xi, d, p in zip(x, derived, paper, strict=True):
        same = np.isclose(d, p, rtol=1e-9, atol=1e-12)
        out.append(
            ax.annotate(
                "=" if same else "≠",
                (xi, max(d, p)),
                ha="center",
                va="bottom",
                fontsize=10,
            )
        )
    ax.margins(y=0.12)  # room for the '=' / '≠' above the tallest pair
    ax.set_xticks(x, [r[0] for r in rows], fontsize=8)
    ax.set_ylabel("value")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return out
