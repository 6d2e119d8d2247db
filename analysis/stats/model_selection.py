r"""Model selection between one power law and continuous segmented power laws.

All candidate models are fitted to the *same* points (same exclusions, same weights)
and scored by the Gaussian log-likelihood of the log-log model,

* ``scale="residual"``: σ² profiled out,
  :math:`\ell = -\tfrac n2\left(\log \tfrac{2\pi\,\mathrm{RSS}}{n} + 1\right)
  + \tfrac12\sum_i \log w_i` (statsmodels' WLS ``llf``), k = coefficients + 1;
* ``scale="fixed"``: σ² = 1 (the SEs are trusted),
  :math:`\ell = -\tfrac12\mathrm{RSS} - \tfrac n2\log 2\pi + \tfrac12\sum_i\log w_i`,
  k = coefficients,

with AIC = −2ℓ + 2k and BIC = −2ℓ + k log n, each breakpoint counted as a
coefficient. A likelihood-ratio test of one segment against two is deliberately not
offered: under one segment the breakpoint is not identified and the χ² reference
distribution does not apply (Davies 1987, Biometrika 74:33).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from eoss.analysis.stats.information import information_criteria
from eoss.analysis.stats.powerlaw import PowerLawFit, Scale, fit_power_law

if TYPE_CHECKING:  # segmented imports this module
    from eoss.analysis.stats.segmented import SegmentedFit


@dataclass(frozen=True)
class SegmentComparison:
    """One power law against 2 and 3 segments on the same points.

    Attributes:
        rows: One dict per K fitted: n_segments, n_params, loglike, aic, bic,
            delta_aic, delta_bic (relative to the best), and "skipped" reasons for K
            that could not be fitted.
        preferred_aic: K with the smallest AIC.
        preferred_bic: K with the smallest BIC.
        fits: K → the fit (:class:`PowerLawFit` for K = 1).
    """

    rows: tuple[dict[str, Any], ...]
    preferred_aic: int
    preferred_bic: int
    fits: dict[int, PowerLawFit | SegmentedFit] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (fits as their own dicts).

        Returns:
            Plain data.
        """
        return {
            "rows": [dict(r) for r in self.rows],
            "preferred_aic": self.preferred_aic,
            "preferred_bic": self.preferred_bic,
            "fits": {str(k): f.to_dict() for k, f in sorted(self.fits.items())},
        }


def compare_segment_models(
    x: ArrayLike,
    y: ArrayLike,
    *,
    se: ArrayLike | None = None,
    window: tuple[float, float] | None = None,
    max_segments: int = 3,
    alpha: float = 0.05,
    scale: Scale = "residual",
    min_points: int = 2,
) -> SegmentComparison:
    """AIC/BIC comparison of K = 1 … max_segments continuous power-law segments.

    Args:
        x: Batch sizes.
        y: Gaps.
        se: Standard errors of y, or None.
        window: Inclusive x range, or None.
        max_segments: Largest K tried (1, 2 or 3).
        alpha: Significance level of the intervals in each fit.
        scale: "residual" or "fixed".
        min_points: Minimum points per segment.

    Returns:
        The comparison; K values without enough points are listed as skipped.
    """
    from eoss.analysis.stats.segmented import fit_segmented

    base = fit_power_law(x, y, se=se, window=window, alpha=alpha, scale=scale)
    w = base.results.model.weights
    logw = float(np.sum(np.log(np.broadcast_to(w, (base.n_used,)))))
    rss = float(np.sum(w * np.asarray(base.results.resid) ** 2))
    llf, aic, bic, k = information_criteria(rss, base.n_used, 2, logw, scale)
    fits: dict[int, PowerLawFit | SegmentedFit] = {1: base}
    rows = [dict(n_segments=1, n_params=k, loglike=llf, aic=aic, bic=bic)]
    skipped = []
    kw = dict(se=se, window=window, alpha=alpha, scale=scale, min_points=min_points)
    for K in range(2, min(max_segments, 3) + 1):
        try:
            f = fit_segmented(x, y, n_segments=K, **kw)
        except ValueError as exc:
            skipped.append(dict(n_segments=K, skipped=str(exc)))
            continue
        fits[K] = f
        ics = dict(loglike=f.loglike, aic=f.aic, bic=f.bic)
        rows.append(dict(n_segments=K, n_params=f.n_params, **ics))
    best_aic = min(rows, key=lambda r: r["aic"])
    best_bic = min(rows, key=lambda r: r["bic"])
    for r in rows:
        r["delta_aic"] = r["aic"] - best_aic["aic"]
        r["delta_bic"] = r["bic"] - best_bic["bic"]
    return SegmentComparison(
        tuple(rows + skipped), best_aic["n_segments"], best_bic["n_segments"], fits
    )
