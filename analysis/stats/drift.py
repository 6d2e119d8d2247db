r"""Drift of a trajectory over a window: OLS trend with a HAC standard error.

For measurements :math:`y_i` at steps :math:`t_i` of a window of length
:math:`L = t_{\max} - t_{\min}`, the drift is the change the fitted linear trend
predicts across the window,

.. math::

    y_i = a + \beta\, t_i + \varepsilon_i, \qquad D = \hat\beta L,
    \qquad \operatorname{SE}(D) = L \cdot \operatorname{SE}_{\mathrm{HAC}}(\hat\beta).

Consecutive measurements along a training trajectory are autocorrelated, so the
OLS standard error understates the uncertainty; the SE is Newey–West's
heteroskedasticity-and-autocorrelation-consistent one (statsmodels
``cov_type="HAC"``, Bartlett kernel, ``maxlags`` = ⌊4 (n/100)^{2/9}⌋, at least 1),
the regression analogue of the batch-means SE of
:mod:`eoss.analysis.stats.batch_means`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from eoss.empirical.training.stationarity import drift_window, window_slope


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
        return asdict(self)


def trend_drift(steps: ArrayLike, values: ArrayLike) -> Drift | None:
    """Drift D = slope × window length of ``values`` against ``steps``.

    Args:
        steps: Steps of the measurements, shape (n,).
        values: Measurements, shape (n,); non-finite values are dropped.

    Returns:
        The drift, or None with fewer than 3 finite points or a zero-length window.
    """
    import statsmodels.api as sm

    window = drift_window(steps, values)
    if window is None:
        return None
    x, y, length = window
    drift = window_slope(x, y)  # the training rule's own number
    n = len(x)
    if n < 4:
        return Drift(float(drift), float("nan"), n, length)
    lags = max(int(np.floor(4 * (n / 100) ** (2 / 9))), 1)
    design = np.column_stack([np.ones_like(x), x])
    res = sm.OLS(y, design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    return Drift(float(drift), float(res.bse[1]), n, length)
