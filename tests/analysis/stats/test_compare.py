import json

import numpy as np
import pytest
import statsmodels.api as sm

from eoss.analysis.stats.compare import GapCurve, compare_exponents

B = 2.0 ** np.arange(9)


def test_noiseless_curves_give_exact_difference():
    static = GapCurve.of(B, 3.0 * B**-1.0, label="static")
    trained = GapCurve.of(B, 0.5 * B**-0.7, label="trained")
    comp = compare_exponents(static, trained)
    assert comp.static.exponent == pytest.approx(1.0, rel=1e-12)
    assert comp.trained.exponent == pytest.approx(0.7, rel=1e-12)
    assert comp.difference == pytest.approx(-0.3, rel=1e-10)
    assert comp.method == "ols"


def test_pooled_interaction_equals_explicit_statsmodels_fit(rng):
    s = np.full(len(B), 0.05)
    ys = B**-1.0 * np.exp(rng.normal(0, s))
    yt = B**-0.7 * np.exp(rng.normal(0, s))
    comp = compare_exponents(GapCurve.of(B, ys, s * ys), GapCurve.of(B, yt, s * yt))
    u = np.log(np.r_[B, B])
    g = np.r_[np.zeros(len(B)), np.ones(len(B))]
    X = np.column_stack([np.ones_like(u), u, g, g * u])
    direct = sm.WLS(np.log(np.r_[ys, yt]), X, weights=1 / np.r_[s, s] ** 2).fit()
    assert comp.difference == pytest.approx(-direct.params[3], rel=1e-10)
    assert comp.p_value == pytest.approx(direct.pvalues[3], rel=1e-8)
    assert comp.method == "wls" and comp.p_value < 1e-3 and comp.p_value_welch < 1e-3
    lo, hi = comp.difference_ci
    assert lo < -0.3 < hi
    json.dumps(comp.to_dict(), allow_nan=False)


def test_equal_exponents_are_not_rejected_too_often():
    # Under H0 the pooled t-test rejects at rate alpha: 300 seeds, 4 binomial SE.
    s = np.full(len(B), 0.1)
    rejections = 0
    n = 300
    for seed in range(n):
        rng = np.random.default_rng(seed)
        ys = 2 * B**-0.9 * np.exp(rng.normal(0, s))
        yt = B**-0.9 * np.exp(rng.normal(0, s))
        comp = compare_exponents(GapCurve.of(B, ys, s * ys), GapCurve.of(B, yt, s * yt))
        rejections += comp.p_value < 0.05
    assert abs(rejections / n - 0.05) <= 4 * np.sqrt(0.05 * 0.95 / n)


def test_window_applies_to_both_and_ols_without_both_ses():
    static = GapCurve.of(B, B**-1.0, B**-1.0 * 0.1)
    trained = GapCurve.of(B, B**-0.7)
    comp = compare_exponents(static, trained, window=(2, 64))
    assert comp.method == "ols"
    assert comp.static.n_used == comp.trained.n_used == 6
    assert comp.static.n_excluded == {"outside_window": 3}


def test_mismatched_curve_raises():
    with pytest.raises(ValueError, match="same length"):
        GapCurve.of([1, 2, 3], [1, 2])
