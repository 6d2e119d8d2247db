"""The rows of a run's tables that belong to one phase (and were converged).

Used by :mod:`eoss.analysis.study.plateau`. Rows whose eigen-solver did not converge
(FullBS ``converged`` false; MiniBS / NTK ``n_converged`` < ``n_batches``,
docs/records.md) are never selected; MiniBS rows are selected at the b of
:func:`minibs_rows_b`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from eoss.analysis.records.reader import RunTables
from eoss.analysis.study.phases import Phase


def in_phase(run: RunTables, table: str, phase: Phase) -> NDArray:
    """Rows of ``table`` with phase.start ≤ step < phase.end.

    Args:
        run: The run.
        table: Table name.
        phase: The phase.

    Returns:
        Boolean mask over the table's rows.
    """
    steps = run.column(table, "step")
    return (steps >= phase.start) & (steps < phase.end)


def converged_rows(run: RunTables, table: str) -> NDArray:
    """Rows whose solver converged (all rows where the table records nothing).

    Args:
        run: The run.
        table: "fullbs" (field ``converged``), "minibs" / "ntk" (``n_converged``
            against ``n_batches``) or any other table (all rows).

    Returns:
        Boolean mask over the table's rows.
    """
    n = len(run.column(table, "step"))
    if table == "fullbs":
        c = run.column(table, "converged")
        return np.ones(n, bool) if len(c) == 0 else ~(c == 0)
    if table in ("minibs", "ntk"):
        k, nb = run.column(table, "n_converged"), run.column(table, "n_batches")
        if len(k) and len(nb):
            return ~(k < nb)
    return np.ones(n, bool)


def minibs_rows_b(run: RunTables, phase: Phase) -> int | None:
    """The b of the MiniBS rows a phase uses.

    Args:
        run: The run.
        phase: The phase.

    Returns:
        The phase's b when rows exist at it, else the most frequent measured b
        among the phase's rows (full-batch GD measures MiniBS at
        ``track.minibs_batch_size``, not at b = n); None when the phase has no
        MiniBS row with a b.
    """
    b = run.column("minibs", "batch_size")[in_phase(run, "minibs", phase)]
    b = b[np.isfinite(b)]
    if len(b) == 0:
        return None
    if np.any(b == phase.batch_size):
        return phase.batch_size
    vals, counts = np.unique(b, return_counts=True)
    return int(vals[np.argmax(counts)])


def phase_mask(
    run: RunTables, table: str, phase: Phase, b: int | None = None
) -> NDArray:
    """Converged rows of ``table`` inside the phase (measured at ``b`` if given).

    Args:
        run: The run.
        table: Table name.
        phase: The phase.
        b: Keep only rows whose ``batch_size`` is b (or missing); None: any b.

    Returns:
        Boolean mask over the table's rows.
    """
    m = in_phase(run, table, phase) & converged_rows(run, table)
    col = run.column(table, "batch_size")
    if b is not None and len(col):
        m &= np.isnan(col) | (col == b)
    return m


def series(
    run: RunTables, table: str, key: str, mask: NDArray
) -> tuple[NDArray, NDArray]:
    """(steps, values) of one column at the masked rows.

    Args:
        run: The run.
        table: Table name.
        key: Column.
        mask: Row mask.

    Returns:
        The two arrays.
    """
    return run.column(table, "step")[mask], run.column(table, key)[mask]


def paired(
    run: RunTables, mm: NDArray, other: tuple[str, str], om: NDArray
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """MiniBS and another series at the steps both were measured.

    Args:
        run: The run.
        mm: MiniBS row mask.
        other: (table, column) of the other series.
        om: Its row mask.

    Returns:
        (steps, MiniBS, MiniBS SE, other).
    """
    s, mb = series(run, "minibs", "minibs", mm)
    se = run.column("minibs", "minibs_se")[mm]
    os_, ov = series(run, *other, om)
    common, i_m, i_o = np.intersect1d(s, os_, return_indices=True)
    return common, mb[i_m], se[i_m], ov[i_o]


def pair_stats(run: RunTables, mm: NDArray, fm: NDArray, z: float) -> tuple[int, int]:
    """Paired (MiniBS, FullBS) measurements and significant FullBS > MiniBS ones.

    Args:
        run: The run.
        mm: MiniBS row mask.
        fm: FullBS row mask.
        z: A pair violates when MiniBS − FullBS < −z·SE(MiniBS).

    Returns:
        (pairs, violations).
    """
    _, mb, se, fb = paired(run, mm, ("fullbs", "fullbs"), fm)
    gap = mb - fb
    ok = np.isfinite(gap)
    bad = ok & (gap < -z * np.nan_to_num(se, nan=0.0))
    return int(ok.sum()), int(bad.sum())
