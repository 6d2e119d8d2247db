r"""The stationarity rule, shared by training (stop when stationary) and analysis.

A constant-(η, b) phase of steps [s, e) has a *tail*, its last ``tail`` fraction
of steps, :math:`t \ge s + (1 - \text{tail})(e - s)` (:func:`tail_start`). The
*drift* D of a series over the tail is the change its OLS trend predicts across
the window, with a Newey–West standard error (:mod:`eoss.empirical.training.drift`),
the series in units of 2/η. **Rule** (:func:`series_verdict`,
:func:`is_stationary`), τ = :data:`DRIFT_TOL` = 0.05, applied to batch sharpness
(MiniBS where batch sharpness is not recorded), FullBS *and*, where batch sharpness
is recorded, MiniBS too:

* ``"point"`` (default; the rule as issue 12 states it): a series is flat when
  :math:`|D| \le \tau` on the point estimate, drifting otherwise.
* ``"equivalence"`` (the strict option): a series is *flat* when the drift is
  shown to lie within ±τ — two one-sided tests at 5 % (TOST), i.e.
  :math:`|D| + q\,SE \le \tau` with :math:`q = t_{0.95,\,n-2}` — *drifting* when
  it is shown to lie beyond, :math:`|D| - q\,SE > \tau`, and otherwise (the 90 %
  interval straddles ±τ, or fewer than 4 points) *undetermined*.

A phase is stationary when every series is flat, not stationary when one drifts,
else undetermined (also when a drift is unknown: fewer than 3 points). Why the
point rule is the default: with the tail densities the presets afford (8–9
measurements), the HAC SEs measured on the paper-cpu sweep are 0.006–0.18 × 2/η,
so the equivalence rule can show no run flat at τ = 0.05 (on the 12 sweep runs
of revision f13b517: *undetermined* for 8, *drifting* for 4); a stop rule that
never fires and a study with no plateau are not useful, so the analysis reports
each run's equivalence state next to the point verdict instead, and offers the
strict rule
(``eoss report --stationarity-rule equivalence``, ``stop.rule``).

MiniBS is in the rule because the gap (MiniBS − FullBS) and the EoSS band
are MiniBS levels: a run whose batch sharpness has settled while its MiniBS still
climbs (seen at b = 4 in the paper-cpu study) has no MiniBS plateau to report.
This module is the rule's one definition:
:mod:`eoss.analysis.study.stationarity` applies it to finished records, and
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
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from eoss.empirical.training.config import STATIONARITY_RULES
from eoss.empirical.training.drift import Drift, ols_drift, tail_drift

__all__ = [
    "DRIFT_TOL",
    "RULES",
    "TAIL",
    "Check",
    "Drift",
    "StationarityMonitor",
    "is_stationary",
    "ols_drift",
    "series_verdict",
    "tail_drift",
    "tail_start",
]

if TYPE_CHECKING:
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.rows import Row

#: Fraction of a phase's last steps that is its tail (its plateau window).
TAIL = 0.2
#: τ: the largest |drift| across the tail, in units of 2/η, of a stationary phase.
DRIFT_TOL = 0.05
#: The rules :func:`is_stationary` knows (module docstring).
RULES = STATIONARITY_RULES
#: One-sided level of each of the equivalence rule's two tests (its 90 % interval).
RULE_ALPHA = 0.05


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


def series_verdict(
    d: Drift | float | None, tol: float = DRIFT_TOL, rule: str = "point"
) -> bool | None:
    """One series under the rule: flat (True), drifting (False) or undetermined.

    Args:
        d: The series' tail drift (units of 2/η); a bare number is a drift without
            an SE (undetermined under the equivalence rule); None when unknown.
        tol: τ.
        rule: "point" or "equivalence" (module docstring).

    Returns:
        True / False, or None when undetermined.

    Raises:
        ValueError: For an unknown rule.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if d is None:
        return None
    if not isinstance(d, Drift):
        d = Drift(float(d), float("nan"), 0, float("nan"))
    if rule == "point":
        return bool(abs(d.drift) <= tol)
    if d.n < 4 or not math.isfinite(d.se):
        return None
    from scipy.stats import t

    q = float(t.ppf(1 - RULE_ALPHA, d.n - 2))
    if abs(d.drift) + q * d.se <= tol:
        return True
    if abs(d.drift) - q * d.se > tol:
        return False
    return None


def is_stationary(
    drifts: tuple[Drift | float | None, ...],
    tol: float = DRIFT_TOL,
    rule: str = "point",
) -> bool | None:
    """The rule on a phase: every series flat (True), one drifting (False).

    Args:
        drifts: The tail drifts of the series (units of 2/η), None when unknown.
        tol: τ.
        rule: "point" or "equivalence" (module docstring).

    Returns:
        True / False, or None when undetermined.
    """
    verdicts = [series_verdict(d, tol, rule) for d in drifts]
    if any(v is False for v in verdicts):
        return False
    return True if verdicts and all(v is True for v in verdicts) else None


@dataclass(frozen=True)
class Check:
    """One evaluation of the rule during training.

    Attributes:
        step: The step checked (after its measurements).
        tail: (first, last) step of the tail window.
        sharpness: Drift of batch sharpness (or MiniBS) / (2/η), or None.
        fullbs: Drift of FullBS / (2/η), or None.
        n_points: Points of (sharpness, FullBS[, MiniBS]) in the tail.
        stationary: The verdict (None: undetermined, or too few points).
        minibs: Drift of MiniBS / (2/η) where batch sharpness is the first series
            (None otherwise, or when unknown).
        ses: HAC SEs of the drifts, in the order of ``n_points`` (NaN: unknown).
        rule: The rule applied ("point" or "equivalence").
    """

    step: int
    tail: tuple[int, int]
    sharpness: float | None
    fullbs: float | None
    n_points: tuple[int, ...]
    stationary: bool | None
    minibs: float | None = None
    ses: tuple[float, ...] = ()
    rule: str = "point"

    def text(self) -> str:
        """``stationary at step 5000 (drift bs +0.012 ± 0.004, FullBS ...)``.

        Returns:
            One line.
        """
        ses = list(self.ses) + [float("nan")] * (3 - len(self.ses))

        def one(d: float | None, se: float) -> str:
            if d is None:
                return "—"
            return f"{d:+.3f}" + (f" ± {se:.2g}" if math.isfinite(se) else "")

        undetermined = (
            "stationarity undetermined (fewer points than stop.min_points)"
            if min(self.n_points, default=0) < 8 and self.rule == "point"
            else "stationarity undetermined"
        )
        head = {True: "stationary", False: "not stationary"}.get(
            self.stationary,  # type: ignore[arg-type]
            undetermined,
        )
        mini = "" if len(self.n_points) < 3 else f", MiniBS {one(self.minibs, ses[2])}"
        return (
            f"{head} at step {self.step} ({self.rule} rule; drift over steps "
            f"{self.tail[0]}-{self.tail[1]}: sharpness {one(self.sharpness, ses[0])}, "
            f"FullBS {one(self.fullbs, ses[1])}{mini} x 2/eta; "
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
        drifts: list[Drift | None] = []
        series = (self.sharp, self.full, self.mini) if self.use_bs else (
            self.sharp, self.full)  # fmt: skip
        for pts in series:
            arr = np.array([p for p in pts if lo <= p[0] <= step], dtype=float)
            arr = arr.reshape(-1, 2)
            drifts.append(tail_drift(arr[:, 0], arr[:, 1]))
        counts = tuple(sum(1 for p in pts if lo <= p[0] <= step) for pts in series)
        stop = self.cfg.stop
        verdict = is_stationary(tuple(drifts), stop.drift_tol, stop.rule)
        if min(counts) < stop.min_points:
            verdict = None
        tail = (int(np.ceil(lo)), step)
        value = [None if d is None else d.drift for d in drifts]
        ses = tuple(float("nan") if d is None else d.se for d in drifts)
        mini = value[2] if self.use_bs else None
        return Check(
            step, tail, value[0], value[1], counts, verdict, mini, ses, stop.rule
        )

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
