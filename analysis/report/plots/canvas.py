"""Figure creation and saving (PNG + PDF, fixed dpi, reproducible metadata).

Figures are plain :class:`matplotlib.figure.Figure` objects, not pyplot figures:
saving picks the Agg (PNG) or PDF canvas for the file format, so it works headless
without switching the global backend (a notebook's backend is left alone) and no
figure is registered with pyplot (nothing to close). They use matplotlib's
constrained layout, which keeps titles, tick labels and a legend placed outside
the axes (:func:`shared_legend`) from overlapping; :func:`step_axis` and
:func:`plain_minor_log_labels` keep tick labels short.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, LogFormatterSciNotation, MaxNLocator

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
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
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
    if fig.get_layout_engine() is None:  # a figure made elsewhere
        fig.tight_layout()
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=DPI, metadata=_PNG_META)
    fig.savefig(pdf, metadata=_PDF_META)
    return [png, pdf]


def shared_legend(axes: Sequence[Axes], *, fontsize: float = 7) -> None:
    """One legend for a grid of panels, above them (outside every axes).

    Entries are the union of the panels' labelled artists, in first-seen order;
    the panels' own legends are removed. Nothing is drawn when no artist has a
    label.

    Args:
        axes: The panels (hidden ones are skipped).
        fontsize: Legend font size.
    """
    entries: dict[str, Artist] = {}
    for ax in axes:
        if not ax.get_visible():
            continue
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if entries:
        axes[0].figure.legend(
            list(entries.values()),
            list(entries),
            loc="outside upper center",
            ncol=min(len(entries), 6),
            fontsize=fontsize,
            frameon=False,
        )


class _StepFormatter(Formatter):
    """Step counts that fit a tick, one unit per axis: ``0 5k 10k 15k``."""

    _top = 0.0  # the largest |tick| of the axis (set_locs), which picks the unit

    def set_locs(self, locs: Sequence[float]) -> None:
        """Remember the largest tick, so every label of the axis uses one unit.

        Args:
            locs: The tick locations.
        """
        self._top = max((abs(float(v)) for v in locs), default=0.0)

    def __call__(self, x: float, pos: int | None = None) -> str:
        top = max(self._top, abs(x))
        scale, unit = (
            (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e4 else (1, "")
        )
        return "0" if x == 0 else f"{x / scale:g}{unit}"


def step_axis(ax: Axes, *, nbins: int = 5) -> None:
    """At most ``nbins`` integer ticks on the x (step) axis, labelled compactly.

    A panel a few inches wide cannot hold ``10000 12500 15000 17500`` at the
    default font; ``10k 12.5k`` fit. The unit (none, k, M) is chosen once per axis
    from its largest tick, so an axis never mixes ``5000`` and ``10k``.

    Args:
        ax: Target axes (its x axis is the training step).
        nbins: Most tick intervals.
    """
    ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins, integer=True, min_n_ticks=3))
    ax.xaxis.set_major_formatter(_StepFormatter())


class _PlainMinorLog(LogFormatterSciNotation):
    """Label the minor ticks matplotlib would label, as plain numbers (``150``)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:.3g}" if super().__call__(x, pos) else ""


def plain_minor_log_labels(ax: Axes) -> None:
    """Plain-number labels for the labelled minor ticks of log axes.

    On a log axis spanning less than a decade matplotlib labels minor ticks as
    ``1.75×10^2``; this keeps its choice of which ticks to label but writes
    ``175``. Linear axes are left alone.

    Args:
        ax: Target axes.
    """
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_minor_formatter(_PlainMinorLog(labelOnlyBase=False))
