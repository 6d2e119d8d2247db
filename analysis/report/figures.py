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

from eoss.analysis.report.curves import curve_caption, draw_curve, table_setting
from eoss.analysis.report.figure_ref import PALETTE, FigureRef, FigureSet, safe_name
from eoss.analysis.report.plots.gap_scaling import (
    plot_fit,
    plot_gap_points,
    plot_gap_vs_inverse_b,
    plot_plateaus_vs_batch,
)
from eoss.analysis.report.plots.gap_simulation import plot_gap_curve
from eoss.analysis.report.plots.noise_variants import plot_noise_variants
from eoss.analysis.report.plots.ntk import plot_ntk_scatter, plot_ntk_trajectory
from eoss.analysis.report.plots.sweep_overview import plot_sweep_overview
from eoss.analysis.report.setting import run_setting
from eoss.analysis.study.gap_fits import LARGE, MID, CurveFits
from eoss.analysis.study.inputs import GapTable
from eoss.analysis.study.study import Study


def _sweep_runs(study: Study, s: Any) -> list[Any]:
    """The runs of a sweep (at EoSS or excluded), by id."""
    ids = {i for group in s.run_ids for i in group} | set(s.excluded)
    return [r for r, _ in study.detections if r.run_id in ids]


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
        runs = _sweep_runs(study, s)
        setting = f" Setting: {run_setting(runs)}." if runs else ""
        if runs:
            cap = (
                f"Sweep {i} ({s.label}): MiniBS (solid, dots = measurements) and "
                "FullBS (dashed) in units of 2/η against the step, one line per "
                f"run, one colour per b; the dotted line is 2/η.{setting}"
            )
            with figs.figure(
                "sweeps", f"sweep{i}_overview", cap, size=(6.5, 4.0)
            ) as ax:
                plot_sweep_overview(ax, runs)
        if len(s.batch_size) == 0:
            continue  # no run of the sweep reached EoSS: nothing to plot
        cf, windows = study.sweep_fits[s.key], ("all", MID.name, LARGE.name)
        cap = (
            f"Sweep {i} ({s.label}): plateau gap vs b on log-log axes, one circle "
            f"(± 1 SE) per run used in the fits; {curve_caption(cf, windows)}."
            f"{setting}"
        )
        with figs.figure("sweeps", f"sweep{i}_gap", cap, size=(5.5, 3.8)) as ax:
            draw_curve(ax, cf, windows, f"trained plateau gap, {s.label}")
        cap = (
            f"Sweep {i}: MiniBS and FullBS plateaus (± 1 SE) in units of 2/η vs b "
            f"(Fig. 6).{setting}"
        )
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
    draw_curve(right, cf, TABLE_WINDOWS, title)


#: The fits drawn on a static or simulated curve.
TABLE_WINDOWS = ("all", "far", "near")
_POINTS = (
    "circles ± 1 SE; b ≥ n omitted when drawn without replacement, machine-zero "
    "values omitted"
)
_SIM_LEFT = (
    "Left: eoss simulate's own plot, MiniBS − FullBS (circles) and its "
    "control-variate estimate (open squares) ± 1 SE with the theory overlays "
    "named in its legend"
)


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
    tables |= {study.inputs.relative(t.path): t for t in study.inputs.static}
    for kind, fits in (
        ("static", study.static_fits),
        ("simulation", study.simulate_fits),
    ):
        for i, (label, cf) in enumerate(sorted(fits.items())):
            title = f"{kind}: {label}"
            setting = table_setting(tables.get(label))
            fitted = f"gaps vs b ({_POINTS}) with {curve_caption(cf, TABLE_WINDOWS)}"
            if kind == "simulation":
                cap = (
                    f"Simulation {label}. {_SIM_LEFT}. Right: the same {fitted}."
                    f"{setting}"
                )
                with figs.figure(
                    kind, f"{kind}{i}_gap", cap, size=(5.0, 3.8), ncols=2
                ) as axes:
                    _draw_simulation(axes, tables[label], cf, title)
            else:
                cap = (
                    f"Static {label} (Fig. 9). Left: {fitted}. Right: the same gaps "
                    "(circles ± 1 SE) against 1/b on linear axes, black line at 0."
                    f"{setting}"
                )
                with figs.figure(
                    kind, f"{kind}{i}_gap", cap, size=(5.0, 3.8), ncols=2
                ) as axes:
                    draw_curve(axes[0], cf, TABLE_WINDOWS, title)
                    c = cf.curve
                    plot_gap_vs_inverse_b(axes[1], c.batch_size, c.gap, c.gap_se)
                    axes[1].set_title("linear in 1/b", fontsize=9)
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
        runs = _sweep_runs(study, sweep)
        cap = (
            f"Static curve {label} (blue) and trained sweep {sweep.label} (orange): "
            "gap = MiniBS − FullBS vs b on log-log axes (circles ± 1 SE), each "
            "with the power-law fit of the comparison in its colour."
            + (f" Setting of the sweep: {run_setting(runs)}." if runs else "")
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
            ax.set_ylabel("gap = MiniBS − FullBS")
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
    from eoss.analysis.report.paper_figures import noise_references

    runs = {
        f"{noise_kind(r)} ({r.run_id})": r
        for r, _ in study.detections
        if noise_kind(r) != "none"
    }
    if not runs:
        return []
    refs = noise_references(study, list(runs.values()))
    runs |= refs
    figs = FigureSet(out)
    shown = ", ".join(sorted(k.split(" (")[0] for k in refs)) or "none recorded"
    cap = (
        "Noise-injected GD against plain SGD and GD (Fig. 10; plain runs at the "
        f"same η and n: {shown}): MiniBS (solid) and FullBS (dotted) in units of "
        "2/η, one colour per run (legend: kind and run); black line 2/η. "
        f"Setting: {run_setting(list(runs.values()))}."
    )
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
        cap = (
            f"Run {run.run_id} (Fig. 17). Left: MiniBS (blue) and the averaged "
            "mini-batch NTK λ_max (orange dashed) in units of 2/η against the step; "
            "black line 2/η. Right: each paired measurement (MiniBS, NTK λ_max) "
            f"with the line y = x. Setting: {run_setting([run])}."
        )
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
    refs: list[FigureRef] = []
    for maker in (
        sweep_figures,
        table_figures,
        comparison_figures,
        noise_figure,
        ntk_figures,
    ):
        refs += maker(study, out)
    from eoss.analysis.report.paper_figures import paper_figures
    from eoss.analysis.report.run_figures import trajectory_figures
    from eoss.analysis.report.symbolic import symbolic_figures

    refs += paper_figures(study, out)

    refs += symbolic_figures(study, out)
    return refs + trajectory_figures(study, out, max_trajectories)
