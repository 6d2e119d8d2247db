"""MiniBS and FullBS against the step for every b of a sweep on one axes (Fig. 1).

Both are in units of 2/η, so the EoSS level is 1 for every run whatever its η;
one colour per b (light to dark as b grows), MiniBS solid with dots, FullBS
dashed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.plots.canvas import step_axis


def batch_colours(sizes: Sequence[int]) -> dict[int, tuple[float, ...]]:
    """One viridis colour per batch size, light to dark as b grows.

    Args:
        sizes: Batch sizes (repeats allowed).

    Returns:
        b → RGBA colour (the same b always gets the same colour in a figure).
    """
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    order = sorted(set(sizes))
    return {b: cmap(0.9 * i / max(len(order) - 1, 1)) for i, b in enumerate(order)}


def plot_sweep_overview(ax: Axes, runs: Sequence[RunTables]) -> list[Artist]:
    """MiniBS·η/2 (solid) and FullBS·η/2 (dashed) vs step, one colour per b.

    Args:
        ax: Target axes.
        runs: The sweep's runs (each with ``lr`` and ``batch_size`` recorded).

    Returns:
        The lines drawn.
    """
    order = sorted(runs, key=lambda r: (r.batch_size or 0, r.seed or 0))
    colour = batch_colours([r.batch_size for r in order if r.batch_size])
    out: list[Artist] = []
    labelled: set[int] = set()
    for run in order:
        if not run.lr or not run.batch_size:
            continue
        half = run.lr / 2  # value · η/2 = value / (2/η)
        c = colour[run.batch_size]
        label = None if run.batch_size in labelled else f"b = {run.batch_size}"
        labelled.add(run.batch_size)
        step, minibs = run.column("minibs", "step"), run.column("minibs", "minibs")
        out += ax.plot(step, minibs * half, "-", marker=".", ms=3, color=c, label=label)
        fstep, full = run.column("fullbs", "step"), run.column("fullbs", "fullbs")
        out += ax.plot(fstep, full * half, "--", color=c, lw=1)
    out.append(ax.axhline(1.0, color="k", lw=0.8, ls=":"))
    step_axis(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness / (2/η)")
    finite = [np.nanmax(ln.get_ydata()) for ln in out[:-1] if len(ln.get_ydata())]
    if finite and np.isfinite(max(finite)):
        ax.set_ylim(0, min(max(finite) * 1.05, 4.0))  # a spike must not flatten all
    ax.legend(fontsize=6, ncol=2, title="solid MiniBS, dashed FullBS", title_fontsize=6)
    return out
