"""A gap curve with its fits on one axes, and the caption words for what is drawn.

:func:`draw_curve` and :func:`curve_caption` decide what to draw with the same
helper (:func:`_drawn`): the power-law fits that were made, the BIC-preferred
segmented fit when it has more than one segment, and b^-1 / b^-0.7 guides only
when the points span more than one b (through a single b they would be
invisible yet listed in the legend). A caption therefore never names a fit the
panel lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from eoss.analysis.report.figure_ref import PALETTE
from eoss.analysis.report.plots.canvas import plain_minor_log_labels
from eoss.analysis.report.plots.gap_scaling import (
    plot_fit,
    plot_gap_points,
    plot_reference_slopes,
)
from eoss.analysis.stats.powerlaw import PowerLawFit
from eoss.analysis.stats.segmented import SegmentedFit
from eoss.analysis.study.gap_fits import CurveFits, windows_for
from eoss.analysis.study.inputs import GapTable

#: The guide exponents drawn through the first point.
GUIDES = (1.0, 0.7)


@dataclass(frozen=True)
class _Drawn:
    """What :func:`draw_curve` puts on the axes for one curve."""

    fits: tuple[tuple[str, PowerLawFit], ...]
    segmented: SegmentedFit | None
    guides: bool


def _drawn(cf: CurveFits, windows: tuple[str, ...]) -> _Drawn:
    fits = tuple((w, f) for w in windows if (f := cf.fit(w)) is not None)
    seg = cf.segments
    best = None
    if not isinstance(seg, str) and seg.preferred_bic > 1:
        best = seg.fits[seg.preferred_bic]
    c = cf.curve
    ok = np.isfinite(c.gap) & (c.gap > 0) & (c.batch_size > 0)
    return _Drawn(fits, best, len(np.unique(c.batch_size[ok])) > 1)


def _window_text(name: str, cf: CurveFits) -> str:
    """``all b ('all')`` or ``b ∈ [10, 100] ('mid')``, as the legend names it."""
    bounds = windows_for(cf.n).get(name)
    where = "all b" if bounds is None else f"b ∈ [{bounds[0]:g}, {bounds[1]:g}]"
    return f"{where} ('{name}')"


def draw_curve(ax: Axes, cf: CurveFits, windows: tuple[str, ...], title: str) -> None:
    """Draw a gap curve with its fits on one axes (log-log).

    Points ± SE, the fits of ``windows`` that were made (one colour each), the
    BIC-preferred segmented fit when K > 1 (black, breakpoints dotted) and
    b^-1 / b^-0.7 guide lines when the points span more than one b.

    Args:
        ax: Target axes.
        cf: The curve's fits.
        windows: Window names whose fits are drawn.
        title: Axes title.
    """
    c, drawn = cf.curve, _drawn(cf, windows)
    plot_gap_points(ax, c.batch_size, c.gap, c.gap_se, label=c.label or "gap")
    for w, fit in drawn.fits:
        lo, hi = fit.exponent_ci
        label = f"{w}: α = {fit.exponent:.2f} [{lo:.2f}, {hi:.2f}]"
        color = PALETTE[(windows.index(w) + 1) % len(PALETTE)]
        plot_fit(ax, fit, color=color, label=label)
    if drawn.segmented is not None:
        seg = drawn.segmented
        alphas = ", ".join(f"{a:.2f}" for a in seg.exponents)
        label = f"{seg.n_segments} segments: α = {alphas}"
        plot_fit(ax, seg, color="black", label=label)
    if drawn.guides:
        ok = np.isfinite(c.gap) & (c.gap > 0) & (c.batch_size > 0)
        b, g = c.batch_size[ok], c.gap[ok]
        first = int(np.argmin(b))
        span = (float(b.min()), float(b.max()))
        plot_reference_slopes(ax, span, (float(b[first]), float(g[first])), GUIDES)
    ax.set_xlabel("batch size b")
    ax.set_ylabel("gap = MiniBS − FullBS")
    ax.set_title(title, fontsize=9)
    plain_minor_log_labels(ax)
    if ax.get_legend_handles_labels()[1]:  # an empty curve has nothing to name
        ax.legend(fontsize=6)


def curve_caption(cf: CurveFits, windows: tuple[str, ...]) -> str:
    """Caption words for the fits and guides :func:`draw_curve` draws.

    Args:
        cf: The curve's fits.
        windows: The windows passed to :func:`draw_curve`.

    Returns:
        e.g. ``power-law fits over all b ('all') and b ∈ [10, 100] ('mid')
        (legend: window: α [95 % CI]); the BIC-preferred 3-segment fit in black with its
        breakpoints dotted; b^-1 (dashed) and b^-0.7 (dash-dot) grey guides
        through the smallest b``.
    """
    drawn = _drawn(cf, windows)
    parts = []
    if drawn.fits:
        where = " and ".join(_window_text(w, cf) for w, _ in drawn.fits)
        parts.append(
            f"{'power-law fits' if len(drawn.fits) > 1 else 'a power-law fit'} "
            f"over {where} (legend: window: α [95 % CI])"
        )
    else:
        parts.append("no power-law fit (too few usable batch sizes)")
    if drawn.segmented is not None:
        parts.append(
            f"the BIC-preferred {drawn.segmented.n_segments}-segment fit in black "
            "with its breakpoints dotted"
        )
    if drawn.guides:
        parts.append(
            "b^-1 (dashed) and b^-0.7 (dash-dot) grey guides through the smallest b"
        )
    return "; ".join(parts)


def table_setting(table: GapTable | None) -> str:
    """`` Setting: ...`` of a static curve or simulation, from its config.

    Args:
        table: The gap table (None: no setting).

    Returns:
        e.g. `` Setting: n = 1024, batches per b = 200, family = spiked.``, or
        "" when nothing is recorded.
    """
    c: dict[str, Any] = {} if table is None else table.config
    keys = (
        ("n", c.get("n_train", c.get("n"))),
        ("batches per b", c.get("n_batches", c.get("batches"))),
        ("loss", c.get("loss")),
        ("checkpoint step", c.get("step")),
        ("family", c.get("family")),
        ("dim", c.get("dim")),
        ("sampling", c.get("sampling")),
        ("seed", c.get("seed")),
    )
    parts = [f"{k} = {v}" for k, v in keys if v is not None]
    return f" Setting: {', '.join(parts)}." if parts else ""
