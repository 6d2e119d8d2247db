"""Information criteria (log-likelihood, AIC, BIC) of a least-squares fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from eoss.analysis.stats.powerlaw import Scale

if TYPE_CHECKING:  # segmented imports this module
    pass


def information_criteria(
    rss: float, n: int, n_coef: int, logw_sum: float, scale: Scale
) -> tuple[float, float, float, int]:
    """Gaussian log-likelihood, AIC and BIC of a weighted least-squares fit.

    ``"residual"``: σ² profiled out, llf = −n/2 (log(2π RSS/n) + 1) + ½ Σ log w, and
    k = n_coef + 1 (statsmodels' WLS ``llf``). ``"fixed"``: σ² = 1,
    llf = −½ RSS − n/2 log 2π + ½ Σ log w, k = n_coef.

    Args:
        rss: Weighted residual sum of squares Σ w r².
        n: Number of points.
        n_coef: Estimated mean parameters (breakpoints included).
        logw_sum: Σ log w (0 for OLS).
        scale: "residual" or "fixed".

    Returns:
        (loglike, aic, bic, k).
    """
    if scale == "fixed":
        llf, k = -0.5 * rss - 0.5 * n * np.log(2 * np.pi) + 0.5 * logw_sum, n_coef
    else:
        with np.errstate(divide="ignore"):  # rss = 0 (noiseless) → llf = +inf
            llf = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1) + 0.5 * logw_sum
        k = n_coef + 1
    return float(llf), float(-2 * llf + 2 * k), float(-2 * llf + k * np.log(n)), k
