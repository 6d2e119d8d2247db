"""Sharpness trajectories of one training run (the paper's Figs. 2-5).

Per-step λ_max of the step's own batch as grey dots (when the run recorded a
``step_sharpness`` table), MiniBS as a line with its ±1 SE band, batch sharpness
dashed (optional), FullBS as red dots, the thresholds 2/η and 4/η as lines that
follow the learning-rate schedule, and vertical markers where η or b changed.
A run forked from another with a changed η or b (``eoss train --fork``) records
only its own steps; given its source run, its panel starts with the source's
trajectory up to the fork step (:class:`Fork`), so the change sits where it
happened, with the old 2/η before it and the new one after.
:func:`trajectory_series` says which of these a run gives and
:func:`describe_series` words them for a caption, so a caption names exactly what
is drawn. Helpers draw on a given Axes and return the artists they made; only
:func:`eoss.analysis.report.plots.canvas.save_figure` writes files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from numpy.typing import NDArray

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.plots.canvas import step_axis
from eoss.analysis.study.phases import Phase, phases

COLORS = {
    "batch": "0.6",
    "minibs": "tab:blue",
    "fullbs": "tab:red",
    "batch_sharpness": "tab:green",
    "threshold": "black",
    "change": "tab:purple",
}

#: Legend label of each data series (:func:`trajectory_series` keys).
LABELS = {
    "batch": "λ_max(H_B), step batch",
    "minibs": "MiniBS ± SE",
    "batch_sharpness": "batch sharpness",
    "fullbs": "FullBS",
}

#: Caption wording of each series: what it is and how it is drawn.
_WORDS = {
    "batch": "λ_max(H_B) of the batch taken at each measured step (grey dots)",
    "minibs": ("MiniBS (mean of λ_max(H_B) over batches) ± 1 SE (blue line and band)"),
    "batch_sharpness": "batch sharpness E_B[gᵀH_B g/‖g‖²] (green dashed line)",
    "fullbs": "FullBS = λ_max of the full-batch Hessian (red dots)",
}


def _recorded(run: RunTables, table: str, column: str) -> bool:
    return run.has(table) and bool(np.isfinite(run.column(table, column)).any())


def trajectory_series(
    run: RunTables, *, batch_sharpness: bool = False
) -> tuple[str, ...]:
    """The data series :func:`plot_sharpness_trajectory` draws for ``run``.

    Args:
        run: The run's tables.
        batch_sharpness: Whether batch sharpness is asked for.

    Returns:
        Keys of :data:`LABELS`, in drawing order; only those with data.
    """
    wanted = {
        "batch": _recorded(run, "step_sharpness", "lambda_max"),
        "minibs": _recorded(run, "minibs", "minibs"),
        "batch_sharpness": batch_sharpness
        and _recorded(run, "minibs", "batch_sharpness"),
        "fullbs": _recorded(run, "fullbs", "fullbs"),
    }
    return tuple(k for k in LABELS if wanted[k])


def describe_series(series: Sequence[str], *, changes: bool = False) -> str:
    """Caption text for trajectories showing ``series`` (and the thresholds).

    Args:
        series: Keys from :func:`trajectory_series` (a union over panels).
        changes: Some panel marks an η or b change.

    Returns:
        e.g. ``MiniBS … (blue line and band), FullBS … (red dots); 2/η (solid
        black) and 4/η (dashed black)``.
    """
    text = ", ".join(_WORDS[k] for k in LABELS if k in series)
    text = (text + "; " if text else "") + "2/η (solid black) and 4/η (dashed black)"
    if changes:
        text += (
            ", drawn per phase, so the new 2/η starts at the change (dotted purple "
            "line, labelled with the new η or b)"
        )
    return text


def plot_thresholds(ax: Axes, run_phases: Sequence[Phase]) -> list[Artist]:
    """Draw 2/η (solid) and 4/η (dashed) over each phase's step range.

    Args:
        ax: Target axes.
        run_phases: The run's phases.

    Returns:
        The line artists.
    """
    out: list[Artist] = []
    for i, ph in enumerate(run_phases):
        for mult, style in ((2.0, "-"), (4.0, "--")):
            label = None if i else (f"{mult:.0f}/η")
            out.append(
                ax.hlines(
                    mult / ph.lr,
                    ph.start,
                    ph.end,
                    colors=COLORS["threshold"],
                    linestyles=style,
                    linewidth=1.0,
                    label=label,
                )
            )
    return out


def plot_changes(ax: Axes, run_phases: Sequence[Phase]) -> list[Artist]:
    """Vertical markers at η / b changes, labelled with the new value.

    Args:
        ax: Target axes.
        run_phases: The run's phases.

    Returns:
        The marker and text artists.
    """
    out: list[Artist] = []
    for prev, ph in zip(run_phases[:-1], run_phases[1:], strict=True):
        parts = []
        if ph.lr != prev.lr:
            parts.append(f"η→{ph.lr:g}")
        if ph.batch_size != prev.batch_size:
            parts.append(f"b→{ph.batch_size}")
        out.append(ax.axvline(ph.start, color=COLORS["change"], linestyle=":", lw=1.2))
        out.append(
            ax.annotate(
                ", ".join(parts),
                (ph.start, 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, 4),
                textcoords="offset points",
                fontsize=8,
                color=COLORS["change"],
            )
        )
    return out


@dataclass(frozen=True)
class Fork:
    """Where a forked run came from: its source run and the fork step.

    Attributes:
        step: The source's step the fork started from (the fork's first step).
        source: The source run's tables, or None when not among the inputs.
    """

    step: int
    source: RunTables | None = None


def fork_step(run: RunTables) -> tuple[str, int] | None:
    """The source path and step of a forked run (its ``fork`` event), else None.

    Args:
        run: The run's tables.

    Returns:
        ``(source path as recorded, fork step)`` or None for a fresh run.
    """
    for e in run.events:
        old, step = e.get("old"), e.get("step")
        if e.get("kind") == "fork" and isinstance(old, str) and _is_number(step):
            return old, int(step)
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _upto(run: RunTables, table: str, last: float | None) -> NDArray[np.bool_]:
    """Rows of ``table`` at steps ≤ ``last`` (all rows when None)."""
    steps = run.column(table, "step")
    return np.ones(len(steps), bool) if last is None else steps <= last


def plot_minibs(
    ax: Axes, run: RunTables, *, batch_sharpness: bool, last: float | None = None
) -> list[Artist]:
    """MiniBS as a line with its ±1 SE band (and batch sharpness, dashed).

    Args:
        ax: Target axes.
        run: The run's tables.
        batch_sharpness: Also draw batch sharpness when recorded.
        last: Draw only steps ≤ ``last`` (None: all), unlabelled when given
            (a fork's source, whose series the fork's own labels name).

    Returns:
        The artists.
    """
    keep = _upto(run, "minibs", last)
    s, mb, se = (run.column("minibs", k)[keep] for k in ("step", "minibs", "minibs_se"))
    if not np.isfinite(mb).any():
        return []
    se = np.nan_to_num(se, nan=0.0)
    c = COLORS["minibs"]
    out: list[Artist] = [
        ax.fill_between(s, mb - se, mb + se, color=c, alpha=0.25, lw=0)
    ]
    labels = {k: None if last is not None else v for k, v in LABELS.items()}
    out += ax.plot(s, mb, color=c, lw=1.5, label=labels["minibs"])
    bs = run.column("minibs", "batch_sharpness")[keep]
    if batch_sharpness and np.isfinite(bs).any():
        c = COLORS["batch_sharpness"]
        out += ax.plot(s, bs, color=c, lw=1.2, ls="--", label=labels["batch_sharpness"])
    return out


def _points(
    ax: Axes, run: RunTables, *, batch_sharpness: bool, last: float | None
) -> list[Artist]:
    """Per-step batch λ_max (grey) and MiniBS/FullBS of one run, up to ``last``."""
    series = trajectory_series(run, batch_sharpness=batch_sharpness)
    labels = {k: None if last is not None else v for k, v in LABELS.items()}
    out: list[Artist] = []
    if "batch" in series:
        keep = _upto(run, "step_sharpness", last)
        s, lam = (run.column("step_sharpness", k)[keep] for k in ("step", "lambda_max"))
        out.append(
            ax.scatter(
                s, lam, s=4, color=COLORS["batch"], label=labels["batch"], zorder=1
            )
        )
    out += plot_minibs(ax, run, batch_sharpness=batch_sharpness, last=last)
    if "fullbs" in series:
        keep = _upto(run, "fullbs", last)
        s, fb = (run.column("fullbs", k)[keep] for k in ("step", "fullbs"))
        out.append(
            ax.scatter(
                s, fb, s=12, color=COLORS["fullbs"], label=labels["fullbs"], zorder=3
            )
        )
    return out


def drawn_phases(run: RunTables, fork: Fork | None = None) -> list[Phase]:
    """The phases a trajectory panel marks: the run's, after its source's.

    A fork's first phase starts at the fork step (not at 0); the source's phases
    up to the fork step come before it, so :func:`plot_changes` marks the change
    at the fork step.

    Args:
        run: The run.
        fork: Where it was forked from (None: a fresh run).

    Returns:
        Phases in step order (re-indexed from 0).
    """
    own = phases(run)
    if fork is None:
        return own
    own = [replace(own[0], start=max(own[0].start, fork.step)), *own[1:]]
    before = [] if fork.source is None else phases(fork.source)
    before = [
        replace(p, end=min(p.end, fork.step)) for p in before if p.start < fork.step
    ]
    return [replace(p, index=i) for i, p in enumerate([*before, *own])]


def plot_sharpness_trajectory(
    ax: Axes,
    run: RunTables,
    *,
    batch_sharpness: bool = False,
    fork: Fork | None = None,
) -> list[Artist]:
    """The Fig. 2-type trajectory of one run.

    Args:
        ax: Target axes.
        run: The run's tables.
        batch_sharpness: Also draw batch sharpness E[gᵀH_B g/‖g‖²] (dashed).
        fork: For a forked run, its fork step and source (whose trajectory up to
            the fork step is drawn first, in the same styles).

    Returns:
        All artists drawn.
    """
    out: list[Artist] = []
    if fork is not None and fork.source is not None:
        out += _points(ax, fork.source, batch_sharpness=batch_sharpness, last=fork.step)
    out += _points(ax, run, batch_sharpness=batch_sharpness, last=None)
    run_phases = drawn_phases(run, fork)
    out += plot_thresholds(ax, run_phases)
    out += plot_changes(ax, run_phases)
    step_axis(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness")
    ax.set_title(run.run_id, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return out
