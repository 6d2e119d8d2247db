r"""The stationarity rule, shared by training (stop when stationary) and analysis.

A constant-(η, b) phase of steps [s, e) has a *tail*, its last ``tail`` fraction
of steps, :math:`t \ge s + (1 - \text{tail})(e - s)` (:func:`tail_start`). The
*drift* of a series over the tail is the change its OLS trend predicts across the
window (:func:`ols_drift`),

.. math::

    y_i = a + \beta\, t_i + \varepsilon_i, \qquad D = \hat\beta\,(t_{\max} - t_{\min}),

with the series in units of 2/η. **Rule** (:func:`is_stationary`): the phase is
stationary when :math:`|D| \le \tau` (τ = :data:`DRIFT_TOL` = 0.05) for batch
sharpness (MiniBS where batch sharpness is not recorded), FullBS *and*, where batch
sharpness is recorded, MiniBS too; undetermined when a drift is unknown (fewer than
3 points). MiniBS is in the rule because the gap (MiniBS − FullBS) and the EoSS band
are MiniBS levels: a run whose batch sharpness has settled while its MiniBS still
climbs (seen at b = 4 in the paper-cpu study) has no MiniBS plateau to report.
This module is the rule's one definition:
:mod:`eoss.analysis.study.stationarity` applies it to finished records (adding a
HAC standard error), and
:class:`StationarityMonitor` applies it while training, so a run stopped as
stationary is classified stationary by the analysis of its records.

The monitor collects the converged measurements of the current run as they are
made and, at each multiple of ``stop.check_every`` (after ``stop.min_steps``),
evaluates the rule on the tail of the current phase [s, t + 1) (s: the last
scheduled η/b change ≤ t, else 0 — the phase start the analysis uses). It also
asks for at least ``stop.min_points`` points of each series in the tail, enough
for batch-means plateau levels. Its series are part of the checkpoint state
(exact resume); a state saved by a run with another config (a fork) starts a
fresh series, as the fork's own records do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.rows import Row

#: Fraction of a phase's last steps that is its tail (its plateau window).
TAIL = 0.2
#: τ: the largest |drift| across the tail, in units of 2/η, of a stationary phase.
DRIFT_TOL = 0.05


def tail_start(start: float, end: float, tail: float = TAIL) -> float:
    """First step of the tail: s + (1 − tail)(e − s).

    Args:
        start: Phase start s.
        end: Phase end e (exclusive).
        tail: Fraction of steps in the tail.

    Returns:
        The step (not rounded).
    """
    return start + (1.0 - tail) * (end - start)


def ols_drift(steps: ArrayLike, values: ArrayLike) -> float | None:
    """D = OLS slope × window length of ``values`` against ``steps``.

    Args:
        steps: Steps of the measurements, shape (n,).
        values: Measurements, shape (n,); non-finite values are dropped.

    Returns:
        The drift in the units of ``values``, or None with fewer than 3 finite
        points or a zero-length window.
    """
    window = drift_window(steps, values)
    return None if window is None else window_slope(window[0], window[1])


def window_slope(x: np.ndarray, y: np.ndarray) -> float:
    """OLS slope of ``y`` on ``x``; on the window [0, 1] it is the drift D.

    Args:
        x: Steps rescaled to [0, 1] (:func:`drift_window`).
        y: The values.

    Returns:
        The slope.
    """
    xc = x - x.mean()
    return float(np.dot(xc, y - y.mean()) / np.dot(xc, xc))


def drift_window(
    steps: ArrayLike, values: ArrayLike
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The finite points of a series, steps rescaled to the window [0, 1].

    On x = (t − t_min) / L, L = t_max − t_min, the regression slope is the drift D.

    Args:
        steps: Steps of the measurements, shape (n,).
        values: Measurements, shape (n,); non-finite pairs are dropped.

    Returns:
        ``(x, y, L)``, or None with fewer than 3 finite points or a zero-length
        window.
    """
    t = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if len(t) < 3 or np.ptp(t) == 0:
        return None
    length = float(np.ptp(t))
    return (t - t.min()) / length, y, length


def is_stationary(
    drifts: tuple[float | None, ...], tol: float = DRIFT_TOL
) -> bool | None:
    """The rule: every |drift| ≤ τ (drifts in units of 2/η).

    Args:
        drifts: The drifts of the series (sharpness, FullBS), None when unknown.
        tol: τ.

    Returns:
        True / False, or None when a drift is unknown.
    """
    if any(d is None for d in drifts):
        return None
    return bool(all(abs(d) <= tol for d in drifts))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Check:
    """One evaluation of the rule during training.

    Attributes:
        step: The step checked (after its measurements).
        tail: (first, last) step of the tail window.
        sharpness: Drift of batch sharpness (or MiniBS) / (2/η), or None.
        fullbs: Drift of FullBS / (2/η), or None.
        n_points: Points of (sharpness, FullBS[, MiniBS]) in the tail.
        stationary: The verdict (None: undetermined, too few points).
        minibs: Drift of MiniBS / (2/η) where batch sharpness is the first series
            (None otherwise, or when unknown).
    """

    step: int
    tail: tuple[int, int]
    sharpness: float | None
    fullbs: float | None
    n_points: tuple[int, ...]
    stationary: bool | None
    minibs: float | None = None

    def text(self) -> str:
        """``stationary at step 5000 (drift bs +0.012, FullBS -0.020 ...)``.

        Returns:
            One line.
        """

        def one(d: float | None) -> str:
            return "—" if d is None else f"{d:+.3f}"

        head = {True: "stationary", False: "not stationary"}.get(
            self.stationary,  # type: ignore[arg-type]
            "stationarity undetermined (fewer points than stop.min_points)",
        )
        mini = "" if len(self.n_points) < 3 else f", MiniBS {one(self.minibs)}"
        return (
            f"{head} at step {self.step} (drift over steps {self.tail[0]}-"
            f"{self.tail[1]}: sharpness {one(self.sharpness)}, FullBS "
            f"{one(self.fullbs)}{mini} x 2/eta; "
            f"{', '.join(map(str, self.n_points))} points)"
        )


def config_key(cfg: TrainConfig) -> str:
    """A fingerprint of a config (a state saved under another one is a fork's).

    Args:
        cfg: The config.

    Returns:
        A short hex digest of its repr.
    """
    return hashlib.sha1(repr(cfg).encode()).hexdigest()[:16]


class StationarityMonitor:
    """Collects a run's sharpness series and applies the rule (module docstring).

    Args:
        cfg: The run's config (``stop``, ``track.batch_sharpness``, schedule).
    """

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, self.key = cfg, config_key(cfg)
        self.use_bs = cfg.track.batch_sharpness
        self.changes = sorted({*cfg.schedule.lr_at, *cfg.schedule.batch_size_at})
        self.sharp: list[tuple[int, float]] = []  # (step, value · η/2)
        self.full: list[tuple[int, float]] = []
        self.mini: list[tuple[int, float]] = []  # MiniBS, when use_bs

    @property
    def enabled(self) -> bool:
        """Whether the run stops when stationary."""
        return self.cfg.stop.until_stationary

    def check_due(self, step: int) -> bool:
        """Whether the rule is evaluated at ``step`` (its measurements are forced).

        Args:
            step: A step.

        Returns:
            True at multiples of ``check_every`` from ``min_steps`` on (not at the
            cap, where the run ends anyway).
        """
        s = self.cfg.stop
        return (
            s.until_stationary
            and 0 < step < self.cfg.steps
            and step >= s.min_steps
            and step % s.check_every == 0
        )

    def check_steps(self) -> list[int]:
        """Every step :meth:`check_due` accepts (forced measurement steps).

        Returns:
            Sorted steps.
        """
        s = self.cfg.stop
        if not s.until_stationary:
            return []
        return [t for t in range(s.check_every, self.cfg.steps, s.check_every)
                if self.check_due(t)]  # fmt: skip

    def observe(self, row: Row, lr: float) -> None:
        """Keep a converged FullBS / MiniBS measurement.

        Args:
            row: A row the tracker produced.
            lr: η of the step it was measured at.
        """
        half = lr / 2
        if row.table == "fullbs" and row.converged:  # type: ignore[attr-defined]
            self.full.append((row.step, row.fullbs * half))  # type: ignore[attr-defined]
        elif row.table == "minibs" and row.n_converged >= row.n_batches:  # type: ignore[attr-defined]
            value = row.batch_sharpness if self.use_bs else row.minibs  # type: ignore[attr-defined]
            if value is not None:
                self.sharp.append((row.step, value * half))
            if self.use_bs and row.minibs is not None:  # type: ignore[attr-defined]
                self.mini.append((row.step, row.minibs * half))  # type: ignore[attr-defined]

    def phase_start(self, step: int) -> int:
        """The first step of the constant-(η, b) phase holding ``step``.

        Args:
            step: A step.

        Returns:
            The last scheduled change ≤ step, or 0.
        """
        past = [c for c in self.changes if c <= step]
        return past[-1] if past else 0

    def check(self, step: int) -> Check:
        """Apply the rule to the tail [s, step + 1) of the current phase.

        Args:
            step: The step just measured.

        Returns:
            The check (stationary None when a series has fewer than
            ``stop.min_points`` tail points).
        """
        lo = tail_start(self.phase_start(step), step + 1, TAIL)
        drifts, counts = [], []
        series = (self.sharp, self.full, self.mini) if self.use_bs else (
            self.sharp, self.full)  # fmt: skip
        for pts in series:
            arr = np.array([p for p in pts if lo <= p[0] <= step], dtype=float)
            arr = arr.reshape(-1, 2)
            counts.append(len(arr))
            drifts.append(ols_drift(arr[:, 0], arr[:, 1]))
        verdict = is_stationary(tuple(drifts), self.cfg.stop.drift_tol)
        if min(counts) < self.cfg.stop.min_points:
            verdict = None
        tail = (int(np.ceil(lo)), step)
        mini = drifts[2] if self.use_bs else None
        return Check(step, tail, drifts[0], drifts[1], tuple(counts), verdict, mini)

    def state_dict(self) -> dict[str, Any]:
        """The series (for the checkpoint).

        Returns:
            Plain data.
        """
        return {
            "key": self.key,
            "sharp": list(self.sharp),
            "full": list(self.full),
            "mini": list(self.mini),
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the series of this run (a fork's source's are dropped).

        Args:
            state: From :meth:`state_dict`, or None (an older checkpoint).
        """
        if not state or state.get("key") != self.key:
            self.sharp, self.full, self.mini = [], [], []
            return
        self.sharp = [(int(s), float(v)) for s, v in state["sharp"]]
        self.full = [(int(s), float(v)) for s, v in state["full"]]
        # A state saved before MiniBS joined the rule has none: it refills.
        self.mini = [(int(s), float(v)) for s, v in state.get("mini", [])]
