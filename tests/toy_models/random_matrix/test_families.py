"""Per-sample matrix families: representation, moments, orthogonal closed form."""

import itertools
import math

import numpy as np
import pytest

from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.families import (
    FAMILY_NAMES,
    GaussianFamily,
    make_family,
)
from eoss.toy_models.random_matrix.orthogonal import (
    OrthogonalFamily,
    orthogonal_fullbs,
    orthogonal_minibs,
    orthogonal_weights,
)

EPS = np.finfo(np.float64).eps


def test_factor_sample_dense_views_match_their_definition(rng):
    F = rng.standard_normal((5, 3, 4))
    S = rng.choice([-1.0, 1.0], size=(5, 3))
    smp = FactorSample(F, S)
    M = smp.matrices()
    for i in range(5):
        ref = sum(S[i, c] * np.outer(F[i, c], F[i, c]) for c in range(3))
        np.testing.assert_allclose(M[i], ref, rtol=0, atol=64 * EPS * np.abs(ref).max())
    np.testing.assert_allclose(smp.mean_matrix(), M.mean(axis=0), atol=1e-14)
    v = rng.standard_normal(4)
    np.testing.assert_allclose(
        smp.quadratic_forms(v), np.einsum("i,nij,j->n", v, M, v), rtol=1e-12
    )
    assert not smp.is_psd and FactorSample(F).is_psd
    assert (smp.n, smp.rank, smp.dim) == (5, 3, 4)


def test_factor_sample_rejects_bad_shapes():
    with pytest.raises(ValueError):
        FactorSample(np.zeros((3, 4)))
    with pytest.raises(ValueError):
        FactorSample(np.zeros((3, 1, 4)), np.ones((3, 2)))


@pytest.mark.parametrize("name", ["isotropic", "spiked", "powerlaw", "block"])
def test_gaussian_families_have_mean_sigma(name, rng):
    """E M_i = diag(scales): the sample mean of each diagonal entry within 4 SE."""
    fam = make_family(name, 6, spike=5.0, power=1.5)
    smp = fam.sample(20000, rng)
    diag = np.einsum("nrm,nrm->nm", smp.factors, smp.factors)  # (M_i)_kk
    se = diag.std(axis=0, ddof=1) / math.sqrt(smp.n)
    assert np.all(np.abs(diag.mean(axis=0) - fam.population_diagonal()) < 4 * se)
    assert smp.rank == (10 if name == "block" else 1)


def test_family_scales_follow_their_definitions():
    m = 8
    iso = make_family("isotropic", m)
    np.testing.assert_allclose(iso.population_diagonal(), np.full(m, 1 / m))
    sp = make_family("spiked", m, spike=7.0)
    assert sp.population_top()[0] == pytest.approx(7.0 / m, rel=1e-15)
    assert sp.population_top()[1][0] == 1.0
    pw = make_family("powerlaw", m, power=2.0)
    s = pw.population_diagonal()
    assert s.sum() == pytest.approx(1.0, rel=1e-14)  # normalised: tr Sigma = 1
    np.testing.assert_allclose(
        s[1:] / s[:-1], (np.arange(1, m) / np.arange(2, m + 1)) ** 2
    )


def test_residual_is_a_signed_zero_mean_row(rng):
    fam = make_family("isotropic", 5, rank=2, residual=0.5)
    smp = fam.sample(4000, rng)
    assert smp.rank == 3 and not smp.is_psd
    assert set(np.unique(smp.signs[:, 2])) == {-1.0, 1.0}
    np.testing.assert_array_equal(smp.signs[:, :2], 1.0)
    # Zero-mean residual: E M_i is still Sigma (diagonal entries within 4 SE).
    diag = np.einsum("nr,nrm,nrm->nm", smp.signs, smp.factors, smp.factors)
    se = diag.std(axis=0, ddof=1) / math.sqrt(smp.n)
    assert np.all(np.abs(diag.mean(axis=0) - fam.population_diagonal()) < 4 * se)


def test_gaussian_variance_norm_closed_form(rng):
    """E (M_i - Sigma)^2 = diag((tr S s_k + s_k^2)/r + rho^2 (1/m + 2/m^2))."""
    fam = make_family("spiked", 4, spike=3.0, rank=2, residual=0.3)
    smp = fam.sample(40000, rng)
    D = smp.matrices() - np.diag(fam.population_diagonal())
    sq = np.einsum("nij,njk->nik", D, D)
    s, r, m, rho = fam.scales, 2, 4, 0.3
    expected = (s.sum() * s + s**2) / r + rho**2 * (1 / m + 2 / m**2)
    diag = np.einsum("nkk->nk", sq)
    se = diag.std(axis=0, ddof=1) / math.sqrt(smp.n)
    assert np.all(np.abs(diag.mean(axis=0) - expected) < 4 * se)
    assert fam.variance_norm() == pytest.approx(expected.max(), rel=1e-14)


def test_orthogonal_samples_use_distinct_directions(rng):
    fam = OrthogonalFamily(10, weight_shape=2.0)
    smp = fam.sample(10, rng)
    support = np.abs(smp.factors[:, 0, :]) > 0
    assert np.all(support.sum(axis=1) == 1) and np.all(support.sum(axis=0) == 1)
    with pytest.raises(ValueError, match="n <= dim"):
        fam.sample(11, rng)
    np.testing.assert_allclose(
        orthogonal_weights(smp), np.max(smp.factors**2, axis=(1, 2))
    )
    assert (
        make_family("orthogonal", 5, weight_shape=None).weights(4, rng).tolist()
        == [1.0] * 4
    )


def _brute_minibs(a, b):
    return np.mean(
        [max(a[list(c)]) / b for c in itertools.combinations(range(len(a)), b)]
    )


def test_orthogonal_closed_form_equals_enumeration(rng):
    a = rng.gamma(1.0, 1.0, size=7)
    for b in range(1, 8):
        # Sum of C(7, b) <= 35 terms: a few ulps of the largest term.
        assert orthogonal_minibs(a, b) == pytest.approx(_brute_minibs(a, b), rel=1e-13)
    assert orthogonal_fullbs(a) == a.max() / 7
    assert orthogonal_minibs(a, 7) == pytest.approx(orthogonal_fullbs(a), rel=1e-15)


def test_orthogonal_equal_weights_gap_is_one_over_b_minus_one_over_n():
    n = 9
    for b in range(1, n + 1):
        gap = orthogonal_minibs(np.ones(n), b) - orthogonal_fullbs(np.ones(n))
        assert gap == pytest.approx(1 / b - 1 / n, abs=8 * EPS)
    with pytest.raises(ValueError):
        orthogonal_minibs(np.ones(3), 4)


def test_make_family_validates():
    with pytest.raises(ValueError, match="unknown family"):
        make_family("gaussian", 4)
    with pytest.raises(ValueError):
        make_family("spiked", 0)
    with pytest.raises(ValueError):
        make_family("spiked", 4, spike=-1.0)
    with pytest.raises(ValueError):
        make_family("isotropic", 4, rank=0)
    with pytest.raises(ValueError):
        make_family("orthogonal", 4, rank=2)
    assert set(FAMILY_NAMES) == {
        "isotropic",
        "spiked",
        "powerlaw",
        "block",
        "orthogonal",
    }
    assert isinstance(make_family("block", 3), GaussianFamily)
