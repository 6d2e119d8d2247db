r"""Static vs trained gap: both power laws side by side; do their exponents differ?

The *static* gap is MiniBS − FullBS of a frozen network as a function of b (from
``eoss static-gap``); the *trained* gap is the plateau gap of runs trained at each b
(from sweeps). The paper claims α ≈ 1 for the first and α ≈ 0.7 for the second
(gap ∝ b^-α, the sign convention of :mod:`eoss.analysis.stats.powerlaw`).

**Test of equal exponents (primary): pooled regression with an interaction.** With
:math:`u = \log b`, :math:`g = 1` for trained points and 0 for static ones,

.. math::

    \log y = \beta_0 + \beta_1 u + \gamma_0 g + \gamma_1 g u + \varepsilon ,

so :math:`\alpha_{trained} - \alpha_{static} = -\gamma_1` and H0: γ₁ = 0 is a t-test
(WLS with weights (y/se)² when *both* curves have SEs, else OLS). The pooled model
shares one residual scale between the curves, which buys degrees of freedom when
each curve has few points, but is wrong if the two curves' SEs are on different
scales. **Check (secondary): Welch-type test** on the separately fitted exponents,
t = (α_t − α_s) / √(se_t² + se_s²) with Welch–Satterthwaite degrees of freedom
(normal reference under ``scale="fixed"``), which does not share the scale. Both
are reported; they should agree when the pooled assumption is reasonable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from eoss.analysis.stats.log_data import prepare_log_data
from eoss.analysis.stats.powerlaw import (
    PowerLawFit,
    Scale,
    fit_power_law,
    weighted_fit,
)


@dataclass(frozen=True)
class GapCurve:
    """A gap-vs-batch-size curve.

    Attributes:
        batch_size: b values, shape (n,).
        gap: Gap at each b, shape (n,).
        gap_se: Standard errors, shape (n,), or None.
        label: Where it came from (run id, file), for tables and legends.
    """

    batch_size: NDArray[np.float64]  # (n,)
    gap: NDArray[np.float64]  # (n,)
    gap_se: NDArray[np.float64] | None  # (n,)
    label: str = ""

    @classmethod
    def of(
        cls, b: ArrayLike, gap: ArrayLike, se: ArrayLike | None = None, label: str = ""
    ) -> GapCurve:
        """Build from array-likes (float64 copies).

        Args:
            b: Batch sizes.
            gap: Gaps.
            se: Standard errors or None.
            label: Description.

        Returns:
            The curve.

        Raises:
            ValueError: On mismatched lengths.
        """
        b, g = np.asarray(b, dtype=float), np.asarray(gap, dtype=float)
        s = None if se is None else np.asarray(se, dtype=float)
        if b.shape != g.shape or (s is not None and s.shape != b.shape):
            raise ValueError("batch_size, gap and gap_se must have the same length")
        return cls(b, g, s, label)


@dataclass(frozen=True)
class ExponentComparison:
    """Static and trained exponents and the test of their difference.

    Attributes:
        static: Power-law fit of the static curve.
        trained: Power-law fit of the trained curve.
        difference: α_trained − α_static from the pooled regression.
        difference_se: Its standard error.
        difference_ci: Its interval at level 1 − alpha.
        p_value: Two-sided p-value of H0: equal exponents (pooled interaction t-test).
        p_value_welch: Two-sided p-value of the Welch-type test on separate fits.
        method: "ols" or "wls" (pooled fit).
        window: x window applied to both curves, or None.
        alpha: Significance level.
        results: statsmodels results of the pooled regression.
    """

    static: PowerLawFit
    trained: PowerLawFit
    difference: float
    difference_se: float
    difference_ci: tuple[float, float]
    p_value: float
    p_value_welch: float
    method: str
    window: tuple[float, float] | None
    alpha: float
    results: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (both fits nested, no statsmodels objects).

        Returns:
            Plain data.
        """
        return {
            "static": self.static.to_dict(),
            "trained": self.trained.to_dict(),
            "difference": self.difference,
            "difference_se": self.difference_se,
            "difference_ci": list(self.difference_ci),
            "p_value": self.p_value,
            "p_value_welch": self.p_value_welch,
            "method": self.method,
            "window": None if self.window is None else list(self.window),
            "alpha": self.alpha,
        }


def _pooled_design(u_s: NDArray, u_t: NDArray) -> NDArray:
    """Columns [1, u, g, g·u] for static rows then trained rows."""
    u = np.concatenate([u_s, u_t])
    g = np.concatenate([np.zeros_like(u_s), np.ones_like(u_t)])
    return np.column_stack([np.ones_like(u), u, g, g * u])


def _welch_pvalue(a: PowerLawFit, b: PowerLawFit) -> float:
    """Two-sided p of α_a = α_b from separate fits (Welch–Satterthwaite df)."""
    va, vb = a.exponent_se**2, b.exponent_se**2
    t = (b.exponent - a.exponent) / np.sqrt(va + vb)
    if a.scale == "fixed":  # SEs trusted: normal reference
        return float(2 * stats.norm.sf(abs(t)))
    df = (va + vb) ** 2 / (va**2 / a.df_resid + vb**2 / b.df_resid)
    return float(2 * stats.t.sf(abs(t), df))


def compare_exponents(
    static: GapCurve,
    trained: GapCurve,
    *,
    window: tuple[float, float] | None = None,
    alpha: float = 0.05,
    scale: Scale = "residual",
) -> ExponentComparison:
    """Fit both curves and test whether their power-law exponents differ.

    Args:
        static: The static (frozen-network) gap curve.
        trained: The trained plateau gap curve.
        window: Inclusive b range applied to both, or None.
        alpha: Significance level.
        scale: Covariance convention (see :mod:`eoss.analysis.stats.powerlaw`).

    Returns:
        The comparison (separate fits, pooled interaction test, Welch check).

    Raises:
        ValueError: If either curve has fewer than 3 usable points.
    """
    use_se = static.gap_se is not None and trained.gap_se is not None
    fits = [
        fit_power_law(
            c.batch_size,
            c.gap,
            se=c.gap_se if use_se else None,
            window=window,
            alpha=alpha,
            scale=scale if use_se else "residual",
        )
        for c in (static, trained)
    ]
    ds, dt = (
        prepare_log_data(c.batch_size, c.gap, c.gap_se if use_se else None, window)
        for c in (static, trained)
    )
    design = _pooled_design(ds.u, dt.u)
    v = np.concatenate([ds.v, dt.v])
    w = np.concatenate([ds.weights, dt.weights]) if use_se else None
    res = weighted_fit(v, design, w, scale if use_se else "residual")
    diff, diff_se = -float(res.params[3]), float(res.bse[3])
    with np.errstate(divide="ignore", invalid="ignore"):  # noiseless: se = 0
        p_pooled = float(np.squeeze(res.t_test(np.array([[0, 0, 0, 1.0]])).pvalue))
        p_welch = _welch_pvalue(fits[0], fits[1])
    ci = np.asarray(res.conf_int(alpha))[3]
    return ExponentComparison(
        static=fits[0],
        trained=fits[1],
        difference=diff,
        difference_se=diff_se,
        difference_ci=(-float(ci[1]), -float(ci[0])),
        p_value=p_pooled,
        p_value_welch=p_welch,
        method="wls" if use_se else "ols",
        window=window,
        alpha=alpha,
        results=res,
    )
