"""A training run split into constant-(η, b) phases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from eoss.analysis.records.reader import COLUMN_TABLES, RunTables


@dataclass(frozen=True)
class Phase:
    """Steps [start, end) trained with one (η, b).

    Attributes:
        index: 0 for the first phase.
        start: First step of the phase.
        end: First step of the next phase (for the last phase: the step count in
            status.json, or one past the last recorded step).
        lr: Learning rate η.
        batch_size: Batch size b.
        change: What started this phase: "start", "lr_down", "lr_up",
            "batch_size_up", "batch_size_down", or "lr+batch_size". The first phase
            of a run forked with a changed η or b (``lr`` / ``batch_size`` events
            at or before its first step) carries that change instead of "start".
    """

    index: int
    start: int
    end: int
    lr: float
    batch_size: int
    change: str = "start"

    @property
    def threshold(self) -> float:
        """The EoS threshold 2/η."""
        return 2.0 / self.lr


def _change(old: tuple[float, int], new: tuple[float, int]) -> str:
    lr_changed, b_changed = old[0] != new[0], old[1] != new[1]
    if lr_changed and b_changed:
        return "lr+batch_size"
    if lr_changed:
        return "lr_up" if new[0] > old[0] else "lr_down"
    return "batch_size_up" if new[1] > old[1] else "batch_size_down"


def _ffill(a: NDArray) -> NDArray:
    """Forward-fill NaNs (then back-fill a leading NaN run)."""
    a = a.copy()
    idx = np.where(np.isnan(a), 0, np.arange(len(a)))
    np.maximum.accumulate(idx, out=idx)
    a = a[idx]
    if np.isnan(a[0]) and not np.all(np.isnan(a)):
        a[np.isnan(a)] = a[~np.isnan(a)][0]
    return a


def _forked_from(
    run: RunTables, first: tuple[float, float], first_step: int
) -> tuple[float, float] | None:
    """(η, b) before the run's first step when it was forked with a change, else None.

    A fork (``eoss train --fork``) starts its own records at the fork step and logs
    ``lr`` / ``batch_size`` events with the source's old values at that step.
    """
    lr, b = first
    changed = False
    for e in run.events:
        kind, old = e.get("kind"), e.get("old")
        early = e.get("step", first_step + 1) <= first_step
        if kind in ("lr", "batch_size") and early and isinstance(old, (int, float)):
            lr, b = (float(old), b) if kind == "lr" else (lr, float(old))
            changed = True
    return (lr, b) if changed else None


def phases(run: RunTables) -> list[Phase]:
    """Split a run into constant-(η, b) phases (see the module docstring).

    Args:
        run: The run.

    Returns:
        The phases in order (one phase when nothing changed).

    Raises:
        ValueError: If neither ``train`` rows nor the config give η and b.
    """
    steps, lrs = run.column("train", "step"), run.column("train", "lr")
    bs = run.column("train", "batch_size")
    last = max(
        [float(np.nanmax(run.column(t, "step"))) for t in COLUMN_TABLES if run.has(t)]
        or [0]
    )
    if isinstance(run.status.get("step"), (int, float)):  # steps taken, if recorded
        last = max(last, float(run.status["step"]) - 1)
    if len(steps) == 0 or np.all(np.isnan(lrs)):
        lr, b = run.lr, run.batch_size
        if lr is None or b is None:
            raise ValueError(f"{run.path}: no lr/batch_size in train rows or config")
        return [Phase(0, 0, int(last) + 1, float(lr), int(b))]
    if np.any(np.isnan(bs)):  # batch_size missing from train rows: the config's
        b_cfg = run.batch_size
        bs = np.where(np.isnan(bs), np.nan if b_cfg is None else float(b_cfg), bs)
    lrs = _ffill(lrs)
    keys = list(zip(lrs.tolist(), _ffill(bs).tolist(), strict=True))
    starts = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]]
    out = []
    for j, i in enumerate(starts):
        end = int(steps[starts[j + 1]]) if j + 1 < len(starts) else int(last) + 1
        prev = (
            _forked_from(run, keys[0], int(steps[0])) if j == 0 else keys[starts[j - 1]]
        )
        change = "start" if prev is None or prev == keys[i] else _change(prev, keys[i])
        begin = 0 if j == 0 else int(steps[i])
        out.append(Phase(j, begin, end, keys[i][0], int(keys[i][1]), change))
    return out
