r"""Power-law fits of a gap against the batch size: log-log OLS / WLS with statsmodels.

Model (``x`` = batch size b, ``y`` = gap):

.. math::

    \log y_i = \log c - \alpha \log x_i + \varepsilon_i ,
    \qquad \text{i.e.} \qquad y \approx c\, x^{-\alpha}.

**Sign convention.** ``exponent`` is :math:`\alpha`, the *negative* of the log-log
slope, so that "gap ∝ b^-α" reads ``exponent = α`` and a decaying gap has a positive
exponent (the paper's claims are α = 1 and α = 0.7). Every interval, test and table
in eoss uses this convention.

**Weights.** With standard errors ``se`` of ``y``, the delta method gives
:math:`\operatorname{Var}(\log y_i) \approx (se_i / y_i)^2`, so the fit is WLS with
weights :math:`w_i = (y_i / se_i)^2`. The approximation needs ``se ≪ y``; a point
whose ``se`` is comparable to its gap carries little weight, which is the right
direction, but its log is biased — prefer the control-variate gap where available.

**Covariance (``scale``).** Default ``"residual"``: the covariance
:math:`\hat\sigma^2 (X^\top W X)^{-1}` with
:math:`\hat\sigma^2 = \sum_i w_i r_i^2 / (n-2)` and Student-t intervals with n − 2
degrees of freedom (statsmodels' WLS default). This treats the SEs as *relative*
precisions known up to a common factor. We choose it because (i) Monte-Carlo SEs of
a gap are themselves estimates, and MiniBS measured along a trajectory is
autocorrelated, so their absolute scale is unreliable; (ii) a power law is at best
an approximation over a window, and lack of fit must widen the interval rather than
be hidden; (iii) under correctly specified Gaussian log-errors the t-interval is
exact, so nothing is lost in the ideal case except a few degrees of freedom. The
alternative ``"fixed"`` (``cov_type="fixed scale"``: :math:`(X^\top W X)^{-1}`,
normal quantiles) trusts the SEs' absolute scale; it is narrower when the SEs are
right and overconfident when they are not. To tell which case you are in, the fit
reports the weighted lack-of-fit statistic :math:`\chi^2 = \sum_i w_i r_i^2` with
n − 2 degrees of freedom and its p-value (a small p-value means the SEs do not
explain the scatter around the power law).

**Exclusions are never silent.** Points are dropped for a stated reason and
counted in ``n_excluded`` (see :func:`eoss.analysis.stats.log_data.prepare_log_data`).
The verdict on a claimed exponent is
:func:`eoss.analysis.stats.exponent_verdict.exponent_verdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from eoss.analysis.stats.log_data import LogData, prepare_log_data

Scale = Literal["residual", "fixed"]
# Exponents the paper states: static gap ∝ b^-1, trained gap ∝ b^-0.7 (the windows
# they hold in are :mod:`eoss.analysis.study.gap_fits`).
PAPER_EXPONENTS = (1.0, 0.7)


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted power law y ≈ prefactor · x^-exponent (see the module docstring).

    Attributes:
        exponent: α, minus the log-log slope (gap ∝ b^-α).
        exponent_se: Standard error of α.
        exponent_ci: (lower, upper) confidence interval of α at level 1 − alpha.
        prefactor: c = exp(intercept).
        prefactor_ci: Confidence interval of c (exp of the intercept's interval).
        r2: Coefficient of determination of the (weighted) log-log regression.
        n_used: Points used.
        n_excluded: Reason → points dropped (see :func:`prepare_log_data`).
        p_alpha_1: Two-sided p-value of H0: α = 1.
        p_alpha_0_7: Two-sided p-value of H0: α = 0.7.
        method: "ols" or "wls".
        scale: Covariance convention, "residual" or "fixed".
        alpha: Significance level of the intervals (0.05 → 95 % intervals).
        window: The x window applied (inclusive), or None.
        x_range: (min, max) of the x values used.
        df_resid: Residual degrees of freedom, n_used − 2.
        chi2: Weighted lack-of-fit statistic Σ w r² (WLS only, else None).
        chi2_p: Upper-tail p-value of chi2 on df_resid degrees of freedom, or None.
        loglike: Gaussian log-likelihood of the log-log model (statsmodels ``llf``).
        results: The statsmodels results object (not serialised).
    """

    exponent: float
    exponent_se: float
    exponent_ci: tuple[float, float]
    prefactor: float
    prefactor_ci: tuple[float, float]
    r2: float
    n_used: int
    n_excluded: dict[str, int]
    p_alpha_1: float
    p_alpha_0_7: float
    method: str
    scale: str
    alpha: float
    window: tuple[float, float] | None
    x_range: tuple[float, float]
    df_resid: int
    chi2: float | None
    chi2_p: float | None
    loglike: float
    results: Any = field(repr=False, compare=False)

    def p_value(self, exponent: float) -> float:
        """Two-sided p-value of H0: α = ``exponent`` (t-test, or z for "fixed").

        Args:
            exponent: The hypothesised α (gap ∝ b^-exponent).

        Returns:
            The p-value.
        """
        return _slope_pvalue(self.results, exponent)

    def predict(self, x: ArrayLike) -> NDArray[np.float64]:
        """The fitted curve prefactor · x^-exponent.

        Args:
            x: Points, any shape.

        Returns:
            The fitted values, same shape.
        """
        return self.prefactor * np.asarray(x, dtype=float) ** (-self.exponent)

    def summary(self) -> str:
        """Readable summary: the exponent line, the tests, then statsmodels' table.

        Returns:
            Text (statsmodels' table includes the date and time it was printed).
        """
        lo, hi = self.exponent_ci
        head = (
            f"gap ∝ b^-α: α = {self.exponent:.4g} ± {self.exponent_se:.2g} "
            f"({100 * (1 - self.alpha):.0f}% CI [{lo:.4g}, {hi:.4g}]), "
            f"{self.method.upper()} ({self.scale} scale), n = {self.n_used}, "
            f"excluded {self.n_excluded or 'none'}\n"
            f"p(α = 1) = {self.p_alpha_1:.3g}, p(α = 0.7) = {self.p_alpha_0_7:.3g}\n"
        )
        import warnings

        with warnings.catch_warnings():  # normality tests warn below 8 points
            warnings.simplefilter("ignore")
            table = str(self.results.summary())
        return head + table

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every attribute except ``results``.

        Returns:
            Plain numbers, lists and dicts.
        """
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name == "results":
                continue
            val = getattr(self, name)
            out[name] = list(val) if isinstance(val, tuple) else val
        out["n_excluded"] = dict(sorted(self.n_excluded.items()))
        out["n_excluded_total"] = int(sum(self.n_excluded.values()))
        return out


def weighted_fit(
    v: NDArray, design: NDArray, weights: NDArray | None, scale: Scale
) -> Any:
    """Statsmodels OLS (no weights) or WLS of ``v`` on ``design``.

    Args:
        v: Responses (log y), shape (n,).
        design: Regressors, shape (n, p).
        weights: WLS weights, shape (n,), or None for OLS.
        scale: "residual" (estimated σ², t-based inference) or "fixed" (σ² = 1,
            ``cov_type="fixed scale"``, normal-based inference).

    Returns:
        The statsmodels results object.

    Raises:
        ValueError: If ``scale="fixed"`` without weights.
    """
    import statsmodels.api as sm

    model = sm.OLS(v, design) if weights is None else sm.WLS(v, design, weights)
    if scale == "fixed":
        if weights is None:
            raise ValueError('scale="fixed" needs standard errors (se)')
        return model.fit(cov_type="fixed scale")
    return model.fit()


def fit_power_law(
    x: ArrayLike,
    y: ArrayLike,
    *,
    se: ArrayLike | None = None,
    window: tuple[float, float] | None = None,
    alpha: float = 0.05,
    scale: Scale = "residual",
) -> PowerLawFit:
    """Fit y ≈ c · x^-α by OLS (no ``se``) or WLS (weights (y/se)²) on log-log axes.

    Args:
        x: Batch sizes, shape (m,).
        y: Gaps (or any positive quantity), shape (m,).
        se: Standard errors of ``y``, shape (m,), or None for OLS.
        window: Inclusive (lo, hi) range of x to fit, or None.
        alpha: Significance level: intervals have coverage 1 − alpha.
        scale: "residual" (default; t intervals, n − 2 df) or "fixed" (trust the SEs'
            absolute scale; normal intervals). See the module docstring.

    Returns:
        The fit, with exclusions counted and statsmodels' results kept.

    Raises:
        ValueError: With fewer than 3 usable points, a bad alpha or scale, or
            ``scale="fixed"`` without ``se``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if scale not in ("residual", "fixed"):
        raise ValueError(f'scale must be "residual" or "fixed", got {scale!r}')
    data = prepare_log_data(x, y, se, window)
    if len(data.x) < 3 or np.ptp(data.u) == 0:
        raise ValueError(
            f"need at least 3 usable points with distinct x for a power-law fit, got "
            f"{len(data.x)} (excluded: {data.n_excluded or 'none'})"
        )
    design = np.column_stack([np.ones_like(data.u), data.u])
    res = weighted_fit(data.v, design, data.weights, scale)
    return _package(data, res, alpha, scale)


def _package(data: LogData, res: Any, alpha: float, scale: Scale) -> PowerLawFit:
    ci = np.asarray(res.conf_int(alpha))
    slope_lo, slope_hi = float(ci[1, 0]), float(ci[1, 1])
    df = int(round(res.df_resid))
    chi2 = chi2_p = None
    if data.weights is not None:
        chi2 = float(np.sum(data.weights * np.asarray(res.resid) ** 2))
        chi2_p = float(stats.chi2.sf(chi2, df))
    return PowerLawFit(
        exponent=float(-res.params[1]),
        exponent_se=float(res.bse[1]),
        exponent_ci=(-slope_hi, -slope_lo),
        prefactor=float(np.exp(res.params[0])),
        prefactor_ci=(float(np.exp(ci[0, 0])), float(np.exp(ci[0, 1]))),
        r2=float(res.rsquared),
        n_used=len(data.x),
        n_excluded=dict(data.n_excluded),
        p_alpha_1=_slope_pvalue(res, PAPER_EXPONENTS[0]),
        p_alpha_0_7=_slope_pvalue(res, PAPER_EXPONENTS[1]),
        method="ols" if data.weights is None else "wls",
        scale=scale,
        alpha=alpha,
        window=data.window,
        x_range=(float(data.x[0]), float(data.x[-1])),
        df_resid=df,
        chi2=chi2,
        chi2_p=chi2_p,
        loglike=float(res.llf),
        results=res,
    )


def _slope_pvalue(res: Any, exponent: float) -> float:
    """Two-sided p-value of H0: slope = -exponent (statsmodels' t or z test)."""
    # A noiseless fit has a zero residual scale: t = ±inf, p = 0 (or NaN at t = 0/0).
    with np.errstate(divide="ignore", invalid="ignore"):
        test = res.t_test((np.array([[0.0, 1.0]]), np.array([-exponent])))
        return float(np.squeeze(test.pvalue))
