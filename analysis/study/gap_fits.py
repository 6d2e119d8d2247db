"""Power-law fits of a gap curve in the named batch-size windows.

The windows are defined here once, as :class:`Window` objects (inclusive, in batch
size b); the study fits every curve in each of them and the claims read the fits by
window name:

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
Points with b ≥ n (when n is known) enter no fit at all, not even ``all``, the
segment comparison or the local slopes: they are removed first and counted
(:attr:`CurveFits.n_full_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eoss.analysis.stats.compare import GapCurve
from eoss.analysis.stats.local_slopes import SlopeProfile, local_slopes
from eoss.analysis.stats.model_selection import (
    SegmentComparison,
    compare_segment_models,
)
from eoss.analysis.stats.powerlaw import PAPER_EXPONENTS, PowerLawFit, fit_power_law


@dataclass(frozen=True)
class Window:
    """A named, inclusive batch-size window of a power-law fit.

    Attributes:
        name: Window name (the key of :attr:`CurveFits.fits`).
        lo: Smallest b fitted.
        hi: Largest b fitted.
        paper_exponent: The α the paper states for gap ∝ b^-α in this window, or
            None when it states none.
    """

    name: str
    lo: float
    hi: float
    paper_exponent: float | None = None

    @property
    def bounds(self) -> tuple[float, float]:
        """(lo, hi), as :func:`eoss.analysis.stats.powerlaw.fit_power_law` takes it."""
        return (self.lo, self.hi)


# The trained regimes of the paper: b^-0.7 on mid, b^-1 on large.
MID = Window("mid", 10.0, 100.0, paper_exponent=PAPER_EXPONENTS[1])
LARGE = Window("large", 100.0, 1000.0, paper_exponent=PAPER_EXPONENTS[0])
SMALL = Window("small", 1.0, 8.0)
TRAINED_WINDOWS = (MID, LARGE, SMALL)
FAR_FRACTION = 1 / 16
NEAR_FRACTION = 1 / 4

Fit = PowerLawFit | str  # a fit, or why it could not be made


def far_window(n: int) -> Window:
    """``far`` = [1, n/16]: mostly outside the finite-population steepening.

    Args:
        n: Data-set size.

    Returns:
        The window (paper: static gap ∝ b^-1 for b ≪ n).
    """
    return Window("far", 1.0, n * FAR_FRACTION, paper_exponent=PAPER_EXPONENTS[0])


def near_window(n: int) -> Window:
    """``near`` = [n/4, n): b = n is left out (the gap is 0 there by construction).

    Args:
        n: Data-set size.

    Returns:
        The window.
    """
    return Window("near", n * NEAR_FRACTION, float(n - 1))


def gap_windows(n: int | None) -> tuple[Window, ...]:
    """Every named window for a data-set size ``n``, in fit order.

    Args:
        n: Data-set size, or None when unknown (no far/near windows).

    Returns:
        mid, large, small, then far and near when ``n`` is known.
    """
    return TRAINED_WINDOWS + ((far_window(n), near_window(n)) if n else ())


def windows_for(n: int | None) -> dict[str, tuple[float, float] | None]:
    """The named fit windows for a data-set size ``n`` (see the module docstring).

    Args:
        n: Data-set size, or None when unknown (no far/near windows).

    Returns:
        Window name → (lo, hi) or None for "all".
    """
    return {"all": None, **{w.name: w.bounds for w in gap_windows(n)}}


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
        profile: Local-slope profile over all b
            (:func:`eoss.analysis.stats.local_slopes.local_slopes`).
        n_unconverged: Points left out because their eigen-solver did not converge
            (set to NaN before fitting, so they are not in any fit).
        n_full_batch: Points with b ≥ n left out of every fit (the gap is 0 there
            by construction without replacement; a measured value is solver noise).
    """

    curve: GapCurve
    n: int | None
    fits: dict[str, Fit]
    segments: SegmentComparison | str
    profile: SlopeProfile | None = None
    n_unconverged: int = 0
    n_full_batch: int = 0

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
            "local_slopes": None if self.profile is None else self.profile.to_dict(),
            "n_unconverged": self.n_unconverged,
            "n_full_batch": self.n_full_batch,
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


def fit_curve(
    curve: GapCurve, n: int | None, *, fpc: bool = False, n_unconverged: int = 0
) -> CurveFits:
    """Fit a curve in every window, compare 1-3 segments, profile local slopes.

    Args:
        curve: The gap curve.
        n: Data-set size or None.
        fpc: Also fit gap/φ_b on the far window (window ``far_fpc``; sampling
            without replacement, n known).
        n_unconverged: Points already removed as unconverged (recorded).

    Returns:
        The fits (of the points with b < n; those at b ≥ n are counted).
    """
    curve, n_full = below_n(curve, n)
    fits = {name: try_fit(curve, w) for name, w in windows_for(n).items()}
    if fpc and n:
        fits["far_fpc"] = try_fit(fpc_curve(curve, n), far_window(n).bounds)
    try:
        seg: SegmentComparison | str = compare_segment_models(
            curve.batch_size, curve.gap, se=curve.gap_se
        )
    except ValueError as exc:
        seg = str(exc)
    profile = local_slopes(curve.batch_size, curve.gap, se=curve.gap_se)
    return CurveFits(curve, n, fits, seg, profile, n_unconverged, n_full)


def below_n(curve: GapCurve, n: int | None) -> tuple[GapCurve, int]:
    """The curve without its points at b ≥ n, and how many were removed.

    Args:
        curve: The gap curve.
        n: Data-set size (None: nothing removed).

    Returns:
        (the curve of b < n, number of points removed).
    """
    if not n:
        return curve, 0
    keep = np.asarray(curve.batch_size) < n
    if keep.all():
        return curve, 0
    se = None if curve.gap_se is None else np.asarray(curve.gap_se)[keep]
    b, gap = np.asarray(curve.batch_size)[keep], np.asarray(curve.gap)[keep]
    return GapCurve.of(b, gap, se, curve.label), int((~keep).sum())
