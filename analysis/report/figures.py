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
    plot_gap_vs_inverse_b,
    plot_plateaus_vs_batch,
    plot_reference_slopes,
)
from eoss.analysis.report.plots.gap_simulation import plot_gap_curve
from eoss.analysis.report.plots.noise_variants import plot_noise_variants
from eoss.analysis.report.plots.ntk import plot_ntk_scatter, plot_ntk_trajectory
from eoss.analysis.report.plots.sweep_overview import plot_sweep_overview
from eoss.analysis.report.plots.trajectories import plot_sharpness_trajectory
from eoss.analysis.report.setting import run_setting
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
    """Every run's Fig. 2-type trajectory as one appendix grid (the first ``limit``).

    Args:
        study: The study.
        out: Report folder.
        limit: Most runs drawn (None: all).

    Returns:
        The figure (none when no run tracked sharpness).
    """
    runs = [r for r, _ in study.detections if r.has("minibs") or r.has("fullbs")]
    runs = runs[:limit] if limit is not None else runs
    if not runs:
        return []
    figs, ncols = FigureSet(out), min(3, len(runs))
    nrows = -(-len(runs) // ncols)
    cap = (
        f"Per-run trajectories ({len(runs)} runs, one panel each, titled by run): "
        "λ_max(H_B) of each step's batch (dots), MiniBS ± SE, FullBS, 2/η and 4/η. "
        f"Setting: {run_setting(runs)}."
    )
    size = (4.2, 2.9)
    with figs.figure(
        "appendix", "trajectories", cap, size=size, ncols=ncols, nrows=nrows
    ) as axes:
        axes = axes if isinstance(axes, list) else [axes]
        for ax, run in zip(axes, runs, strict=False):
            plot_sharpness_trajectory(ax, run, batch_sharpness=True)
            ax.set_title(run.run_id, fontsize=7)
            if ax is not axes[0] and ax.get_legend() is not None:
                ax.get_legend().remove()  # one legend for the grid
        for ax in axes[len(runs) :]:
            ax.set_visible(False)
    return figs.refs


def _sweep_runs(study: Study, s: Any) -> list[Any]:
    """The runs of a sweep (at EoSS or excluded), by id."""
    ids = {i for group in s.run_ids for i in group} | set(s.excluded)
    return [r for r, _ in study.detections if r.run_id in ids]


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
        runs = _sweep_runs(study, s)
        setting = f" Setting: {run_setting(runs)}." if runs else ""
        if runs:
            cap = (
                f"Sweep {i} ({s.label}): MiniBS (solid, dots = measurements) and "
                "FullBS (dashed) in units of 2/η against the step, one colour per "
                f"b; the dotted line is 2/η.{setting}"
            )
            with figs.figure(
                "sweeps", f"sweep{i}_overview", cap, size=(6.5, 4.0)
            ) as ax:
                plot_sweep_overview(ax, runs)
        if len(s.batch_size) == 0:
            continue  # no run of the sweep reached EoSS: nothing to plot
        cap = (
            f"Sweep {i} ({s.label}): plateau gap vs b (circles ± 1 SE), power-law "
            "fits per window (BIC-preferred segmented fit in black when K > 1), "
            f"b^-1 and b^-0.7 guides.{setting}"
        )
        with figs.figure("sweeps", f"sweep{i}_gap", cap, size=(5.5, 3.8)) as ax:
            draw_curve(
                ax,
                study.sweep_fits[s.key],
                ("all", MID.name, LARGE.name),
                f"trained plateau gap, {s.label}",
            )
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
    draw_curve(right, cf, ("all", "far", "near"), title)


def _table_setting(table: GapTable | None) -> str:
    """`` Setting: ...`` of a static curve or simulation, from its config."""
    c = {} if table is None else table.config
    keys = (
        ("n", c.get("n_train", c.get("n"))),
        ("K", c.get("n_batches", c.get("batches"))),
        ("loss", c.get("loss")),
        ("checkpoint step", c.get("step")),
        ("family", c.get("family")),
        ("dim", c.get("dim")),
        ("sampling", c.get("sampling")),
        ("seed", c.get("seed")),
    )
    parts = [f"{k} = {v}" for k, v in keys if v is not None]
    return f" Setting: {', '.join(parts)}." if parts else ""


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
    caption = (
        "gap vs b (circles ± 1 SE; b ≥ n omitted when drawn without replacement, "
        "machine-zero values omitted) with "
        f"power-law fits (far = b ≤ n/{1 / FAR_FRACTION:g}, "
        f"near = b ≥ n/{1 / NEAR_FRACTION:g})"
    )
    for kind, fits in (
        ("static", study.static_fits),
        ("simulation", study.simulate_fits),
    ):
        for i, (label, cf) in enumerate(sorted(fits.items())):
            title = f"{kind}: {label}"
            setting = _table_setting(tables.get(label))
            cap = f"{kind.capitalize()} {label}: {caption}.{setting}"
            if kind == "simulation":
                with figs.figure(
                    kind, f"{kind}{i}_gap", cap, size=(5.0, 3.8), ncols=2
                ) as axes:
                    _draw_simulation(axes, tables[label], cf, title)
            else:
                cap = (
                    f"{kind.capitalize()} {label} (Fig. 9). Left: {caption}. Right: "
                    "the same gaps (circles ± 1 SE) against 1/b on linear axes, "
                    f"black line at 0.{setting}"
                )
                with figs.figure(
                    kind, f"{kind}{i}_gap", cap, size=(5.0, 3.8), ncols=2
                ) as axes:
                    draw_curve(axes[0], cf, ("all", "far", "near"), title)
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
    from eoss.analysis.report.symbolic import symbolic_figures

    refs += paper_figures(study, out)

    refs += symbolic_figures(study, out)
    return refs + trajectory_figures(study, out, max_trajectories)
