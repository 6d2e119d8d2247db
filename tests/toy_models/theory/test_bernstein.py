"""Matrix Bernstein bounds: closed-form values, parameters, and a sampled check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eoss.toy_models.derivations.bernstein import bernstein_derivation, verify_bernstein
from eoss.toy_models.derivations.result import Derivation
from eoss.toy_models.theory.bernstein import (
    bernstein_parameters,
    crossover_batch_size,
    expected_lambda_max_bound,
    expected_norm_bound,
    tail_bound,
)
from eoss.toy_models.theory.intrinsic_bernstein import (
    expected_lambda_max_bound_intrinsic,
    intrinsic_dimension,
)

EPS = np.finfo(np.float64).eps
RTOL = 64 * EPS  # a handful of float64 operations (sqrt, log, division)


def test_norm_bound_closed_form():
    # sigma2 = 2, L = 3, d = 4, b = 5: sqrt(2*2*log 8/5) + 3*log 8/15.
    expected = math.sqrt(4 * math.log(8) / 5) + 3 * math.log(8) / 15
    assert expected_norm_bound(2.0, 3.0, 4, 5) == pytest.approx(expected, rel=RTOL)


def test_lambda_max_bound_closed_form_and_dim1_is_zero():
    expected = math.sqrt(4 * math.log(4) / 5) + 3 * math.log(4) / 15
    assert expected_lambda_max_bound(2.0, 3.0, 4, 5) == pytest.approx(
        expected, rel=RTOL
    )
    # A centred scalar has mean 0, and the bound with log(1) = 0 says exactly that.
    assert expected_lambda_max_bound(1.0, 1.0, 1, 7) == 0.0


def test_bounds_are_vectorised_over_b():
    b = np.array([1, 2, 8, 64])
    vec = expected_norm_bound(0.3, 1.5, 10, b)
    assert isinstance(vec, np.ndarray) and vec.shape == (4,)
    loop = [expected_norm_bound(0.3, 1.5, 10, int(x)) for x in b]
    np.testing.assert_allclose(vec, loop, rtol=RTOL)
    assert np.all(np.diff(vec) < 0)
    assert isinstance(expected_lambda_max_bound(0.3, 1.5, 10, 3), float)


def test_regimes_and_crossover():
    sigma2, L, d = 1e-4, 2.0, 50
    b_star = crossover_batch_size(sigma2, L, d)
    ell = math.log(2 * d)
    assert math.sqrt(2 * sigma2 * ell / b_star) == pytest.approx(
        L * ell / (3 * b_star), rel=RTOL
    )
    # Far below b*: the bound halves when b doubles (1/b); far above: it drops by
    # a factor sqrt(2) (1/sqrt b). Tolerance: the other term is <= 10% there.
    small, large = b_star / 1000, b_star * 1000
    r_small = expected_norm_bound(sigma2, L, d, small) / expected_norm_bound(
        sigma2, L, d, 2 * small
    )
    r_large = expected_norm_bound(sigma2, L, d, large) / expected_norm_bound(
        sigma2, L, d, 2 * large
    )
    assert r_small == pytest.approx(2.0, rel=0.1)
    assert r_large == pytest.approx(math.sqrt(2.0), rel=0.1)


@pytest.mark.parametrize(
    "args",
    [(-1.0, 1.0, 2, 1), (1.0, -1.0, 2, 1), (1.0, 1.0, 0, 1), (1.0, 1.0, 2, 0)],
)
def test_bad_parameters_raise(args):
    with pytest.raises(ValueError):
        expected_norm_bound(*args)


def test_bernstein_parameters_two_projections():
    # M_1 = diag(1, 0), M_2 = diag(0, 1): M = I/2, D_i = ±diag(1/2, -1/2),
    # D_i^2 = I/4, so sigma2 = 1/4 and L = 1/2 exactly.
    mats = np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])])
    assert bernstein_parameters(mats) == pytest.approx((0.25, 0.5), abs=4 * EPS)


def test_bernstein_parameters_rejects_bad_input():
    with pytest.raises(ValueError):
        bernstein_parameters(np.zeros((3, 2)))
    with pytest.raises(ValueError):
        bernstein_parameters(np.array([[[0.0, 1.0], [0.0, 0.0]]]))


def test_tail_bound_values():
    # t = 0: the probability bound is the trivial 1.
    assert tail_bound(0.0, 1.0, 1.0, 3, 4) == 1.0
    t, s2, L, d, b = 2.0, 0.5, 1.0, 3, 4
    expected = 2 * d * math.exp(-(b * t**2 / 2) / (s2 + L * t / 3))
    assert tail_bound(t, s2, L, d, b) == pytest.approx(expected, rel=RTOL)
    assert tail_bound(t, s2, L, d, b, kind="lambda_max") == pytest.approx(
        expected / 2, rel=RTOL
    )


def test_intrinsic_dimension():
    assert intrinsic_dimension(np.diag([2.0, 1.0, 1.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        intrinsic_dimension(np.zeros((2, 2)))


def _population(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Rank-one PSD 'per-sample Hessians' g g^T with anisotropic g."""
    g = rng.standard_normal((n, d)) * np.linspace(2.0, 0.2, d)
    return np.einsum("ni,nj->nij", g, g)


def _deviations(mats, b, n_draws, rng, replace):
    M = mats.mean(axis=0)
    norms, lmax_dev, gaps = [], [], []
    top_full = np.linalg.eigvalsh(M)[-1]
    for _ in range(n_draws):
        idx = rng.choice(len(mats), size=b, replace=replace)
        HB = mats[idx].mean(axis=0)
        ev = np.linalg.eigvalsh(HB - M)
        norms.append(max(abs(ev[0]), abs(ev[-1])))
        lmax_dev.append(ev[-1])
        gaps.append(np.linalg.eigvalsh(HB)[-1] - top_full)
    return np.array(norms), np.array(lmax_dev), np.array(gaps)


@pytest.mark.parametrize("replace", [True, False])
def test_bound_exceeds_sampled_deviation(replace):
    rng = np.random.default_rng(20241229)
    n, d, n_draws = 40, 6, 400
    mats = _population(rng, n, d)
    sigma2, L = bernstein_parameters(mats)
    sigma_mat = np.einsum(
        "nij,njk->ik", mats - mats.mean(0), mats - mats.mean(0)
    ) / len(mats)
    for b in (1, 4, 16):
        norms, lmax_dev, gaps = _deviations(mats, b, n_draws, rng, replace)
        se = norms.std(ddof=1) / math.sqrt(n_draws)
        # The bound holds for the expectation; require it above the sample mean
        # plus 4 standard errors, so the check is not passed by noise.
        assert norms.mean() + 4 * se <= expected_norm_bound(sigma2, L, d, b)
        se_l = lmax_dev.std(ddof=1) / math.sqrt(n_draws)
        assert lmax_dev.mean() + 4 * se_l <= expected_lambda_max_bound(sigma2, L, d, b)
        assert lmax_dev.mean() + 4 * se_l <= expected_lambda_max_bound_intrinsic(
            sigma_mat, L, b
        )
        # Weyl, draw by draw: lambda_max(H_B) - lambda_max(H) <= lambda_max(H_B - H).
        assert np.all(gaps <= lmax_dev + 1e3 * EPS * np.abs(mats).max())
        # Jensen: E lambda_max(H_B) >= lambda_max(H), so the mean gap is >= 0.
        assert gaps.mean() + 4 * gaps.std(ddof=1) / math.sqrt(n_draws) >= 0


def test_without_replacement_full_batch_has_zero_deviation(rng):
    mats = _population(rng, 10, 4)
    norms, _, gaps = _deviations(mats, 10, 3, rng, replace=False)
    # b = N without replacement is the full batch: only rounding remains.
    assert np.all(norms <= 1e3 * EPS * np.abs(mats).max())
    assert np.all(np.abs(gaps) <= 1e3 * EPS * np.abs(mats).max())


def test_symbolic_bounds_match_numeric():
    d = bernstein_derivation()
    vals = dict(sigma2=0.7, L=2.5, d=9, b=5)
    assert d.evaluate("expected_norm_bound", **vals) == pytest.approx(
        expected_norm_bound(0.7, 2.5, 9, 5), rel=RTOL
    )
    assert d.evaluate("expected_lambda_max_bound", **vals) == pytest.approx(
        expected_lambda_max_bound(0.7, 2.5, 9, 5), rel=RTOL
    )
    # t = 3 keeps the tail below 1, where the numeric version is not clipped.
    assert d.evaluate("tail_norm", t=3.0, **vals) == pytest.approx(
        tail_bound(3.0, 0.7, 2.5, 9, 5), rel=RTOL
    )
    assert d.evaluate("crossover_b", **vals) == pytest.approx(
        crossover_batch_size(0.7, 2.5, 9), rel=RTOL
    )


def test_bernstein_verify_passes_and_can_fail():
    v = bernstein_derivation().verify(np.random.default_rng(0))
    assert v.passed, [c for c in v.checks if not c.passed]
    good = bernstein_derivation()
    exprs = dict(good.expressions)
    exprs["expected_norm_bound"] = good.expressions["expected_norm_bound"] / 2
    bad = Derivation(good.name, good.title, exprs, good.claims, good.notes, None)
    v = verify_bernstein(np.random.default_rng(0), derivation=bad, draws=20)
    assert not v.check("sympy bound == numpy bound").passed
