"""Levels of runs that reached 2/η but are not at EoSS: drawn, never fitted.

The figures of the trained gap and plateaus (Figs. 6, 8, 15-16) draw them as open
markers so a sweep with no stationary run still shows what was measured; no fit or
claim uses them (:class:`eoss.analysis.claims.policy.ClaimPolicy` decides that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eoss.analysis.study.study import Study


@dataclass(frozen=True)
class UnfittedLevels:
    """Runs of a sweep that reached 2/η but are not at EoSS: drawn, never fitted.

    Levels over the same last-20 % window as the fitted runs'; gap in raw units,
    MiniBS and FullBS in units of 2/η (NaN where not measured).
    """

    b: np.ndarray
    gap: np.ndarray
    gap_se: np.ndarray
    levels: np.ndarray  # (k, 4): MiniBS, its SE, FullBS, its SE
    statuses: tuple[str, ...]

    @property
    def words(self) -> str:
        """Caption words: the open markers and the statuses they stand for."""
        kinds = ", ".join(sorted(set(self.statuses)))
        return (
            f"open markers: {len(self.b)} run(s) that reached 2/η but are not at a "
            f"stationary EoSS plateau ({kinds}), their levels over the same last "
            "20 % of steps, in no fit or claim"
        )


def unfitted_levels(study: Study, s: Any) -> UnfittedLevels | None:
    """The excluded runs of sweep ``s`` that reached 2/η, with their levels.

    Args:
        study: The study.
        s: One of ``study.sweeps``.

    Returns:
        Their levels sorted by b, or None when there are none.
    """
    rows = []
    for run, det in study.detections:
        ph = det.first
        if run.run_id not in s.excluded or not ph.reached:
            continue
        gap = ph.gap_cv if ph.gap_cv is not None else ph.gap
        if gap is None:
            continue
        lv = [ph.normalised(k) for k in ("minibs", "fullbs")]
        flat = [x for v in lv for x in ((v.mean, v.se) if v else (np.nan, np.nan))]
        rows.append((ph.phase.batch_size, gap.mean, gap.se, flat, ph.status))
    if not rows:
        return None
    rows.sort(key=lambda r: r[0])
    return UnfittedLevels(
        b=np.array([r[0] for r in rows], dtype=float),
        gap=np.array([r[1] for r in rows], dtype=float),
        gap_se=np.array([r[2] for r in rows], dtype=float),
        levels=np.array([r[3] for r in rows], dtype=float),
        statuses=tuple(r[4] for r in rows),
    )
