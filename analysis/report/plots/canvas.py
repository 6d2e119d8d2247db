"""Figure creation and saving (PNG + PDF, fixed dpi, reproducible metadata).

Figures are plain :class:`matplotlib.figure.Figure` objects, not pyplot figures:
saving picks the Agg (PNG) or PDF canvas for the file format, so it works headless
without switching the global backend (a notebook's backend is left alone) and no
figure is registered with pyplot (nothing to close).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

DPI = 150
# Fixed metadata keeps PDFs/PNGs byte-stable for the same inputs (no timestamps).
_PDF_META = {"Creator": "eoss", "Producer": "eoss", "CreationDate": None}
_PNG_META = {"Software": "eoss"}


def new_figure(
    nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (5.0, 3.6)
) -> tuple[Figure, Axes | list[Axes]]:
    """A new figure with a grid of axes (``size`` is per panel, in inches).

    Args:
        nrows: Panel rows.
        ncols: Panel columns.
        size: Width and height of one panel.

    Returns:
        ``(fig, ax)`` with a single Axes, or ``(fig, list_of_axes)`` for a grid.
    """
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    return fig, (flat[0] if len(flat) == 1 else flat)


def create_ax(ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Return ``(fig, ax)``, creating both when ``ax`` is None (statsmodels idiom).

    Args:
        ax: An existing Axes, or None.

    Returns:
        The figure and the Axes.
    """
    if ax is not None:
        return ax.figure, ax
    fig, new = new_figure()
    return fig, new  # type: ignore[return-value]


def save_figure(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf``.

    Args:
        fig: The figure.
        path_stem: Output path without suffix; parent folders are created.

    Returns:
        The two written paths.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=DPI, metadata=_PNG_META)
    fig.savefig(pdf, metadata=_PDF_META)
    return [png, pdf]
