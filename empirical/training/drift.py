r"""Drift of a series over a window: OLS trend with a HAC standard error.

For measurements :math:`y_i` at steps :math:`t_i` of a window of length
:math:`L = t_{\max} - t_{\min}`, the drift is the change the fitted linear trend
predicts across the window,

.. math::

    y_i = a + \beta\, t_i + \varepsilon_i, \qquad D = \hat\beta L,
    \qquad \operatorname{SE}(D) = L \cdot \operatorname{SE}_{\mathrm{HAC}}(\hat\beta).

Consecutive measurements along a training trajectory are autocorrelated, so the
OLS standard error understates the uncertainty; the SE is Newey–West's
heteroskedasticity-and-autocorrelation-consistent one (:func:`hac_slope_se`:
Bartlett kernel, ``maxlags`` = ⌊4 (n/100)^{2/9}⌋ ≥ 1, small-sample factor
n/(n − 2); statsmodels' ``OLS.fit(cov_type="HAC")`` with those lags and
``use_correction=True``, checked in
the tests), the regression analogue of a batch-means SE. Training's stop rule and
the analysis of finished records (:mod:`eoss.empirical.training.stationarity`,
:mod:`eoss.analysis.study.stationarity`) both use these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Drift:
    """The trend of a series over a window (module docstring).

    Attributes:
        drift: D = β̂ L, in the units of the series.
        se: HAC standard error of D (NaN with fewer than 4 points).
        n: Points used.
        length: L, in steps.
    """

    drift: float
    se: float
    n: int
    length: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict.

        Returns:
            The fields.
        """
        return {"drift": self.drift, "se": self.se, "n": self.n, "length": self.length}


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


def hac_slope_se(x: np.ndarray, y: np.ndarray) -> float:
    r"""Newey–West standard error of the OLS slope of ``y`` on ``x``.

    With residuals :math:`e_i`, design rows :math:`X_i = (1, x_i)` and
    :math:`u_i = X_i e_i`,

    .. math::

        \hat S = \sum_i u_i u_i^\top + \sum_{l=1}^{L} \Bigl(1 - \frac{l}{L+1}\Bigr)
        \sum_i \bigl(u_i u_{i-l}^\top + u_{i-l} u_i^\top\bigr),\qquad
        \widehat{\operatorname{Cov}}(\hat\beta) = \frac{n}{n-2}
        (X^\top X)^{-1} \hat S (X^\top X)^{-1},

    L = ⌊4 (n/100)^{2/9}⌋ ≥ 1 (statsmodels' ``cov_type="HAC"`` with these lags and
    a test checks the two agree). On the window x ∈ [0, 1] it is the SE of D.

    Args:
        x: Regressor, shape (n,).
        y: Values, shape (n,).

    Returns:
        The SE, NaN with fewer than 4 points.
    """
    n = len(x)
    if n < 4:
        return float("nan")
    design = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    u = design * (y - design @ coef)[:, None]
    s = u.T @ u
    lags = max(int(np.floor(4 * (n / 100) ** (2 / 9))), 1)
    for lag in range(1, min(lags, n - 1) + 1):
        g = u[lag:].T @ u[:-lag]
        s += (1 - lag / (lags + 1)) * (g + g.T)
    bread = np.linalg.inv(design.T @ design)
    cov = bread @ s @ bread * n / (n - 2)
    return float(np.sqrt(max(cov[1, 1], 0.0)))


def tail_drift(steps: ArrayLike, values: ArrayLike) -> Drift | None:
    """Drift D = slope × window length of ``values`` against ``steps``, with its SE.

    Args:
        steps: Steps of the measurements, shape (n,).
        values: Measurements, shape (n,); non-finite values are dropped.

    Returns:
        The drift, or None with fewer than 3 finite points or a zero-length window.
    """
    window = drift_window(steps, values)
    if window is None:
        return None
    x, y, length = window
    return Drift(window_slope(x, y), hac_slope_se(x, y), len(x), length)
