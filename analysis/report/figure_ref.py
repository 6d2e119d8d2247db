"""A figure of the report: its files and caption, and the set of those drawn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


@dataclass(frozen=True)
class FigureRef:
    """A saved figure.

    Attributes:
        section: Report section it belongs to.
        name: File stem under ``figures/``.
        caption: One-sentence caption.
    """

    section: str
    name: str
    caption: str

    @property
    def png(self) -> str:
        """Relative path of the PNG."""
        return f"figures/{self.name}.png"


def safe_name(text: str) -> str:
    """A file-name-safe version of ``text``.

    Args:
        text: Any label.

    Returns:
        Letters, digits, ``-``, ``_`` and ``.`` only.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


@dataclass
class FigureSet:
    """The figures written to one report folder, in the order they were drawn.

    Each figure is created, drawn, saved (PNG + PDF under ``<out>/figures``) and
    recorded as a :class:`FigureRef` by one ``with`` block::

        figs = FigureSet(out)
        with figs.figure("runs", name, caption, size=(6.0, 3.8)) as ax:
            plot_sharpness_trajectory(ax, run)
        return figs.refs

    Attributes:
        out: Report folder.
        refs: The figures saved so far.
    """

    out: Path
    refs: list[FigureRef] = field(default_factory=list)

    @contextmanager
    def figure(
        self,
        section: str,
        name: str,
        caption: str,
        *,
        size: tuple[float, float],
        ncols: int = 1,
        nrows: int = 1,
    ) -> Iterator[Any]:
        """A new figure's axes; on leaving the block the figure is saved and recorded.

        Nothing is saved or recorded when the block raises.

        Args:
            section: Report section of the figure.
            name: File stem under ``figures/``.
            caption: One-sentence caption.
            size: Width and height of one panel, in inches.
            ncols: Panels side by side.
            nrows: Rows of panels (a grid of small multiples).

        Yields:
            The Axes (a flat list of Axes when there is more than one panel).
        """
        from eoss.analysis.report.plots.canvas import new_figure, save_figure

        fig, axes = new_figure(nrows, ncols, size=size)
        yield axes
        save_figure(fig, self.out / "figures" / name)
        self.refs.append(FigureRef(section, name, caption))
