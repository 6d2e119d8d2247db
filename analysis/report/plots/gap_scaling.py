"""Gap and plateau levels against the batch size, with fitted power laws.

The paper's Figs. 6-8 / 14-16 (trained plateaus and gaps vs b) and Figs. 9 / 11-13
(static gaps of frozen networks). Log-log axes; error bars are ±1 SE; a fitted power
law (or segmented power law) is drawn over the x range it was fitted on and labelled
with its exponent and interval (gap ∝ b^-α). Helpers draw on a given Axes and return
their artists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter
from numpy.typing import ArrayLike

from eoss.analysis.stats.powerlaw import PowerLawFit
from eoss.analysis.stats.segmented import SegmentedFit

#: Relative to the largest gap, the level below which a gap is machine zero.
MACHINE_ZERO = 1e-10


def plot_gap_points(
    ax: Axes,
    b: ArrayLike,
    gap: ArrayLike,
    se: ArrayLike | None = None,
    *,
    label: str = "gap",
    color: str = "tab:blue",
    marker: str = "o",
    hollow: bool = False,
) -> list[Artist]:
    """Positive gaps with ±1 SE error bars on log-log axes.

    Non-positive gaps and gaps at machine zero (below :data:`MACHINE_ZERO` × the
    largest) are omitted, and their count is appended to the label; with nothing
    left, nothing is drawn (the axes still become log-log).

    Args:
        ax: Target axes.
        b: Batch sizes.
        gap: Gaps.
        se: Standard errors or None.
        label: Legend label (the omitted count is appended when > 0).
        color: Colour.
        marker: Marker.
        hollow: Open markers (points that enter no fit).

    Returns:
        The errorbar container's artists.
    """
    b, gap = np.asarray(b, float), np.asarray(gap, float)
    keep = np.isfinite(gap) & (gap > 0) & (b > 0)
    # a value at machine zero (e.g. 1e-17 at b = n) would stretch the log axis
    # over 15 decades: treated like a non-positive one, omitted and counted
    if keep.any():
        keep &= gap > MACHINE_ZERO * np.max(gap[keep])
    err = None if se is None else np.asarray(se, float)[keep]
    dropped = int((~keep).sum())
    text = label + (f" ({dropped} ≤ 0 or at machine zero omitted)" if dropped else "")
    for axis in ("x", "y"):  # setting a scale again would reset its tick labels
        if getattr(ax, f"get_{axis}scale")() != "log":
            getattr(ax, f"set_{axis}scale")("log")
    if not keep.any():
        return []  # nothing to mark: no empty legend entry
    cont = ax.errorbar(
        b[keep],
        gap[keep],
        yerr=err,
        fmt=marker,
        color=color,
        ms=4,
        capsize=2,
        label=text,
        mfc="none" if hollow else color,
    )
    return list(cont.get_children())


def plot_fit(
    ax: Axes,
    fit: PowerLawFit | SegmentedFit,
    *,
    color: str = "tab:blue",
    label: str | None = None,
) -> list[Artist]:
    """The fitted (segmented) power law over its fitted x range.

    Args:
        ax: Target axes.
        fit: A :class:`PowerLawFit` or :class:`SegmentedFit`.
        color: Line colour.
        label: Legend label (default: the exponent(s) with intervals).

    Returns:
        The line artist(s), plus breakpoint markers for a segmented fit.
    """
    lo, hi = fit.x_range
    xs = np.geomspace(lo, hi, 200)
    if label is None:
        if isinstance(fit, PowerLawFit):
            c0, c1 = fit.exponent_ci
            label = f"α = {fit.exponent:.2f} [{c0:.2f}, {c1:.2f}]"
        else:
            label = "α = " + ", ".join(f"{a:.2f}" for a in fit.exponents)
    out: list[Artist] = list(
        ax.plot(xs, fit.predict(xs), color=color, lw=1.3, label=label)
    )
    if isinstance(fit, SegmentedFit):
        for bp in fit.breakpoints:
            out.append(ax.axvline(bp, color=color, ls=":", lw=1.0))
    return out


def plot_reference_slopes(
    ax: Axes,
    x_range: tuple[float, float],
    anchor: tuple[float, float],
    exponents: Sequence[float] = (1.0, 0.7),
) -> list[Artist]:
    """Grey guide lines y = y0·(x/x0)^-α through ``anchor`` for each α.

    Args:
        ax: Target axes.
        x_range: (lo, hi) of the guides.
        anchor: (x0, y0) point they pass through.
        exponents: The α values.

    Returns:
        The line artists.
    """
    xs = np.geomspace(*x_range, 50)
    x0, y0 = anchor
    styles = ["--", "-.", ":"]
    out: list[Artist] = []
    for i, a in enumerate(exponents):
        out += ax.plot(
            xs,
            y0 * (xs / x0) ** -a,
            color="0.5",
            lw=0.9,
            ls=styles[i % 3],
            label=f"b^-{a:g}",
        )
    return out


def plot_plateau_levels(
    ax: Axes,
    b: ArrayLike,
    minibs: ArrayLike,
    minibs_se: ArrayLike,
    fullbs: ArrayLike,
    fullbs_se: ArrayLike,
    *,
    hollow: bool = False,
    suffix: str = "",
) -> list[Artist]:
    """MiniBS (blue) and FullBS (red) levels in units of 2/η against b, ± 1 SE.

    Args:
        ax: Target axes.
        b: Batch sizes.
        minibs: MiniBS level / (2/η).
        minibs_se: Its SE.
        fullbs: FullBS level / (2/η).
        fullbs_se: Its SE.
        hollow: Open markers, no joining line (levels that enter no fit).
        suffix: Appended to the legend labels ``MiniBS`` and ``FullBS``.

    Returns:
        The artists.
    """
    out: list[Artist] = []
    if len(np.atleast_1d(b)) == 0:
        return out
    for y, e, name, color in (
        (minibs, minibs_se, "MiniBS", "tab:blue"),
        (fullbs, fullbs_se, "FullBS", "tab:red"),
    ):
        cont = ax.errorbar(
            b,
            y,
            yerr=e,
            fmt="o" if hollow else "o-",
            color=color,
            mfc="none" if hollow else color,
            ms=4,
            capsize=2,
            label=name + suffix,
        )
        out += list(cont.get_children())
    return out


def plot_plateaus_vs_batch(
    ax: Axes,
    b: ArrayLike,
    minibs: ArrayLike,
    minibs_se: ArrayLike,
    fullbs: ArrayLike,
    fullbs_se: ArrayLike,
) -> list[Artist]:
    """Plateau levels of MiniBS and FullBS in units of 2/η against b (Figs. 6-8).

    Args:
        ax: Target axes.
        b: Batch sizes.
        minibs: MiniBS plateau / (2/η).
        minibs_se: Its SE.
        fullbs: FullBS plateau / (2/η).
        fullbs_se: Its SE.

    Returns:
        The artists (with 2/η and 4/η as horizontal lines).
    """
    out = plot_plateau_levels(ax, b, minibs, minibs_se, fullbs, fullbs_se)
    out.append(ax.axhline(1.0, color="black", lw=1.0, label="2/η"))
    out.append(ax.axhline(2.0, color="black", lw=1.0, ls="--", label="4/η"))
    ax.set_xscale("log")
    ax.set_xlabel("batch size b")
    ax.set_ylabel("plateau level / (2/η)")
    return out


def plot_slope_profile(
    ax: Axes,
    b_mid: ArrayLike,
    exponent: ArrayLike,
    ci: ArrayLike,
    references: Sequence[float] = (0.5, 1.0),
) -> list[Artist]:
    """Local exponents α between neighbouring b (95 % intervals) with guide levels.

    Args:
        ax: Target axes.
        b_mid: Geometric mean b of each neighbouring pair, shape (m,).
        exponent: Local α there, shape (m,).
        ci: 95 % intervals, shape (m, 2) (NaN rows: no bar).
        references: α levels drawn as grey horizontal lines (1/√b and 1/b).

    Returns:
        The artists.
    """
    x, a = np.asarray(b_mid, float), np.asarray(exponent, float)
    c = np.asarray(ci, float).reshape(-1, 2)
    keep = np.isfinite(a) & (x > 0)
    err = np.vstack([a - c[:, 0], c[:, 1] - a])[:, keep]
    err = np.where(np.isfinite(err), err, 0.0)
    cont = ax.errorbar(
        x[keep],
        a[keep],
        yerr=err,
        fmt="s-",
        color="tab:blue",
        ms=4,
        capsize=2,
        label="local α (95 % CI)",
    )
    out: list[Artist] = list(cont.get_children())
    styles = ["--", "-.", ":"]
    for i, r in enumerate(references):
        out.append(
            ax.axhline(r, color="0.5", lw=0.9, ls=styles[i % 3], label=f"α = {r:g}")
        )
    ax.set_xscale("log")
    # mid-points span less than a decade: minor labels (3×10¹, 4×10¹) collide
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch size b (geometric mid-point of neighbours)")
    ax.set_ylabel("local exponent α")
    return out


def plot_gap_vs_inverse_b(
    ax: Axes,
    b: ArrayLike,
    gap: ArrayLike,
    se: ArrayLike | None = None,
    *,
    color: str = "tab:blue",
    label: str = "gap",
) -> list[Artist]:
    """Gap against 1/b on linear axes (the paper's Fig. 9, right), ±1 SE.

    Non-finite gaps are omitted (and counted in the label); on linear axes a gap at
    machine zero sits at 0 and stretches nothing.

    Args:
        ax: Target axes.
        b: Batch sizes.
        gap: Gaps.
        se: Standard errors or None.
        color: Colour.
        label: Legend label.

    Returns:
        The artists.
    """
    b, gap = np.asarray(b, float), np.asarray(gap, float)
    keep = np.isfinite(gap) & (b > 0)
    err = None if se is None else np.nan_to_num(np.asarray(se, float)[keep])
    dropped = int((~keep).sum())
    text = label + (f" ({dropped} omitted)" if dropped else "")
    cont = ax.errorbar(
        1.0 / b[keep],
        gap[keep],
        yerr=err,
        fmt="o",
        color=color,
        ms=4,
        capsize=2,
        label=text,
    )
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("1 / b")
    ax.set_ylabel("gap = MiniBS − FullBS")
    return list(cont.get_children())
