"""Step schedules: piecewise-constant η and b, and measurement cadences.

A schedule is a pure function of the step, so a resumed or forked run needs no
extra state to know where it is: ``lr_at(step)`` and ``batch_size_at(step)`` are
the values used by the update *at* ``step`` (the update that takes the parameters
from θ_step to θ_{step+1}).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from eoss.empirical.training.config import Cadence, ScheduleConfig
from eoss.empirical.training.stationarity import TAIL


@dataclass(frozen=True)
class Change:
    """A scheduled change of one hyper-parameter.

    Attributes:
        step: The first step that uses the new value.
        kind: ``lr`` or ``batch_size``.
        old: Value before.
        new: Value from ``step`` on.
    """

    step: int
    kind: str
    old: float
    new: float


class Schedule:
    """η(step) and b(step) from initial values and a :class:`ScheduleConfig`.

    Args:
        lr: η at step 0.
        batch_size: b at step 0.
        cfg: The changes.
    """

    def __init__(self, lr: float, batch_size: int, cfg: ScheduleConfig) -> None:
        self._lr = (tuple(cfg.lr_at), (lr, *cfg.lr_values))
        self._b = (tuple(cfg.batch_size_at), (batch_size, *cfg.batch_size_values))

    @staticmethod
    def _value(table: tuple[tuple[int, ...], tuple], step: int) -> float:
        at, values = table
        return values[bisect.bisect_right(at, step)]

    def lr_at(self, step: int) -> float:
        """η used by the update at ``step``.

        Args:
            step: Number of updates already taken.

        Returns:
            The learning rate.
        """
        return float(self._value(self._lr, step))

    def batch_size_at(self, step: int) -> int:
        """The batch size b used by the update at ``step``.

        Args:
            step: Number of updates already taken.

        Returns:
            The batch size.
        """
        return int(self._value(self._b, step))

    def changes_at(self, step: int) -> list[Change]:
        """The changes that take effect at exactly ``step``.

        Args:
            step: A step.

        Returns:
            Zero, one or two :class:`Change` records (lr first).
        """
        out = []
        for kind, table in (("lr", self._lr), ("batch_size", self._b)):
            at, values = table
            if step in at:
                i = at.index(step)
                out.append(Change(step, kind, values[i], values[i + 1]))
        return out


def cadence_steps(cadence: Cadence, total_steps: int) -> np.ndarray:
    """The steps at which a quantity with this cadence is measured.

    Linear part: 0, e, 2e, … ≤ total; with ``thin`` = P only the multiples t of
    d(t) = e · 2^k, k the largest with e · 2^k · 5 (P + 1) ≤ t (k = 0 when there is
    none; 5 = 1 / the 20 % tail). d is non-decreasing and each d divides the
    later ones, so every window [0.8 t, t] with d(t) > e holds at least P steps
    (integer arithmetic: the same steps on every machine). Log part:
    ``round(total**(k/(m-1)))`` for k = 0 … m−1 (m = ``log_points``; 1 … total,
    geometrically spaced), deduplicated.
    Steps 0 and ``total_steps`` are included whenever the cadence is enabled.

    Args:
        cadence: The cadence.
        total_steps: Number of updates of the run.

    Returns:
        Sorted unique int64 array (empty when the cadence is off).
    """
    if not cadence.enabled:
        return np.zeros(0, dtype=np.int64)
    steps = {0, total_steps}
    if cadence.every > 0:
        steps.update(_linear_steps(cadence, total_steps))
    if cadence.log_points > 0 and total_steps > 0:
        m = cadence.log_points
        expo = np.linspace(0.0, 1.0, m) if m > 1 else np.ones(1)
        steps.update(np.rint(float(total_steps) ** expo).astype(np.int64).tolist())
    return np.array(sorted(steps), dtype=np.int64)


def _linear_steps(cadence: Cadence, total_steps: int) -> list[int]:
    """The linear part of :func:`cadence_steps` (thinned when ``thin`` > 0)."""
    e = cadence.every
    t = np.arange(0, total_steps + 1, e, dtype=np.int64)
    if not cadence.thin:
        return t.tolist()
    per = int(round(1 / TAIL)) * (cadence.thin + 1) * e
    m = t // per  # d(t) = e · 2^k with 2^k ≤ m, the largest such (k = 0 if m = 0)
    k = np.array([max(int(v).bit_length() - 1, 0) for v in m], dtype=np.int64)
    return t[t % (e * 2**k) == 0].tolist()


class CadenceSet:
    """Membership test for a cadence's steps.

    Args:
        cadence: The cadence.
        total_steps: Number of updates of the run.
        extra: Further steps (kept only when the cadence is enabled).
    """

    def __init__(
        self, cadence: Cadence, total_steps: int, extra: tuple[int, ...] = ()
    ) -> None:
        steps = cadence_steps(cadence, total_steps)
        if len(steps) and extra:
            steps = np.union1d(steps, np.asarray(extra, dtype=np.int64))
        self.steps = steps
        self._set = frozenset(self.steps.tolist())

    def __contains__(self, step: int) -> bool:
        return step in self._set

    def __len__(self) -> int:
        return len(self._set)
