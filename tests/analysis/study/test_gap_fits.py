"""The named fit windows are defined once (gap_fits) and shared by study and claims."""

import numpy as np

from eoss.analysis.claims import scaling
from eoss.analysis.stats.compare import GapCurve
from eoss.analysis.study import gap_fits
from eoss.analysis.study.gap_fits import (
    LARGE,
    MID,
    SMALL,
    Window,
    fit_curve,
    gap_windows,
    windows_for,
)


def test_trained_windows_and_paper_exponents():
    assert (MID.lo, MID.hi, MID.paper_exponent) == (10.0, 100.0, 0.7)
    assert (LARGE.lo, LARGE.hi, LARGE.paper_exponent) == (100.0, 1000.0, 1.0)
    assert (SMALL.lo, SMALL.hi, SMALL.paper_exponent) == (1.0, 8.0, None)
    assert isinstance(MID, Window) and MID.bounds == (10.0, 100.0)


def test_windows_for_is_built_from_the_window_objects():
    n = 1024
    assert list(windows_for(n)) == ["all", "mid", "large", "small", "far", "near"]
    assert windows_for(n) == {"all": None, **{w.name: w.bounds for w in gap_windows(n)}}
    assert windows_for(n)["far"] == (1.0, 64.0)
    assert windows_for(n)["near"] == (256.0, 1023.0)
    assert list(windows_for(None)) == ["all", "mid", "large", "small"]


def test_claims_use_the_same_window_objects():
    assert scaling.MID is gap_fits.MID
    assert scaling.LARGE is gap_fits.LARGE
    assert scaling.SMALL is gap_fits.SMALL


def test_fits_are_made_in_the_defined_windows():
    b = np.array([1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512])
    cf = fit_curve(GapCurve.of(b, b**-0.7, None, "c"), None)
    for w in (MID, LARGE, SMALL):
        fit = cf.fit(w.name)
        assert fit is not None and fit.window == w.bounds
        used = b[(b >= w.lo) & (b <= w.hi)]
        assert fit.n_used == len(used)
