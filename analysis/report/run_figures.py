"""Figures of sharpness trajectories: Fig. 2 (one run), Figs. 3-5, the appendix grid.

Every panel is drawn by
:func:`eoss.analysis.report.plots.trajectories.plot_sharpness_trajectory` and every
caption names the series it draws from
:func:`~eoss.analysis.report.plots.trajectories.trajectory_series` (the union over
the panels), so a caption never promises per-step batch dots a run did not record.
Grids of panels share one legend above them
(:func:`eoss.analysis.report.plots.canvas.shared_legend`). A run forked with a
changed η or b is drawn after its source run up to the fork step
(:func:`fork_of`), so Figs. 3-5 show the change where it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.figure_ref import FigureRef, FigureSet
from eoss.analysis.report.plots.canvas import shared_legend
from eoss.analysis.report.plots.trajectories import (
    Fork,
    describe_series,
    drawn_phases,
    fork_step,
    plot_sharpness_trajectory,
    trajectory_series,
)
from eoss.analysis.report.setting import run_setting
from eoss.analysis.study.phases import phases
from eoss.analysis.study.study import Study


def fork_of(study: Study, run: RunTables) -> Fork | None:
    """Where ``run`` was forked from, with its source run when the study has it.

    The source is the study's run at the recorded path, else the one run with
    that folder name (records moved, e.g. a report rebuilt from ``OUT/raw``).

    Args:
        study: The study.
        run: A run.

    Returns:
        The fork (``source`` None when not found), or None for a fresh run.
    """
    found = fork_step(run)
    if found is None:
        return None
    path, step = found
    others = [r for r, _ in study.detections if r is not run]
    same = [r for r in others if r.path.resolve() == Path(path).resolve()]
    same = same or [r for r in others if r.run_id == Path(path).name]
    return Fork(step, same[0] if len(same) == 1 else None)


def trajectory_caption(
    runs: Sequence[RunTables],
    *,
    batch_sharpness: bool,
    forks: Sequence[Fork | None] = (),
) -> str:
    """What the trajectory panels of ``runs`` show, in caption words.

    Args:
        runs: The runs drawn (one panel each).
        batch_sharpness: Whether batch sharpness is drawn where recorded.
        forks: Per run, where it was forked from (empty: no forks).

    Returns:
        The series (union over the runs and their sources) and thresholds, e.g.
        ``MiniBS … ± 1 SE (blue line and band), FullBS … (red dots); 2/η (solid
        black) and 4/η (dashed black)``.
    """
    forks = list(forks) or [None] * len(runs)
    drawn = [*runs, *(f.source for f in forks if f is not None and f.source)]
    series = {
        k for r in drawn for k in trajectory_series(r, batch_sharpness=batch_sharpness)
    }
    changes = any(len(drawn_phases(r, f)) > 1 for r, f in zip(runs, forks, strict=True))
    text = describe_series(sorted(series), changes=changes)
    if any(f is not None and f.source is not None for f in forks):
        text += (
            "; a forked run's panel starts with its source run's trajectory up to "
            "the fork step"
        )
    return text


def _grid(
    figs: FigureSet,
    section: str,
    name: str,
    cap: str,
    runs: Sequence[RunTables],
    forks: Sequence[Fork | None],
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
        for ax, run, fork in zip(axes, runs, forks, strict=False):
            plot_sharpness_trajectory(
                ax, run, batch_sharpness=batch_sharpness, fork=fork
            )
            ax.set_title(run.run_id, fontsize=8)
        for ax in axes[len(runs) :]:
            ax.set_visible(False)
        shared_legend(axes)


def _count(runs: Sequence[RunTables]) -> str:
    return f"{len(runs)} run{'' if len(runs) == 1 else 's'}"


def _panel_order(runs: Sequence[RunTables]) -> list[RunTables]:
    """Fresh constant runs first, by (η, b, seed); then changed and forked runs."""

    def key(r: RunTables) -> tuple:
        changed = len(phases(r)) > 1 or fork_step(r) is not None
        return (changed, r.lr or 0.0, r.batch_size or 0, r.seed or 0, r.run_id)

    return sorted(runs, key=key)


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
    runs = _panel_order(runs)
    forks = [fork_of(study, r) for r in runs]
    figs = FigureSet(out)
    cap = (
        f"Per-run trajectories ({_count(runs)}, one panel each, titled by run; "
        f"raw sharpness against the step): "
        f"{trajectory_caption(runs, batch_sharpness=True, forks=forks)}. "
        f"Setting: {run_setting(runs)}."
    )
    _grid(
        figs,
        "appendix",
        "trajectories",
        cap,
        runs,
        forks,
        batch_sharpness=True,
        ncols=3,
        size=(4.2, 2.9),
    )
    return figs.refs


def _plain(run: RunTables) -> bool:
    return (run.noise_kind or "none") == "none"


def representative_run(study: Study) -> RunTables | None:
    """The run Fig. 2 shows: one with a ``step_sharpness`` table.

    Preferred, in order: a fresh plain SGD/GD run of one phase (no fork, no
    change, no noise) at EoSS; such a run that reached 2/η; any plain run; any
    run. Among the first tier that has runs, the run of median b (ties: first
    by path).

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

    def fresh(r: RunTables) -> bool:
        return _plain(r) and len(phases(r)) == 1 and fork_step(r) is None

    tiers = (
        [r for r, d in cands if fresh(r) and d.first.status == "eoss"],
        [r for r, d in cands if fresh(r) and d.first.reached],
        [r for r, _ in cands if _plain(r)],
        [r for r, _ in cands],
    )
    best = sorted(next(t for t in tiers if t), key=lambda r: r.batch_size or 0)
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
        plot_sharpness_trajectory(ax, run, fork=fork_of(study, run))
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
    runs = [r for r, _ in study.detections if r.has("minibs") or r.has("fullbs")]
    forks = {r.run_id: fork_of(study, r) for r in runs}
    runs = [r for r in runs if len(drawn_phases(r, forks[r.run_id])) > 1]
    if not runs:
        return []
    runs = _panel_order(runs)
    figs = FigureSet(out)
    shown = [forks[r.run_id] for r in runs]
    sources = [f.source for f in shown if f is not None and f.source is not None]
    cap = (
        f"η and b changes (Figs. 3-5; {_count(runs)}, one panel each, titled by "
        f"run): {trajectory_caption(runs, batch_sharpness=False, forks=shown)}. "
        f"Setting{' (with the runs forked from)' if sources else ''}: "
        f"{run_setting([*runs, *sources])}."
    )
    _grid(
        figs,
        "runs",
        "schedule_changes",
        cap,
        runs,
        shown,
        batch_sharpness=False,
        ncols=2,
        size=(5.0, 3.4),
    )
    return figs.refs
