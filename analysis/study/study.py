"""Every analysis of a set of inputs: EoSS detections, sweeps, fits, comparisons.

:func:`analyse` turns :class:`eoss.analysis.study.inputs.ReportInputs` into a
:class:`Study`, which the claims table (:mod:`eoss.analysis.claims.table`) and the
report
(:mod:`eoss.analysis.report.build`) read. Fit windows (inclusive, in batch size b):

* ``all``: every b;
* ``mid`` = [10, 100] and ``large`` = [100, 1000]: the paper's two trained regimes
  (gap ∝ b^-0.7, then b^-1);
* ``small`` = [1, 8]: "very small b", where the paper reports a plateau (our
  operationalisation: the smallest powers of two below its mid regime);
* ``far`` = [1, n/16] and ``near`` = [n/4, n) (b = n itself is left out: without
  replacement H_B = H there, so the gap is 0 by construction and any measured value
  is solver noise), n the data-set size: sampling a batch
  without replacement scales the gradient-noise covariance by (n − b)/(b(n − 1)),
  whose local log-log slope is −(1 + b/(n − b)): −1.07 at b = n/16 but −1.33 at
  n/4, so b ≥ n/4 is where a finite-population steepening must show and b ≤ n/16
  is mostly outside it;
* ``far_fpc``: the ``far`` window fitted to gap/φ_b, φ_b = (n − b)/(n − 1), which
  removes the remaining finite-population bias (up to +0.07 in the local exponent
  at b = n/16). The static and random-matrix "∝ b^-1" claims use it when batches
  are drawn without replacement (static curves always are).

A window with fewer than 3 usable points is recorded as a reason string, not fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
from eoss.analysis.records.reader import RunTables, find_key
from eoss.analysis.stats.compare import ExponentComparison, GapCurve, compare_exponents
from eoss.analysis.stats.model_selection import (
    SegmentComparison,
    compare_segment_models,
)
from eoss.analysis.stats.powerlaw import PowerLawFit, fit_power_law
from eoss.analysis.study.inputs import GapTable, ReportInputs
from eoss.analysis.study.plateau import Criteria, RunDetection, detect_eoss
from eoss.analysis.study.sweeps import Sweep, build_sweeps

WINDOWS: dict[str, tuple[float, float]] = {
    "mid": (10.0, 100.0),
    "large": (100.0, 1000.0),
    "small": (1.0, 8.0),
}
FAR_FRACTION = 1 / 16
NEAR_FRACTION = 1 / 4

Fit = PowerLawFit | str  # a fit, or why it could not be made


def windows_for(n: int | None) -> dict[str, tuple[float, float] | None]:
    """The named fit windows for a data-set size ``n`` (see the module docstring).

    Args:
        n: Data-set size, or None when unknown (no far/near windows).

    Returns:
        Window name → (lo, hi) or None for "all".
    """
    out: dict[str, tuple[float, float] | None] = {"all": None, **WINDOWS}
    if n:
        out["far"] = (1.0, n * FAR_FRACTION)
        out["near"] = (n * NEAR_FRACTION, float(n - 1))  # b = n: gap ≡ 0
    return out


def try_fit(curve: GapCurve, window: tuple[float, float] | None) -> Fit:
    """A power-law fit of ``curve`` in ``window``, or the reason it is impossible.

    Args:
        curve: The gap curve (WLS when it has SEs).
        window: Inclusive b window or None.

    Returns:
        The fit, or a one-line reason.
    """
    try:
        return fit_power_law(
            curve.batch_size, curve.gap, se=curve.gap_se, window=window
        )
    except ValueError as exc:
        return str(exc)


@dataclass(frozen=True)
class CurveFits:
    """Power-law fits of one gap curve in every applicable window.

    Attributes:
        curve: The curve.
        n: Data-set size used for the far/near windows, or None.
        fits: Window name → fit or reason.
        segments: AIC/BIC comparison of 1-3 segments over all b (or a reason).
    """

    curve: GapCurve
    n: int | None
    fits: dict[str, Fit]
    segments: SegmentComparison | str

    def fit(self, window: str) -> PowerLawFit | None:
        """The fit in ``window`` if it was made.

        Args:
            window: Window name.

        Returns:
            The fit, or None.
        """
        f = self.fits.get(window)
        return f if isinstance(f, PowerLawFit) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict.

        Returns:
            Fits as dicts, reasons as strings.
        """
        seg = self.segments
        return {
            "label": self.curve.label,
            "n": self.n,
            "fits": {
                k: (v.to_dict() if isinstance(v, PowerLawFit) else {"not_fitted": v})
                for k, v in self.fits.items()
            },
            "segments": seg.to_dict()
            if not isinstance(seg, str)
            else {"not_fitted": seg},
        }


def fpc_curve(curve: GapCurve, n: int) -> GapCurve:
    """The gap divided by the finite-population factor φ_b = (n − b)/(n − 1).

    Sampling a batch without replacement scales the noise covariance by φ_b / b, so
    gap/φ_b is the quantity whose 1/b law the paper's argument predicts. b = n
    (φ = 0) becomes NaN and is excluded (and counted) by the fit.

    Args:
        curve: The gap curve.
        n: Data-set size.

    Returns:
        The corrected curve (same label with " / φ_b").
    """
    b = curve.batch_size
    phi = (n - b) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(phi > 0, curve.gap / phi, np.nan)
        se = (
            None
            if curve.gap_se is None
            else np.where(phi > 0, curve.gap_se / phi, np.nan)
        )
    return GapCurve.of(b, gap, se, curve.label + " / φ_b")


def fit_curve(curve: GapCurve, n: int | None, *, fpc: bool = False) -> CurveFits:
    """Fit a curve in every window and compare 1-3 segments.

    Args:
        curve: The gap curve.
        n: Data-set size or None.
        fpc: Also fit gap/φ_b on the far window (window ``far_fpc``; sampling
            without replacement, n known).

    Returns:
        The fits.
    """
    fits = {name: try_fit(curve, w) for name, w in windows_for(n).items()}
    if fpc and n:
        fits["far_fpc"] = try_fit(fpc_curve(curve, n), windows_for(n)["far"])
    try:
        seg: SegmentComparison | str = compare_segment_models(
            curve.batch_size, curve.gap, se=curve.gap_se
        )
    except ValueError as exc:
        seg = str(exc)
    return CurveFits(curve, n, fits, seg)


@dataclass(frozen=True)
class Study:
    """Everything computed from one set of inputs.

    Attributes:
        inputs: What was found.
        criteria: EoSS detection thresholds.
        detections: (run, detection) for every training run, sorted by path.
        sweeps: Batch-size sweeps of plain SGD runs.
        sweep_fits: Sweep key → fits of its plateau gap curve.
        static_fits: Static table path (relative) → fits.
        simulate_fits: Simulation table path (relative) → fits.
        comparisons: (static path, sweep key, comparison or reason) triples: each
            static curve against the sweep that holds its source run (the
            ``run`` of its config), or against every sweep when none does.
    """

    inputs: ReportInputs
    criteria: Criteria
    detections: tuple[tuple[RunTables, RunDetection], ...]
    sweeps: tuple[Sweep, ...]
    sweep_fits: dict[str, CurveFits] = field(repr=False)
    static_fits: dict[str, CurveFits] = field(repr=False)
    simulate_fits: dict[str, CurveFits] = field(repr=False)
    comparisons: tuple[tuple[str, str, ExponentComparison | str], ...] = ()


def _table_fits(
    inputs: ReportInputs, tables: tuple[GapTable, ...]
) -> dict[str, CurveFits]:
    out = {}
    for t in tables:
        label = inputs.relative(t.path)
        # n-relative windows only make sense for batches drawn without replacement
        # from n points (static curves always are; simulations say so).
        without = t.kind == "static" or sampling_of(t) in (None, "without")
        out[label] = fit_curve(t.curve(label), t.n if without else None, fpc=without)
    return out


def analyse(inputs: ReportInputs, criteria: Criteria | None = None) -> Study:
    """Run every analysis on the inputs.

    Args:
        inputs: From :func:`eoss.analysis.study.inputs.discover_inputs`.
        criteria: EoSS thresholds (default
        :class:`eoss.analysis.study.plateau.Criteria`).

    Returns:
        The study.
    """
    crit = criteria or Criteria()
    dets = tuple((run, detect_eoss(run, crit)) for run in inputs.runs)
    sweeps = tuple(build_sweeps(dets))
    sweep_fits = {s.key: fit_curve(s.curve(), s.n_train) for s in sweeps}
    static_fits = _table_fits(inputs, inputs.static)
    return Study(
        inputs=inputs,
        criteria=crit,
        detections=dets,
        sweeps=sweeps,
        sweep_fits=sweep_fits,
        static_fits=static_fits,
        simulate_fits=_table_fits(inputs, inputs.simulate),
        comparisons=_compare_all(inputs, static_fits, sweeps),
    )


def _partners(table: GapTable, sweeps: tuple[Sweep, ...]) -> tuple[Sweep, ...]:
    """The sweep holding the static curve's source run, else every sweep."""
    src = table.config.get("run")
    name = PurePath(str(src)).name if src else None
    mine = tuple(s for s in sweeps if any(name in ids for ids in s.run_ids))
    return mine or sweeps


def _compare_all(
    inputs: ReportInputs, static_fits: dict[str, CurveFits], sweeps: tuple[Sweep, ...]
) -> tuple[tuple[str, str, ExponentComparison | str], ...]:
    out = []
    for t in inputs.static:
        label = inputs.relative(t.path)
        for s in _partners(t, sweeps):
            try:
                comp: ExponentComparison | str = compare_exponents(
                    static_fits[label].curve, s.curve()
                )
            except ValueError as exc:
                comp = str(exc)
            out.append((label, s.key, comp))
    return tuple(out)


def sampling_of(table: GapTable) -> str | None:
    """The sampling mode of a simulation ("without", "with", "online"), if recorded.

    Args:
        table: A gap table.

    Returns:
        The mode or None.
    """
    val = find_key(table.config, "sampling")
    return str(val) if val is not None else None
