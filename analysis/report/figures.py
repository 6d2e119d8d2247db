"""The report's figures: one function per kind, each saving PNG + PDF in ``figures/``.

Figures are drawn with the ax-first helpers of :mod:`eoss.analysis.report.plots` and
written only through :meth:`eoss.analysis.report.figure_ref.FigureSet.figure`, which
saves with :func:`eoss.analysis.report.plots.canvas.save_figure` (fixed metadata: the
same inputs give byte-identical files). File names derive from run ids and sorted
indices, never from times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eoss.analysis.report.figure_ref import PALETTE, FigureRef, FigureSet, safe_name
from eoss.analysis.report.plots.gap_scaling import (
    plot_fit,
    plot_gap_points,
    plot_plateaus_vs_batch,
    plot_reference_slopes,
)
from eoss.analysis.report.plots.gap_simulation import plot_gap_curve
from eoss.analysis.report.plots.noise_variants import plot_noise_variants
from eoss.analysis.report.plots.ntk import plot_ntk_scatter, plot_ntk_trajectory
from eoss.analysis.report.plots.trajectories import plot_sharpness_trajectory
from eoss.analysis.study.gap_fits import (
    FAR_FRACTION,
    LARGE,
    MID,
    NEAR_FRACTION,
    CurveFits,
)
from eoss.analysis.study.inputs import GapTable
from eoss.analysis.study.study import Study


def trajectory_figures(
    study: Study, out: Path, limit: int | None = None
) -> list[FigureRef]:
    """One Fig. 2-type trajectory per training run (the first ``limit`` by path).

    Args:
        study: The study.
        out: Report folder.
        limit: Most trajectories drawn (None: all).

    Returns:
        The figures.
    """
    figs = FigureSet(out)
    for run, _ in study.detections:
        if not run.has("minibs") and not run.has("fullbs"):
            continue
        if limit is not None and len(figs.refs) >= limit:
            break
        name = f"trajectory_{safe_name(run.run_id)}"
        cap = (
            f"Run {run.run_id}: λ_max of each step's batch (dots), MiniBS ± SE, "
            "FullBS, 2/η and 4/η."
        )
        with figs.figure("runs", name, cap, size=(6.0, 3.8)) as ax:
            plot_sharpness_trajectory(ax, run, batch_sharpness=True)
    return figs.refs


def draw_curve(ax: Any, cf: CurveFits, windows: tuple[str, ...], title: str) -> None:
    """Draw a gap curve with its fits on one axes.

    Points ± SE, the fits of ``windows``, the BIC-preferred segmented fit (when
    K > 1, black) and b^-1 / b^-0.7 guide lines.

    Args:
        ax: Target axes.
        cf: The curve's fits.
        windows: Window names whose fits are drawn.
        title: Axes title.
    """
    c = cf.curve
    plot_gap_points(ax, c.batch_size, c.gap, c.gap_se, label=c.label or "gap")
    for i, w in enumerate(windows):
        fit = cf.fit(w)
        if fit is not None:
            lo, hi = fit.exponent_ci
            label = f"{w}: α = {fit.exponent:.2f} [{lo:.2f}, {hi:.2f}]"
            plot_fit(ax, fit, color=PALETTE[(i + 1) % len(PALETTE)], label=label)
    seg = cf.segments
    if not isinstance(seg, str) and seg.preferred_bic > 1:
        plot_fit(ax, seg.fits[seg.preferred_bic], color="black")
    pos = c.gap[np.isfinite(c.gap) & (c.gap > 0)]
    if len(pos):
        b = c.batch_size
        span, anchor = (float(b.min()), float(b.max())), (float(b.min()), float(pos[0]))
        plot_reference_slopes(ax, span, anchor)
    ax.set_xlabel("batch size b")
    ax.set_ylabel("gap = MiniBS − FullBS")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)


def sweep_figures(study: Study, out: Path) -> list[FigureRef]:
    """Per sweep: plateau gap vs b with fits, and MiniBS/FullBS plateaus vs b.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    figs = FigureSet(out)
    for i, s in enumerate(study.sweeps):
        if len(s.batch_size) == 0:
            continue  # no run of the sweep reached EoSS: nothing to plot
        cap = (
            f"Sweep {i} ({s.label}): plateau gap vs b, power-law fits per window "
            "(BIC-preferred segmented fit in black when K > 1)."
        )
        with figs.figure("sweeps", f"sweep{i}_gap", cap, size=(5.5, 3.8)) as ax:
            draw_curve(
                ax,
                study.sweep_fits[s.key],
                ("all", MID.name, LARGE.name),
                f"trained plateau gap, {s.label}",
            )
        cap = f"Sweep {i}: MiniBS and FullBS plateaus in units of 2/η vs b."
        with figs.figure("sweeps", f"sweep{i}_plateaus", cap, size=(5.5, 3.8)) as ax:
            plot_plateaus_vs_batch(
                ax, s.batch_size, s.minibs, s.minibs_se, s.fullbs, s.fullbs_se
            )
            ax.legend(fontsize=7)
    return figs.refs


def _draw_simulation(axes: Any, table: GapTable, cf: CurveFits, title: str) -> None:
    """Left: ``eoss simulate``'s own gap plot with its theory overlays; right: fits."""
    left, right = axes
    plot_gap_curve(left, table.rows(), theory=table.theory or None)
    left.set_title("simulation with theory overlays", fontsize=9)
    draw_curve(right, cf, ("all", "far", "near"), title)


def table_figures(study: Study, out: Path) -> list[FigureRef]:
    """Static and simulated gap curves with their fits.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    figs = FigureSet(out)
    tables = {study.inputs.relative(t.path): t for t in study.inputs.simulate}
    caption = (
        f"gap vs b with fits (far = b ≤ n/{1 / FAR_FRACTION:g}, "
        f"near = b ≥ n/{1 / NEAR_FRACTION:g})"
    )
    for kind, fits in (
        ("static", study.static_fits),
        ("simulation", study.simulate_fits),
    ):
        for i, (label, cf) in enumerate(sorted(fits.items())):
            title = f"{kind}: {label}"
            cap = f"{kind.capitalize()} {label}: {caption}."
            if kind == "simulation":
                with figs.figure(
                    kind, f"{kind}{i}_gap", cap, size=(5.0, 3.8), ncols=2
                ) as axes:
                    _draw_simulation(axes, tables[label], cf, title)
            else:
                with figs.figure(kind, f"{kind}{i}_gap", cap, size=(5.5, 3.8)) as ax:
                    draw_curve(ax, cf, ("all", "far", "near"), title)
    return figs.refs


def comparison_figures(study: Study, out: Path) -> list[FigureRef]:
    """Static and trained gap curves on one axes, for each compared pair.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    from eoss.analysis.stats.compare import ExponentComparison

    figs = FigureSet(out)
    for i, (label, key, comp) in enumerate(study.comparisons):
        if not isinstance(comp, ExponentComparison):
            continue
        sweep = next(s for s in study.sweeps if s.key == key)
        cap = (
            f"Static curve {label} and trained sweep {sweep.label}, "
            "fitted side by side."
        )
        name = f"static_vs_trained{i}"
        with figs.figure("comparison", name, cap, size=(5.5, 3.8)) as ax:
            pairs = (
                (study.static_fits[label].curve, comp.static),
                (sweep.curve(), comp.trained),
            )
            for j, (curve, fit) in enumerate(pairs):
                color = PALETTE[j]
                plot_gap_points(
                    ax,
                    curve.batch_size,
                    curve.gap,
                    curve.gap_se,
                    label=("static " if j == 0 else "trained ") + curve.label,
                    color=color,
                )
                plot_fit(ax, fit, color=color)
            ax.set_xlabel("batch size b")
            ax.set_ylabel("gap")
            ax.legend(fontsize=6)
    return figs.refs


def noise_figure(study: Study, out: Path) -> list[FigureRef]:
    """Noise-injected GD variants (Fig. 10), when any noise run exists.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        Zero or one figure.
    """
    from eoss.analysis.claims.dynamics import noise_kind

    runs = {
        f"{noise_kind(r)} ({r.run_id})": r
        for r, _ in study.detections
        if noise_kind(r) != "none"
    }
    if not runs:
        return []
    figs = FigureSet(out)
    cap = "Noise-injected GD: MiniBS (solid) and FullBS (dotted) in units of 2/η."
    with figs.figure("noise", "noise_variants", cap, size=(6.0, 3.8)) as ax:
        plot_noise_variants(ax, runs)
    return figs.refs


def ntk_figures(study: Study, out: Path) -> list[FigureRef]:
    """MiniBS vs averaged-NTK λ_max (Fig. 17) for each run with an ntk table.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    figs = FigureSet(out)
    for run, _ in study.detections:
        if not run.has("ntk"):
            continue
        name = f"ntk_{safe_name(run.run_id)}"
        cap = f"Run {run.run_id}: MiniBS and averaged-NTK λ_max."
        with figs.figure("ntk", name, cap, size=(4.5, 3.5), ncols=2) as axes:
            plot_ntk_trajectory(axes[0], run)
            s, i_m, i_n = np.intersect1d(
                run.column("minibs", "step"),
                run.column("ntk", "step"),
                return_indices=True,
            )
            plot_ntk_scatter(
                axes[1],
                run.column("minibs", "minibs")[i_m],
                run.column("ntk", "ntk_lambda_max")[i_n],
            )
    return figs.refs


def make_figures(
    study: Study, out: Path, *, max_trajectories: int | None = None
) -> list[FigureRef]:
    """Every figure of the report.

    Args:
        study: The study.
        out: Report folder (figures go to ``out/figures``).
        max_trajectories: Most per-run trajectory figures (None: one per run).

    Returns:
        The figures in report order.
    """
    refs = trajectory_figures(study, out, max_trajectories)
    for maker in (
        sweep_figures,
        table_figures,
        comparison_figures,
        noise_figure,
        ntk_figures,
    ):
        refs += maker(study, out)
    from eoss.analysis.report.symbolic import symbolic_figures

    return refs + symbolic_figures(study, out)
