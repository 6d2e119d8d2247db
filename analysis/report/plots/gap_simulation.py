"""Gap-versus-batch-size figures for ``eoss simulate gap`` (ax-first helpers).

Inputs are plain records (the rows of ``results.csv``/``results.json`` and the
``theory`` block of ``results.json``), so the figures can be redrawn from disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eoss.analysis.report.plots.canvas import new_figure


def _col(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array(
        [np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=float
    )


def _positive_errorbar(ax: Axes, b, y, se, floor, **kw) -> list[Artist]:
    """Error bars of the points with y > floor (a log axis cannot show the rest)."""
    keep = np.isfinite(y) & (y > floor)
    if not keep.any():
        return []
    se = np.where(np.isfinite(se), se, 0.0)
    lower = np.minimum(se[keep], 0.999 * y[keep])  # clip bars that cross zero
    cont = ax.errorbar(b[keep], y[keep], yerr=[lower, se[keep]], capsize=2, **kw)
    return [cont]


def plot_gap_curve(
    ax: Axes,
    rows: Sequence[Mapping[str, Any]],
    *,
    theory: Mapping[str, Any] | None = None,
) -> list[Artist]:
    """Simulated gap (naive and control variate, ± SE) vs b on log-log axes.

    Overlays from ``theory`` (the ``theory`` block of ``results.json``): the
    matrix-Bernstein cap, the RMT/exact prediction, and 1/b and 1/√b reference
    slopes through the first positive control-variate point. Estimates at or
    below round-off (1e3 eps FullBS; e.g. b = n without replacement) or
    negative by noise are left out of the log plot.

    Args:
        ax: Axes to draw on.
        rows: Records with ``batch_size``, ``fullbs``, ``gap``, ``gap_se``,
            ``gap_cv``, ``gap_cv_se``.
        theory: Optional overlays.

    Returns:
        The artists drawn.
    """
    b = _col(rows, "batch_size")
    # Round-off (e.g. the control variate at b = n without replacement) is noise.
    floor = 1e3 * np.finfo(float).eps * np.nanmax(np.abs(_col(rows, "fullbs")))
    arts = _positive_errorbar(
        ax,
        b,
        _col(rows, "gap"),
        _col(rows, "gap_se"),
        floor,
        fmt="o",
        ms=4,
        label="MiniBS − FullBS",
    )
    cv, cv_se = _col(rows, "gap_cv"), _col(rows, "gap_cv_se")
    arts += _positive_errorbar(
        ax, b, cv, cv_se, floor, fmt="s", ms=3, mfc="none", label="control variate"
    )
    if theory:
        arts += _theory_lines(ax, b, cv, theory)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size b")
    ax.set_ylabel("gap = E λmax(H_B) − λmax(H)")
    ax.legend(fontsize=7)
    return arts


def _theory_lines(ax: Axes, b, cv, theory: Mapping[str, Any]) -> list[Artist]:
    arts: list[Artist] = []
    bern = theory.get("bernstein") or {}
    if bern.get("bound"):
        arts += ax.plot(b, bern["bound"], "--", color="C3", label="Bernstein cap")
    for key, color, label in (
        ("rmt", "C2", None),
        ("perturbation", "C4", "2nd order φ_b C/b"),
    ):
        block = theory.get(key)
        if not (block and block.get("gap")):
            continue
        y = np.array([np.nan if v is None else v for v in block["gap"]], float)
        keep = np.isfinite(y) & (y > 0)
        if keep.any():  # an all-zero prediction (e.g. coefficient 0) has no line
            text = label or block.get("label", key)
            arts += ax.plot(b[keep], y[keep], "-", color=color, lw=1, label=text)
    first = np.flatnonzero(np.isfinite(cv) & (cv > 0))
    if first.size:
        b0, y0 = b[first[0]], cv[first[0]]
        for p, style in ((1.0, ":"), (0.5, "-.")):
            label = "∝ 1/b" if p == 1.0 else "∝ 1/√b"
            arts += ax.plot(b, y0 * (b / b0) ** (-p), style, color="0.5", label=label)
    return arts


def plot_local_slopes(
    ax: Axes, slopes: Mapping[str, Mapping[str, Sequence[float]]]
) -> list[Artist]:
    """Windowed log-log slopes (± SE) of each gap estimator vs b.

    Args:
        ax: Axes to draw on.
        slopes: ``{"gap": {...}, "gap_cv": {...}}`` with the columns of
            :class:`eoss.toy_models.theory.overlays.LocalSlopes` (``b_center``,
            ``slope``,
            ``slope_se``).

    Returns:
        The artists drawn.
    """
    arts: list[Artist] = []
    for (key, cols), fmt in zip(slopes.items(), ("o", "s"), strict=False):
        x = np.asarray(cols["b_center"], float)
        y = np.array([np.nan if v is None else v for v in cols["slope"]], float)
        e = np.array([np.nan if v is None else v for v in cols["slope_se"]], float)
        ok = np.isfinite(y)
        if ok.any():
            e = np.where(np.isfinite(e), e, 0.0)
            arts.append(
                ax.errorbar(
                    x[ok], y[ok], yerr=e[ok], fmt=fmt, ms=4, capsize=2, label=key
                )
            )
    for ref in (-1.0, -0.5):
        arts.append(ax.axhline(ref, color="0.6", lw=0.8, ls=":"))
    ax.set_xscale("log")
    ax.set_xlabel("batch size b (window centre)")
    ax.set_ylabel("local slope d log gap / d log b")
    if arts:
        ax.legend(fontsize=7)
    return arts


def gap_figure(
    rows: Sequence[Mapping[str, Any]],
    theory: Mapping[str, Any] | None,
    *,
    title: str = "",
) -> Figure:
    """Two panels: the gap curve with overlays, and its local slopes.

    Args:
        rows: Result rows.
        theory: The ``theory`` block (or None).
        title: Figure title.

    Returns:
        The figure (save it with :func:`eoss.analysis.report.plots.canvas.save_figure`).
    """
    fig, (ax0, ax1) = new_figure(1, 2)
    plot_gap_curve(ax0, rows, theory=theory)
    if theory and theory.get("slopes"):
        plot_local_slopes(ax1, theory["slopes"])
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
