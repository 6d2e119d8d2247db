"""Noise-injected GD variants against SGD (the paper's Fig. 10).

For each variant (SGD, GD + full-covariance noise, + diagonal, + isotropic) the MiniBS
trajectory (solid) and FullBS (dotted) in units of 2/η, so that EoSS (MiniBS at 1,
FullBS below) and classical EoS (FullBS at 1) can be told apart at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.artist import Artist
from matplotlib.axes import Axes

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.plots.canvas import step_axis
from eoss.analysis.study.phases import phases

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def plot_noise_variants(ax: Axes, runs: Mapping[str, RunTables]) -> list[Artist]:
    """Normalised MiniBS and FullBS trajectories of several runs.

    Args:
        ax: Target axes.
        runs: Label → run, drawn in sorted label order with a fixed palette.

    Returns:
        The artists.
    """
    out: list[Artist] = []
    for i, label in enumerate(sorted(runs)):
        run, color = runs[label], PALETTE[i % len(PALETTE)]
        lr = phases(run)[0].lr
        s, mb = run.column("minibs", "step"), run.column("minibs", "minibs")
        out += ax.plot(s, mb * lr / 2, color=color, lw=1.4, label=f"{label}: MiniBS")
        s, fb = run.column("fullbs", "step"), run.column("fullbs", "fullbs")
        out += ax.plot(
            s, fb * lr / 2, color=color, lw=1.0, ls=":", label=f"{label}: FullBS"
        )
    out.append(ax.axhline(1.0, color="black", lw=1.0))
    step_axis(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness / (2/η)")
    # outside the axes: the curves start at the top left, where a legend would sit
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return out
