"""Local-slope profiles on designed curves."""

import numpy as np
import pytest

from eoss.analysis.stats.local_slopes import local_slopes


def test_noiseless_broken_curve_gives_its_local_exponents():
    b = 2.0 ** np.arange(0, 9)
    alpha = np.where(b < 16, 0.0, 1.0)  # flat, then 1/b from b = 16 on
    v = -np.concatenate([[0.0], np.cumsum(alpha[1:] * np.diff(np.log(b)))])
    p = local_slopes(b, np.exp(v), se=0.01 * np.exp(v))
    assert p.exponent == pytest.approx(alpha[1:], abs=1e-12)
    assert np.allclose(p.b_mid, np.sqrt(b[:-1] * b[1:]))
    # SE of a neighbour difference of two 1 % points: √2 · 0.01 / log 2
    assert p.se == pytest.approx(np.sqrt(2) * 0.01 / np.log(2))
    assert "b 1→2: 0.00" in p.text()


def test_replicates_give_between_seed_errors_and_exclusions_are_counted():
    rng = np.random.default_rng(3)
    b = np.repeat([4.0, 8.0, 16.0, 32.0], 3)
    y = b**-0.7 * np.exp(rng.normal(0, 0.1, len(b)))
    y[0] = -1.0  # a non-positive gap: excluded and counted
    p = local_slopes(b, y)  # no point SEs: the seed scatter is the SE
    assert p.n_excluded == {"non_positive_y": 1}
    assert list(p.n_replicates) == [2, 3, 3, 3]
    assert np.all(np.isfinite(p.se)) and np.all(p.se > 0)
    assert np.all((p.ci[:, 0] < 0.7 + 1.0) & (p.ci[:, 1] > 0.7 - 1.0))
