"""mean_se: the one mean ± standard-error computation of eoss.analysis."""

import numpy as np
import pytest

from eoss.analysis.stats.batch_means import block_level
from eoss.analysis.stats.mean import mean_se


@pytest.mark.parametrize("k", [2, 3, 10, 257])
def test_mean_se_matches_numpy(k):
    x = np.random.default_rng(k).normal(3.0, 2.0, k)
    mean, se = mean_se(x)
    assert mean == np.mean(x)
    assert se == np.std(x, ddof=1) / np.sqrt(k)


def test_mean_se_of_one_value_has_nan_se():
    mean, se = mean_se([4.5])
    assert mean == 4.5 and np.isnan(se)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]]])
def test_mean_se_rejects_empty_or_2d(bad):
    with pytest.raises(ValueError):
        mean_se(bad)


def test_block_level_is_mean_se_of_block_means():
    x = np.random.default_rng(0).normal(size=100)  # 10 blocks of 10
    lvl = block_level(x)
    mean, se = mean_se(x.reshape(10, 10).mean(axis=1))
    assert (lvl.mean, lvl.se) == (mean, se)
