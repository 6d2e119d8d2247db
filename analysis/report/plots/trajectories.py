"""Sharpness trajectories of one training run (the paper's Figs. 2-5).

Per-step λ_max of the step's own batch as dots, MiniBS as a line with its ±1 SE band,
FullBS as dots, the thresholds 2/η and 4/η as lines that follow the learning-rate
schedule, and vertical markers where η or b changed. Helpers draw on a given Axes
and return the artists they made; only
:func:`eoss.analysis.report.plots.canvas.save_figure`
writes files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from eoss.analysis.records.reader import RunTables
from eoss.analysis.study.phases import Phase, phases

COLORS = {
    "batch": "0.6",
    "minibs": "tab:blue",
    "fullbs": "tab:red",
    "batch_sharpness": "tab:green",
    "threshold": "black",
    "change": "tab:purple",
}


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


def plot_minibs(ax: Axes, run: RunTables, *, batch_sharpness: bool) -> list[Artist]:
    """MiniBS as a line with its ±1 SE band (and batch sharpness, dashed).

    Args:
        ax: Target axes.
        run: The run's tables.
        batch_sharpness: Also draw batch sharpness when recorded.

    Returns:
        The artists.
    """
    s, mb, se = (run.column("minibs", k) for k in ("step", "minibs", "minibs_se"))
    if not len(s):
        return []
    se = np.nan_to_num(se, nan=0.0)
    c = COLORS["minibs"]
    out: list[Artist] = [
        ax.fill_between(s, mb - se, mb + se, color=c, alpha=0.25, lw=0)
    ]
    out += ax.plot(s, mb, color=c, lw=1.5, label="MiniBS ± SE")
    bs = run.column("minibs", "batch_sharpness")
    if batch_sharpness and np.isfinite(bs).any():
        c = COLORS["batch_sharpness"]
        out += ax.plot(s, bs, color=c, lw=1.2, ls="--", label="batch sharpness")
    return out


def plot_sharpness_trajectory(
    ax: Axes, run: RunTables, *, batch_sharpness: bool = False
) -> list[Artist]:
    """The Fig. 2-type trajectory of one run.

    Args:
        ax: Target axes.
        run: The run's tables.
        batch_sharpness: Also draw batch sharpness E[gᵀH_B g/‖g‖²] (dashed).

    Returns:
        All artists drawn.
    """
    out: list[Artist] = []
    s, lam = (run.column("step_sharpness", k) for k in ("step", "lambda_max"))
    if len(s):
        label = "λ_max(H_B), step batch"
        out.append(
            ax.scatter(s, lam, s=4, color=COLORS["batch"], label=label, zorder=1)
        )
    out += plot_minibs(ax, run, batch_sharpness=batch_sharpness)
    s, fb = run.column("fullbs", "step"), run.column("fullbs", "fullbs")
    if len(s):
        out.append(
            ax.scatter(s, fb, s=12, color=COLORS["fullbs"], label="FullBS", zorder=3)
        )
    run_phases = phases(run)
    out += plot_thresholds(ax, run_phases)
    out += plot_changes(ax, run_phases)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness")
    ax.set_title(run.run_id, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return out
