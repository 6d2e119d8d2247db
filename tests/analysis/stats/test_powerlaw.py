import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from eoss.analysis.stats.exponent_verdict import exponent_verdict
from eoss.analysis.stats.log_data import prepare_log_data
from eoss.analysis.stats.powerlaw import fit_power_law


def _reference(name: str):
    path = Path(__file__).resolve().parents[2] / "reference" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _reference("powerlaw_reference")

# Noiseless fits are exact up to rounding in log/exp and the QR solve: 1e-12 is
# ~5000 eps, ample for 6-12 points with |log x| <= 7.
EXACT = 1e-12


@pytest.mark.parametrize("alpha", [1.0, 0.7, 0.5, -0.3])
@pytest.mark.parametrize("prefactor", [3.0, 1e-4])
def test_noiseless_power_law_recovered_exactly(alpha, prefactor):
    x = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 1000.0])
    y = prefactor * x**-alpha
    fit = fit_power_law(x, y)
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    assert fit.exponent == pytest.approx(alpha, rel=EXACT, abs=EXACT)
    assert fit.exponent == pytest.approx(-slope, rel=EXACT, abs=EXACT)
    assert fit.prefactor == pytest.approx(prefactor, rel=EXACT)
    assert fit.prefactor == pytest.approx(np.exp(intercept), rel=EXACT)
    assert fit.r2 == pytest.approx(1.0, abs=EXACT)
    assert fit.n_used == 10 and fit.n_excluded == {}


def test_closed_form_ols_reference():
    fit = fit_power_law(ref.X, ref.Y)
    tq = stats.t.ppf(0.975, ref.DF)
    assert fit.exponent == pytest.approx(ref.ALPHA, rel=EXACT)
    assert fit.prefactor == pytest.approx(np.exp(ref.LOG_C), rel=EXACT)
    assert fit.exponent_se == pytest.approx(ref.SE_ALPHA, rel=1e-10)
    lo, hi = ref.ALPHA - tq * ref.SE_ALPHA, ref.ALPHA + tq * ref.SE_ALPHA
    assert fit.exponent_ci == pytest.approx((lo, hi), rel=1e-10)
    for a, p in [(1.0, fit.p_alpha_1), (0.7, fit.p_alpha_0_7)]:
        expected = 2 * stats.t.sf(abs(ref.ALPHA - a) / ref.SE_ALPHA, ref.DF)
        assert p == pytest.approx(expected, rel=1e-8)
    assert fit.r2 == pytest.approx(ref.R2, rel=1e-10)
    assert fit.df_resid == ref.DF and fit.method == "ols"


def test_wls_matches_statsmodels_and_weighted_polyfit(rng):
    x = np.array([1, 2, 4, 8, 16, 32, 64.0])
    s = np.linspace(0.02, 0.2, 7)
    y = 2 * x**-0.7 * np.exp(rng.normal(0, s))
    fit = fit_power_law(x, y, se=s * y)
    w = 1 / s**2  # (y / se)^2
    direct = sm.WLS(np.log(y), sm.add_constant(np.log(x)), weights=w).fit()
    assert fit.exponent == pytest.approx(-direct.params[1], rel=1e-12)
    assert fit.exponent_se == pytest.approx(direct.bse[1], rel=1e-12)
    # np.polyfit weights multiply the unsquared residuals: sqrt of the WLS weights.
    slope, _ = np.polyfit(np.log(x), np.log(y), 1, w=np.sqrt(w))
    assert fit.exponent == pytest.approx(-slope, rel=1e-10)
    chi2 = np.sum(w * direct.resid**2)
    assert fit.chi2 == pytest.approx(chi2, rel=1e-12)
    assert fit.chi2_p == pytest.approx(stats.chi2.sf(chi2, 5), rel=1e-10)
    assert fit.loglike == pytest.approx(direct.llf, rel=1e-12)


def test_fixed_scale_uses_unscaled_covariance(rng):
    x = np.array([1, 2, 4, 8, 16, 32.0])
    s = np.full(6, 0.1)
    y = x**-1.0 * np.exp(rng.normal(0, s))
    fixed = fit_power_law(x, y, se=s * y, scale="fixed")
    U = np.column_stack([np.ones(6), np.log(x)])
    cov = np.linalg.inv(U.T @ (U / s[:, None] ** 2))
    assert fixed.exponent_se == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-10)
    z = stats.norm.ppf(0.975)
    assert fixed.exponent_ci[1] - fixed.exponent_ci[0] == pytest.approx(
        2 * z * np.sqrt(cov[1, 1]), rel=1e-10
    )
    with pytest.raises(ValueError, match="fixed"):
        fit_power_law(x, y, scale="fixed")


def _coverage(scale: str, n_seeds: int) -> float:
    x = 2.0 ** np.arange(8)
    s = np.linspace(0.05, 0.3, 8)  # heteroscedastic log-errors with known sd
    hits = 0
    for seed in range(n_seeds):
        y = 2 * x**-0.7 * np.exp(np.random.default_rng(seed).normal(0, s))
        lo, hi = fit_power_law(x, y, se=s * y, scale=scale).exponent_ci
        hits += lo <= 0.7 <= hi
    return hits / n_seeds


@pytest.mark.parametrize("scale", ["residual", "fixed"])
def test_95_percent_interval_has_nominal_coverage(scale):
    # Gaussian log-errors with sd = se/y exactly: both conventions are exact here.
    n = 400
    cover = _coverage(scale, n)
    tol = 4 * np.sqrt(0.95 * 0.05 / n)  # 4 binomial standard errors = 0.044
    assert abs(cover - 0.95) <= tol


def test_pvalue_agrees_with_interval(rng):
    x = 2.0 ** np.arange(6)
    for _ in range(20):
        y = x**-0.85 * np.exp(rng.normal(0, 0.15, 6))
        fit = fit_power_law(x, y)
        for a, p in [(1.0, fit.p_alpha_1), (0.7, fit.p_alpha_0_7)]:
            inside = fit.exponent_ci[0] <= a <= fit.exponent_ci[1]
            assert inside == (p >= 0.05)
            assert p == pytest.approx(fit.p_value(a))


def test_exclusions_are_counted_by_reason():
    x = [1, 2, 4, 8, 16, 32, 64, -1, np.nan, 128]
    y = [1.0, 0.5, -0.1, 0.125, 0.0, 1 / 32, 1 / 64, 1.0, 1.0, 1 / 128]
    se = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 0.1, 0.1, 0.1]
    fit = fit_power_law(x, y, se=se, window=(1, 100))
    assert fit.n_excluded == {
        "non_finite": 1,
        "non_positive_x": 1,
        "non_positive_y": 2,
        "non_positive_se": 1,
        "outside_window": 1,
    }
    assert fit.n_used == 4
    d = fit.to_dict()
    assert d["n_excluded_total"] == 6
    json.dumps(d, allow_nan=False)
    assert "results" not in d and d["window"] == [1.0, 100.0]


def test_prepare_sorts_and_keeps_all_when_clean():
    data = prepare_log_data([4, 1, 2], [0.25, 1, 0.5])
    assert list(data.x) == [1, 2, 4] and list(data.y) == [1, 0.5, 0.25]
    assert data.n_excluded == {} and data.weights is None


@pytest.mark.parametrize(
    "args, match",
    [
        (([1, 2], [1, 0.5]), "at least 3"),
        (([1, 2, 4], [1, 0.5]), "same length"),
        (([1, 2, 4], [1, -0.5, -1]), "non_positive_y"),
        ((["a", 2, 4], [1, 2, 3]), "numeric"),
    ],
)
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(*args)


def test_bad_window_and_alpha():
    with pytest.raises(ValueError, match="window"):
        fit_power_law([1, 2, 4], [1, 2, 3], window=(10, 1))
    with pytest.raises(ValueError, match="alpha"):
        fit_power_law([1, 2, 4], [1, 2, 3], alpha=1.5)


def test_summary_mentions_exponent_and_tests():
    fit = fit_power_law(ref.X, ref.Y)
    text = fit.summary()
    assert "α = 0.8" in text and "p(α = 1)" in text and "OLS" in text


@pytest.mark.parametrize(
    "ci, claimed, rivals, verdict",
    [
        ((0.9, 1.1), 1.0, {"b^-0.7": 0.7}, "supported"),
        ((0.6, 1.1), 1.0, {"b^-0.7": 0.7}, "inconclusive"),
        ((0.6, 0.8), 1.0, {"b^-0.7": 0.7}, "not supported"),
        ((0.9, 1.1), 1.0, None, "supported"),
    ],
)
def test_exponent_verdict(ci, claimed, rivals, verdict):
    assert exponent_verdict(ci, claimed, rivals) == verdict
