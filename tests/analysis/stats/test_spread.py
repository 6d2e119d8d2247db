"""Spread max/min across groups: closed forms first, then coverage and pooling."""

import numpy as np
import pytest
from scipy import stats

from eoss.analysis.stats.batch_means import Level
from eoss.analysis.stats.spread import (
    GroupMean,
    log_spread_difference,
    pool_replicates,
    spread,
)


def _level(mean, se, n_blocks=6):
    return Level(mean, se, (mean - 2 * se, mean + 2 * se), 36, n_blocks, None)


def test_spread_bounds_are_the_corners_of_the_bonferroni_box():
    groups = [GroupMean(1.0, 0.1, None, 1), GroupMean(2.0, 0.1, None, 1)]
    s = spread(groups)
    z = stats.norm.ppf(1 - 0.05 / 4)  # two levels: α/(2K) per side
    assert s.estimate == pytest.approx(2.0)
    assert s.ci[0] == pytest.approx((2 - 0.1 * z) / (1 + 0.1 * z), rel=1e-12)
    assert s.ci[1] == pytest.approx((2 + 0.1 * z) / (1 - 0.1 * z), rel=1e-12)
    assert (s.i_min, s.i_max) == (0, 1)


def test_t_quantile_and_family_widen_the_interval():
    g = [GroupMean(1.0, 0.1, 4.0, 2), GroupMean(3.0, 0.1, 4.0, 2)]
    s = spread(g, family=6)
    q = stats.t.ppf(1 - 0.05 / 12, 4)
    assert s.bounds[1, 1] == pytest.approx(3 + 0.1 * q, rel=1e-12)
    assert s.ci[1] > spread(g).ci[1]


def test_equal_levels_have_lower_bound_one_and_nonpositive_bounds_are_open():
    s = spread([GroupMean(1.0, 0.01, None, 1)] * 3)
    assert s.estimate == 1.0 and s.ci[0] == 1.0 and s.ci[1] > 1.0
    wide = spread([GroupMean(0.1, 0.2, None, 1), GroupMean(1.0, 0.01, None, 1)])
    assert wide.ci[1] == np.inf and wide.ci[0] > 1.0


def test_log_spread_difference_from_one_family():
    top = [GroupMean(0.2, 0.01, None, 1), GroupMean(1.0, 0.01, None, 1)]
    bottom = [GroupMean(1.5, 0.01, None, 1), GroupMean(1.6, 0.01, None, 1)]
    a, b = spread(top, family=4), spread(bottom, family=4)
    est, (lo, hi) = log_spread_difference(a, b)
    assert est == pytest.approx(np.log(5.0) - np.log(1.6 / 1.5))
    assert lo == pytest.approx(np.log(a.ci[0]) - np.log(b.ci[1]))
    assert hi == pytest.approx(np.log(a.ci[1]) - np.log(b.ci[0]))
    with pytest.raises(ValueError, match="one Bonferroni family"):
        log_spread_difference(spread(top), b)
    with pytest.raises(ValueError, match="does not cover"):
        log_spread_difference(spread(top, family=3), spread(bottom, family=3))


def test_spread_interval_covers_even_when_every_level_is_equal():
    # The hardest case for a delta-method interval (the noise picks the extremes):
    # the box keeps coverage ≥ 95 %. 2000 replicates: the binomial SD of the
    # coverage at 0.95 is 0.0049, so ≥ 0.95 − 3 SD = 0.935 fails only if it is wrong.
    rng = np.random.default_rng(20240611)
    mu, se, hits = np.array([1.0, 1.0, 1.0, 1.0, 1.0]), 0.02, 0
    reps = 2000
    for _ in range(reps):
        x = mu + rng.normal(0, se, len(mu))
        s = spread([GroupMean(float(v), se, None, 1) for v in x])
        hits += s.ci[0] <= 1.0 <= s.ci[1]
    assert hits / reps >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)


def test_pooling_takes_the_larger_se_with_its_df():
    # between-run scatter dominates: sd/√k on k − 1 df
    g = pool_replicates([_level(1.0, 0.001), _level(1.2, 0.001)])
    assert g.mean == pytest.approx(1.1) and g.df == 1.0
    assert g.se == pytest.approx(np.std([1.0, 1.2], ddof=1) / np.sqrt(2))
    # within dominates: √(Σ se²)/k with the Welch–Satterthwaite df
    g = pool_replicates([_level(1.0, 0.1, 6), _level(1.0, 0.2, 11)])
    assert g.se == pytest.approx(np.sqrt(0.01 + 0.04) / 2)
    assert g.df == pytest.approx(0.05**2 / (0.1**4 / 5 + 0.2**4 / 10))
    one = pool_replicates([_level(2.0, 0.1, 5)])
    assert (one.se, one.df, one.n_runs) == (0.1, 4.0, 1)


def test_pooling_without_any_se_gives_none():
    bad = Level(1.0, float("nan"), (float("nan"),) * 2, 3, 1, None)
    assert pool_replicates([bad]) is None and pool_replicates([]) is None
    g = pool_replicates([bad, _level(1.2, 0.01)])  # between-run SE still exists
    assert g is not None and g.df == 1.0


def test_spread_rejects_bad_arguments():
    with pytest.raises(ValueError):
        spread([GroupMean(1.0, 0.1, None, 1)])
    with pytest.raises(ValueError):
        spread([GroupMean(1.0, 0.1, None, 1)] * 3, family=2)
