"""Figures of sharpness trajectories: Fig. 2 (one run), Figs. 3-5, the appendix grid.

Every panel is drawn by
:func:`eoss.analysis.report.plots.trajectories.plot_sharpness_trajectory` and every
caption names the series it draws from
:func:`~eoss.analysis.report.plots.trajectories.trajectory_series` (the union over
the panels), so a caption never promises per-step batch dots a run did not record.
Grids of panels share one legend above them
(:func:`eoss.analysis.report.plots.canvas.shared_legend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.figure_ref import FigureRef, FigureSet
from eoss.analysis.report.plots.canvas import shared_legend
from eoss.analysis.report.plots.trajectories import (
    describe_series,
    plot_sharpness_trajectory,
    trajectory_series,
)
from eoss.analysis.report.setting import run_setting
from eoss.analysis.study.phases import phases
from eoss.analysis.study.study import Study


def trajectory_caption(runs: Sequence[RunTables], *, batch_sharpness: bool) -> str:
    """What the trajectory panels of ``runs`` show, in caption words.

    Args:
        runs: The runs drawn (one panel each).
        batch_sharpness: Whether batch sharpness is drawn where recorded.

    Returns:
        The series (union over the runs) and thresholds, e.g. ``MiniBS … ± 1 SE
        (blue line and band), FullBS … (red dots); 2/η (solid black) and 4/η
        (dashed black)``.
    """
    series = {
        k for r in runs for k in trajectory_series(r, batch_sharpness=batch_sharpness)
    }
    changes = any(len(phases(r)) > 1 for r in runs)
    return describe_series(sorted(series), changes=changes)


def _grid(
    figs: FigureSet,
    section: str,
    name: str,
    cap: str,
    runs: Sequence[RunTables],
    *,
    batch_sharpness: bool,
    ncols: int,
    size: tuple[float, float],
) -> None:
    """Small multiples: one titled panel per run, one legend above the grid."""
    ncols = min(ncols, len(runs))
    nrows = -(-len(runs) // ncols)
    with figs.figure(section, name, cap, size=size, ncols=ncols, nrows=nrows) as axes:
        axes = axes if isinstance(axes, list) else [axes]
        for ax, run in zip(axes, runs, strict=False):
            plot_sharpness_trajectory(ax, run, batch_sharpness=batch_sharpness)
            ax.set_title(run.run_id, fontsize=8)
        for ax in axes[len(runs) :]:
            ax.set_visible(False)
        shared_legend(axes)


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
    figs = FigureSet(out)
    cap = (
        f"Per-run trajectories ({len(runs)} runs, one panel each, titled by run; "
        f"raw sharpness against the step): "
        f"{trajectory_caption(runs, batch_sharpness=True)}. "
        f"Setting: {run_setting(runs)}."
    )
    _grid(
        figs,
        "appendix",
        "trajectories",
        cap,
        runs,
        batch_sharpness=True,
        ncols=3,
        size=(4.2, 2.9),
    )
    return figs.refs


def _plain(run: RunTables) -> bool:
    return (run.noise_kind or "none") == "none"


def representative_run(study: Study) -> RunTables | None:
    """The run Fig. 2 shows: one with a ``step_sharpness`` table.

    Preferred: plain SGD/GD, one phase, first phase at EoSS; among those the run
    of median b (ties: first by path). Falls back to any run with the table.

    Args:
        study: The study.

    Returns:
        The run, or None when no run recorded per-step sharpness.
    """
    cands = [
        (r, d)
        for r, d in study.detections
        if r.has("step_sharpness") and len(r.column("step_sharpness", "step"))
    ]
    if not cands:
        return None
    best = [
        r
        for r, d in cands
        if _plain(r) and len(phases(r)) == 1 and d.first.status == "eoss"
    ] or [r for r, _ in cands]
    best = sorted(best, key=lambda r: r.batch_size or 0)
    return best[(len(best) - 1) // 2]


def batch_cloud_figure(study: Study, out: Path) -> list[FigureRef]:
    """Fig. 2: per-step λ_max(H_B) cloud with MiniBS and FullBS for one run.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        Zero or one figure.
    """
    run = representative_run(study)
    if run is None:
        return []
    figs = FigureSet(out)
    cap = (
        f"Representative run {run.run_id} (Fig. 2): "
        f"{trajectory_caption([run], batch_sharpness=False)}. "
        f"Setting: {run_setting([run])}."
    )
    with figs.figure("runs", "batch_cloud", cap, size=(6.5, 4.0)) as ax:
        plot_sharpness_trajectory(ax, run)
        shared_legend([ax])
    return figs.refs


def schedule_figure(study: Study, out: Path) -> list[FigureRef]:
    """Figs. 3-5: every run whose η or b changed, one panel each.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        Zero or one figure.
    """
    runs = [r for r, _ in study.detections if len(phases(r)) > 1]
    runs = [r for r in runs if r.has("minibs") or r.has("fullbs")]
    if not runs:
        return []
    figs = FigureSet(out)
    cap = (
        f"η and b changes (Figs. 3-5; {len(runs)} runs, one panel each, titled by "
        f"run): {trajectory_caption(runs, batch_sharpness=False)}. "
        f"Setting: {run_setting(runs)}."
    )
    _grid(
        figs,
        "runs",
        "schedule_changes",
        cap,
        runs,
        batch_sharpness=False,
        ncols=2,
        size=(5.0, 3.4),
    )
    return figs.refs
