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

from eoss.analysis.report.curves import curve_caption, draw_curve, table_setting
from eoss.analysis.report.figure_ref import PALETTE, FigureRef, FigureSet
from eoss.analysis.report.plots.gap_scaling import (
    plot_fit,
    plot_gap_points,
    plot_gap_vs_inverse_b,
    plot_plateau_levels,
    plot_plateaus_vs_batch,
)
from eoss.analysis.report.plots.gap_simulation import plot_gap_curve
from eoss.analysis.report.plots.noise_variants import plot_noise_variants
from eoss.analysis.report.plots.sweep_overview import plot_sweep_overview
from eoss.analysis.report.setting import run_setting
from eoss.analysis.report.unfitted import unfitted_levels
from eoss.analysis.study.gap_fits import LARGE, MID, CurveFits
from eoss.analysis.study.inputs import GapTable
from eoss.analysis.study.study import Study


def _sweep_runs(study: Study, s: Any) -> list[Any]:
    """The runs of a sweep (at EoSS or excluded), by id."""
    ids = {i for group in s.run_ids for i in group} | set(s.excluded)
    return [r for r, _ in study.detections if r.run_id in ids]


def sweep_figures(study: Study, out: Path) -> list[FigureRef]:
    """Per sweep: MiniBS/FullBS vs step, plateau gap vs b with fits, plateaus vs b.

    Runs that reached 2/η but are not at EoSS are drawn as open markers (never
    fitted), so a sweep with no stationary run still shows what was measured.

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
        rest = unfitted_levels(study, s)
        if len(s.batch_size) == 0 and rest is None:
            continue  # no run of the sweep reached 2/η: nothing to plot
        hollow = f"; {rest.words}" if rest is not None else ""
        cf, windows = study.sweep_fits[s.key], ("all", MID.name, LARGE.name)
        at_eoss = len(s.batch_size) > 0
        none = "no run at EoSS"
        filled = "one filled circle (± 1 SE) per run at EoSS, used in the fits"
        cap = (
            f"Sweep {i} ({s.label}): plateau gap vs b on log-log axes, "
            f"{filled if at_eoss else none}{hollow}; "
            f"{curve_caption(cf, windows)}.{setting}"
        )
        with figs.figure("sweeps", f"sweep{i}_gap", cap, size=(5.5, 3.8)) as ax:
            draw_curve(ax, cf, windows, f"trained plateau gap, {s.label}")
            if rest is not None:
                label = "not at EoSS (not fitted)"
                plot_gap_points(
                    ax, rest.b, rest.gap, rest.gap_se, label=label, color="0.4",
                    hollow=True,
                )  # fmt: skip
                ax.legend(fontsize=6)
        joined = "filled circles joined for the b at EoSS"
        cap = (
            f"Sweep {i}: MiniBS (blue) and FullBS (red) plateaus (± 1 SE) in units "
            f"of 2/η vs b (Fig. 6), {joined if at_eoss else none}{hollow}; black "
            f"lines 2/η (solid) and 4/η (dashed).{setting}"
        )
        with figs.figure("sweeps", f"sweep{i}_plateaus", cap, size=(5.5, 3.8)) as ax:
            plot_plateaus_vs_batch(
                ax, s.batch_size, s.minibs, s.minibs_se, s.fullbs, s.fullbs_se
            )
            if rest is not None:
                plot_plateau_levels(
                    ax, rest.b, *rest.levels.T, hollow=True, suffix=" (not at EoSS)"
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


def _frozen_from(study: Study, table: GapTable | None) -> str:
    """`` Frozen network: ...`` naming the trained run a static curve froze."""
    path = None if table is None else table.config.get("run")
    if not isinstance(path, str):
        return ""
    runs = [r for r, _ in study.detections]
    same = [r for r in runs if r.path.resolve() == Path(path).resolve()]
    same = same or [r for r in runs if r.run_id == Path(path).name]
    if len(same) != 1:
        return f" Frozen network: {Path(path).name}."
    return f" Frozen network: run {same[0].run_id} ({run_setting(same)})."


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
            if kind == "static":
                setting += _frozen_from(study, tables.get(label))
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
    ):
        refs += maker(study, out)
    from eoss.analysis.report.paper_figures import ntk_runs_figure, paper_figures
    from eoss.analysis.report.run_figures import trajectory_figures
    from eoss.analysis.report.symbolic import symbolic_figures

    refs += paper_figures(study, out)

    refs += symbolic_figures(study, out)
    refs += trajectory_figures(study, out, max_trajectories)
    return refs + ntk_runs_figure(study, out, max_trajectories)
