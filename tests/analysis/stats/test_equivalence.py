"""TOST equivalence of exponents: designed curves with a known exponent."""

import numpy as np
import pytest

from eoss.analysis.stats.equivalence import tost
from eoss.analysis.stats.powerlaw import fit_power_law

B = 2.0 ** np.arange(1, 11)


def _fit(exponent, sd=0.03, seed=0):
    rng = np.random.default_rng(seed)
    y = 3.0 * B**-exponent * np.exp(rng.normal(0, sd, len(B)))
    f = fit_power_law(B, y)
    return f.exponent, f.exponent_se, f.df_resid


def test_pure_inverse_b_curve_is_not_equivalent_to_0_7():
    est, se, df = _fit(1.0)
    e = tost(est, se, df, 0.7, 0.1)
    assert e.outcome == "not equivalent" and e.ci95[0] > 0.8
    assert e.p_upper > 0.5  # H0 α ≥ 0.8 is not rejected


def test_0_85_curve_is_equivalent_to_1_at_margin_0_2_but_not_0_1():
    est, se, df = _fit(0.85, sd=0.01)
    assert tost(est, se, df, 1.0, 0.2).outcome == "equivalent"
    assert tost(est, se, df, 1.0, 0.1).outcome == "not equivalent"


def test_imprecise_estimate_is_inconclusive():
    e = tost(0.75, 0.2, 5, 0.7, 0.1)
    assert e.outcome == "inconclusive" and e.ci90[0] < 0.6 < e.ci90[1]


@pytest.mark.parametrize("est", [0.62, 0.68, 0.75, 0.79, 0.83])
def test_tost_p_values_agree_with_the_90_percent_interval(est):
    e = tost(est, 0.02, 12, 0.7, 0.1)
    inside = e.ci90[0] > 0.6 and e.ci90[1] < 0.8
    assert (e.p_tost < 0.05) == inside
    assert (e.outcome == "equivalent") == inside


def test_normal_reference_and_bad_arguments():
    e = tost(1.0, 0.01, None, 1.0, 0.05)
    assert e.df is None and e.p_lower == pytest.approx(e.p_upper)
    assert e.ci90[1] - 1.0 == pytest.approx(1.6448536 * 0.01, rel=1e-6)
    assert "TOST |α − 1| ≤ 0.05" in e.rule and e.to_dict()["p_tost"] == e.p_tost
    with pytest.raises(ValueError, match="margin"):
        tost(1.0, 0.1, 5, 1.0, 0.0)
    assert tost(np.nan, 0.1, 5, 1.0, 0.1).outcome == "inconclusive"
