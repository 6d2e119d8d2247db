"""Points of a log-log fit: validation, filtering and counted exclusions.

Points are dropped for a stated reason and counted, never silently: non-finite
values, non-positive ``x`` or ``y`` (a non-positive gap has no logarithm),
non-positive or non-finite ``se``, and ``x`` outside the window. The kept points
carry the delta-method WLS weights (y/se)² of
:func:`eoss.analysis.stats.powerlaw.fit_power_law`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

_REASONS = (
    "non_finite",
    "non_positive_x",
    "non_positive_y",
    "non_positive_se",
    "outside_window",
)


@dataclass(frozen=True)
class LogData:
    """Points kept for a log-log fit, with the reasons others were dropped.

    Attributes:
        x: Kept x values, shape (n,), sorted ascending.
        y: Kept y values, shape (n,).
        se: Kept standard errors of y, shape (n,), or None.
        n_excluded: Reason → number of points dropped (only reasons that occurred).
        window: The (lo, hi) window applied to x, inclusive, or None.
    """

    x: NDArray[np.float64]  # (n,)
    y: NDArray[np.float64]  # (n,)
    se: NDArray[np.float64] | None  # (n,)
    n_excluded: dict[str, int]
    window: tuple[float, float] | None = None

    @property
    def u(self) -> NDArray[np.float64]:
        """Log x, shape (n,)."""
        return np.log(self.x)

    @property
    def v(self) -> NDArray[np.float64]:
        """Log y, shape (n,)."""
        return np.log(self.y)

    @property
    def weights(self) -> NDArray[np.float64] | None:
        """Delta-method WLS weights (y/se)², shape (n,), or None for OLS."""
        return None if self.se is None else (self.y / self.se) ** 2


def _as_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def prepare_log_data(
    x: ArrayLike,
    y: ArrayLike,
    se: ArrayLike | None = None,
    window: tuple[float, float] | None = None,
) -> LogData:
    """Validate, filter and sort points for a log-log fit, counting every exclusion.

    Reasons are checked in this order and each point is counted once, under the first
    reason that applies: ``non_finite`` (x, y or se not finite), ``non_positive_x``,
    ``non_positive_y``, ``non_positive_se``, ``outside_window`` (x < lo or x > hi).

    Args:
        x: Abscissae (batch sizes), shape (m,).
        y: Ordinates (gaps), shape (m,).
        se: Standard errors of ``y``, shape (m,), or None.
        window: Inclusive ``(lo, hi)`` range of x to keep, or None for all.

    Returns:
        The kept points and the exclusion counts.

    Raises:
        ValueError: On mismatched lengths, a non-numeric input or a bad window.
    """
    xa, ya = _as_1d("x", x), _as_1d("y", y)
    sa = None if se is None else _as_1d("se", se)
    if len(xa) != len(ya) or (sa is not None and len(sa) != len(xa)):
        raise ValueError("x, y (and se) must have the same length")
    if window is not None:
        lo, hi = float(window[0]), float(window[1])
        if not lo <= hi:
            raise ValueError(f"window must satisfy lo <= hi, got ({lo}, {hi})")
        window = (lo, hi)
    finite = np.isfinite(xa) & np.isfinite(ya)
    if sa is not None:
        finite &= np.isfinite(sa)
    checks = [
        ~finite,
        xa <= 0,
        ya <= 0,
        np.zeros_like(finite) if sa is None else sa <= 0,
        np.zeros_like(finite)
        if window is None
        else (xa < window[0]) | (xa > window[1]),
    ]
    dropped = np.zeros(len(xa), dtype=bool)
    counts: dict[str, int] = {}
    for reason, bad in zip(_REASONS, checks, strict=True):
        new = np.asarray(bad, dtype=bool) & ~dropped
        if new.any():
            counts[reason] = int(new.sum())
        dropped |= new
    keep = np.flatnonzero(~dropped)
    order = keep[np.argsort(xa[keep], kind="stable")]
    return LogData(
        xa[order], ya[order], None if sa is None else sa[order], counts, window
    )
