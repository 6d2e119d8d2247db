"""MiniBS against the averaged mini-batch NTK λ_max (the paper's Fig. 17).

The NTK / Gauss–Newton Gram matrix of a batch is the Hessian without its residual
term, so its λ_max tracks MiniBS from below when residuals are small. Both are drawn
along training (units of 2/η) and against each other with the line y = x.
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.plots.canvas import step_axis
from eoss.analysis.study.phases import phases


def plot_ntk_trajectory(ax: Axes, run: RunTables) -> list[Artist]:
    """MiniBS and NTK λ_max along training, in units of 2/η of the first phase.

    Args:
        ax: Target axes.
        run: A run with ``minibs`` and ``ntk`` tables.

    Returns:
        The artists.
    """
    lr = phases(run)[0].lr
    out: list[Artist] = []
    s, mb = run.column("minibs", "step"), run.column("minibs", "minibs")
    out += ax.plot(s, mb * lr / 2, color="tab:blue", lw=1.4, label="MiniBS")
    s, nt = run.column("ntk", "step"), run.column("ntk", "ntk_lambda_max")
    out += ax.plot(
        s, nt * lr / 2, color="tab:orange", lw=1.2, ls="--", label="NTK λ_max"
    )
    out.append(ax.axhline(1.0, color="black", lw=1.0))
    step_axis(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness / (2/η)")
    ax.legend(fontsize=7)
    return out


def plot_ntk_scatter(
    ax: Axes, minibs: np.ndarray, ntk: np.ndarray, *, label: str = ""
) -> list[Artist]:
    """Paired (MiniBS, NTK λ_max) measurements with the identity line.

    Args:
        ax: Target axes.
        minibs: MiniBS values, shape (n,).
        ntk: NTK λ_max at the same steps, shape (n,).
        label: Legend label.

    Returns:
        The artists.
    """
    out: list[Artist] = [ax.scatter(minibs, ntk, s=10, label=label or None)]
    finite = np.concatenate([minibs, ntk])
    finite = finite[np.isfinite(finite)]
    if len(finite):
        lo, hi = float(finite.min()), float(finite.max())
        out += ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, label="y = x")
    ax.set_xlabel("MiniBS")
    ax.set_ylabel("averaged NTK λ_max")
    return out


def plot_ntk_vs_batch(
    ax: Axes,
    b: np.ndarray,
    minibs: np.ndarray,
    minibs_sd: np.ndarray,
    ntk: np.ndarray,
    ntk_sd: np.ndarray,
) -> list[Artist]:
    """MiniBS and averaged-NTK λ_max levels (units of 2/η) against b.

    Markers only: replicate runs share a b, and a line through them would zigzag.

    Args:
        ax: Target axes.
        b: Batch size per run, shape (m,).
        minibs: MiniBS level / (2/η) per run.
        minibs_sd: Its spread (error bars).
        ntk: NTK λ_max level / (2/η) per run.
        ntk_sd: Its spread.

    Returns:
        The artists.
    """
    order = np.argsort(b, kind="stable")
    out: list[Artist] = []
    for y, e, name, color, fmt in (
        (minibs, minibs_sd, "MiniBS", "tab:blue", "o"),
        (ntk, ntk_sd, "NTK λ_max", "tab:orange", "s"),
    ):
        cont = ax.errorbar(
            b[order],
            y[order],
            yerr=e[order],
            fmt=fmt,
            color=color,
            ms=4,
            capsize=2,
            label=name,
        )
        out += list(cont.get_children())
    out.append(ax.axhline(1.0, color="black", lw=1.0, label="2/η"))
    ax.set_xscale("log")
    ax.set_xlabel("batch size b")
    ax.set_ylabel("level / (2/η)")
    return out
