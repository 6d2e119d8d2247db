import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from eoss.analysis.stats.information import information_criteria
from eoss.analysis.stats.model_selection import compare_segment_models
from eoss.analysis.stats.powerlaw import fit_power_law
from eoss.analysis.stats.segmented import fit_segmented


def _reference(name: str):
    path = Path(__file__).resolve().parents[2] / "reference" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _reference("powerlaw_reference").TWO_REGIME
B = 2.0 ** np.arange(11)  # 1 … 1024


def _two_regime(u: np.ndarray) -> np.ndarray:
    a1, a2 = ref["exponents"]
    return (
        ref["log_c"] - a1 * u - (a2 - a1) * np.maximum(u - np.log(ref["breakpoint"]), 0)
    )


def test_noiseless_two_regime_curve_is_recovered():
    fit = fit_segmented(B, np.exp(_two_regime(np.log(B))))
    # The polish (bounded Brent, xatol 1e-13 in log b) resolves the breakpoint far
    # below 1e-8 relative; the exponents follow from it.
    assert fit.breakpoints[0] == pytest.approx(ref["breakpoint"], rel=1e-8)
    assert fit.exponents == pytest.approx(ref["exponents"], rel=1e-8)
    assert fit.rss == pytest.approx(0.0, abs=1e-18)
    assert fit.predict(B) == pytest.approx(np.exp(_two_regime(np.log(B))), rel=1e-8)


def test_noiseless_three_regime_curve_is_recovered():
    u = np.log(B)
    v = _two_regime(u) - 0.5 * np.maximum(u - np.log(300.0), 0)
    fit = fit_segmented(B, np.exp(v), n_segments=3)
    assert fit.breakpoints == pytest.approx((40.0, 300.0), rel=1e-6)
    assert fit.exponents == pytest.approx((0.7, 1.0, 1.5), rel=1e-6)


def test_noisy_breakpoint_interval_contains_truth(rng):
    s = 0.03
    y = np.exp(_two_regime(np.log(B)) + rng.normal(0, s, len(B)))
    fit = fit_segmented(B, y, se=s * y)
    lo, hi = fit.breakpoint_ci[0]
    assert lo < ref["breakpoint"] < hi
    assert fit.breakpoint_ci_open == ((False, False),)
    for a, est, se in zip(
        ref["exponents"], fit.exponents, fit.exponent_se, strict=True
    ):
        assert abs(est - a) < 4 * se
    json.dumps(fit.to_dict(), allow_nan=False)


def test_fixed_breakpoint_fit_equals_grid_optimum(rng):
    # Independent check of the search: the RSS at the reported breakpoint is no
    # larger than a brute-force scan on a much finer grid (same admissible range).
    y = np.exp(_two_regime(np.log(B)) + rng.normal(0, 0.05, len(B)))
    fit = fit_segmented(B, y)
    u, v = np.log(B), np.log(y)
    scan = []
    for t in np.linspace(u[1], u[-2], 5001):
        X = np.column_stack([np.ones_like(u), u, np.maximum(u - t, 0)])
        r = v - X @ np.linalg.lstsq(X, v, rcond=None)[0]
        scan.append(r @ r)
    assert fit.rss <= min(scan) * (1 + 1e-9)


def test_exponent_se_includes_breakpoint_uncertainty(rng):
    y = np.exp(_two_regime(np.log(B)) + rng.normal(0, 0.05, len(B)))
    fit = fit_segmented(B, y)
    assert fit.df_resid == len(B) - 4
    u = np.log(B)
    b0, b1, d1 = fit.results.params
    theta = np.array([b0, b1, d1, np.log(fit.breakpoints[0])])

    def mean(t):
        return t[0] + t[1] * u + t[2] * np.maximum(u - t[3], 0)

    # Independent Jacobian by central differences (the model is piecewise linear in
    # tau, smooth away from the data points; h = 1e-6 keeps the error ~1e-10).
    h = 1e-6
    J = np.column_stack(
        [(mean(theta + h * e) - mean(theta - h * e)) / (2 * h) for e in np.eye(4)]
    )
    cov = np.linalg.inv(J.T @ J) * fit.rss / fit.df_resid
    se2 = np.sqrt(cov[1, 1] + cov[2, 2] + 2 * cov[1, 2])  # slope of segment 2
    assert fit.exponent_se == pytest.approx((np.sqrt(cov[1, 1]), se2), rel=1e-6)
    q = stats.t.ppf(0.975, fit.df_resid)
    lo, hi = fit.exponent_ci[1]
    assert hi - lo == pytest.approx(2 * q * se2, rel=1e-6)


def test_one_segment_likelihood_matches_statsmodels(rng):
    y = B**-0.8 * np.exp(rng.normal(0, 0.1, len(B)))
    se = 0.1 * y
    pl = fit_power_law(B, y, se=se)
    w = 1 / 0.1**2 * np.ones(len(B))
    rss = float(np.sum(w * pl.results.resid**2))
    llf, aic, bic, k = information_criteria(
        rss, len(B), 2, float(np.log(w).sum()), "residual"
    )
    assert llf == pytest.approx(pl.results.llf, rel=1e-12)
    assert (
        k == 3
        and aic == pytest.approx(-2 * llf + 6)
        and bic == pytest.approx(-2 * llf + 3 * np.log(len(B)))
    )


def test_aic_bic_prefer_segments_only_when_there_is_a_break(rng):
    s = 0.02
    y_break = np.exp(_two_regime(np.log(B)) + rng.normal(0, s, len(B)))
    with_break = compare_segment_models(B, y_break, se=s * y_break, max_segments=2)
    assert with_break.preferred_bic == 2 and with_break.preferred_aic == 2
    rows = {r["n_segments"]: r for r in with_break.rows}
    assert rows[2]["delta_aic"] == 0 and rows[1]["delta_aic"] > 10
    json.dumps(with_break.to_dict(), allow_nan=False)


def test_bic_selects_one_segment_for_most_straight_lines():
    # Under a single power law BIC should usually keep K = 1 (the breakpoint's LR
    # statistic has a heavier tail than chi2, so not always): require a majority.
    b = 2.0 ** np.arange(0, 11, 0.5)
    picks = []
    for seed in range(60):
        y = b**-0.8 * np.exp(np.random.default_rng(seed).normal(0, 0.02, len(b)))
        picks.append(
            compare_segment_models(b, y, se=0.02 * y, max_segments=2).preferred_bic
        )
    assert np.mean(np.array(picks) == 1) > 0.5


def test_too_few_points_is_reported_not_fitted():
    x = np.array([1, 2, 4, 8, 16.0])
    comp = compare_segment_models(x, x**-1.0 * np.array([1, 1.01, 0.99, 1.0, 1.02]))
    skipped = [r for r in comp.rows if "skipped" in r]
    assert [r["n_segments"] for r in skipped] == [3]
    with pytest.raises(ValueError, match="segments"):
        fit_segmented(x[:4], x[:4] ** -1.0)
    with pytest.raises(ValueError, match="2 or 3"):
        fit_segmented(B, B**-1.0, n_segments=4)


def test_open_interval_flagged_when_break_is_not_identified(rng):
    y = B**-0.8 * np.exp(rng.normal(0, 0.05, len(B)))  # no break at all
    fit = fit_segmented(B, y)
    assert any(fit.breakpoint_ci_open[0])


def test_breakpoint_and_exponent_interval_coverage():
    # ~0.95 asymptotically (Feder 1975); 200 seeds, 4 binomial SE tolerance.
    s, n = 0.05, 200
    hits = np.zeros(3)
    b = 2.0 ** np.arange(0, 11, 0.5)
    for seed in range(n):
        noise = np.random.default_rng(seed).normal(0, s, len(b))
        y = np.exp(_two_regime(np.log(b)) + noise)
        fit = fit_segmented(b, y, se=s * y)
        lo, hi = fit.breakpoint_ci[0]
        hits[0] += lo <= ref["breakpoint"] <= hi
        for k, a in enumerate(ref["exponents"]):
            hits[k + 1] += fit.exponent_ci[k][0] <= a <= fit.exponent_ci[k][1]
    assert np.all(np.abs(hits / n - 0.95) <= 4 * np.sqrt(0.95 * 0.05 / n))
