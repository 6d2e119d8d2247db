"""Trend drift with a HAC SE on designed series."""

import numpy as np
import pytest

from eoss.analysis.stats.drift import trend_drift


def test_linear_ramp_drift_is_slope_times_window():
    t = np.arange(100, 200, 5.0)
    d = trend_drift(t, 0.3 + 0.002 * t)
    assert d.drift == pytest.approx(0.002 * 95, rel=1e-10) and d.length == 95


def test_flat_noisy_series_has_small_drift_within_its_se():
    rng = np.random.default_rng(0)
    t = np.arange(60.0)
    d = trend_drift(t, 1.0 + rng.normal(0, 0.02, len(t)))
    assert abs(d.drift) < 4 * d.se and d.se > 0


def test_too_few_points():
    assert trend_drift([1, 2], [1.0, 2.0]) is None
    assert np.isnan(trend_drift([1, 2, 3], [1.0, 2.0, 3.5]).se)


@pytest.mark.parametrize("n", [4, 9, 40, 400])
def test_hac_se_equals_statsmodels_newey_west(n):
    """The numpy Newey–West SE is statsmodels' OLS HAC SE with the same lags and
    its small-sample correction n/(n − 2) (statsmodels' default leaves it out)."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(n)
    t = np.sort(rng.uniform(0, 1000, n))
    y = 0.2 + 1e-4 * t + np.cumsum(rng.normal(0, 0.01, n))  # autocorrelated noise
    d = trend_drift(t, y)
    x = (t - t.min()) / np.ptp(t)
    lags = max(int(np.floor(4 * (n / 100) ** (2 / 9))), 1)
    kw = {"maxlags": lags, "use_correction": True}
    res = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HAC", cov_kwds=kw)
    assert d.drift == pytest.approx(res.params[1], rel=1e-10)
    assert d.se == pytest.approx(res.bse[1], rel=1e-10)
