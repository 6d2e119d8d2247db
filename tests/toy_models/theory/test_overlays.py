"""Theory overlays: RMT edges vs simulation, Bernstein parameters, local slopes."""

import math

import numpy as np
import pytest

from eoss.toy_models.random_matrix.families import make_family
from eoss.toy_models.random_matrix.gap_config import GapConfig
from eoss.toy_models.random_matrix.simulation import simulate_gap
from eoss.toy_models.theory.bernstein import bernstein_parameters
from eoss.toy_models.theory.overlays import (
    bernstein_fit,
    gap_theory,
    reference_curve,
    windowed_slopes,
)
from eoss.toy_models.theory.rmt_edges import (
    bbp_top,
    mp_top_edge,
    rmt_gap,
    tracy_widom_mean_top,
)


def _online(family, dim, b, k, seed=3, **kw):
    cfg = GapConfig(
        family=family,
        dim=dim,
        n=4,
        sampling="online",
        batch_sizes=(b,),
        n_batches=k,
        **kw,
    )
    return simulate_gap(cfg, np.random.default_rng(seed)).estimates[0]


def test_mp_edge_scaling_with_tracy_widom_mean():
    """lambda_max of (1/b) sum g g^T, g ~ N(0, I/m): edge (1/m)(1 + sqrt(m/b))^2.

    The MC mean is compared with the edge plus Johnstone's TW correction. The
    allowance beyond 4 SE is 0.15 sigma_TW: the TW approximation error, which is
    O(min(b, m)^(-2/3)) in units of sigma_TW (measured: <= 0.11 sigma_TW at
    m = 60..100, b = 30..120).
    """
    m, b = 100, 50
    est = _online("isotropic", m, b, 1500)
    a, s = math.sqrt(b - 1), math.sqrt(m)
    sigma_tw = (a + s) * (1 / a + 1 / s) ** (1 / 3) / (m * b)
    assert (
        abs(est.minibs - tracy_widom_mean_top(m, b))
        < 4 * est.minibs_se + 0.15 * sigma_tw
    )
    # The uncorrected edge is the b, m -> infinity limit and sits above.
    assert mp_top_edge(m, b) == pytest.approx(
        (1 + math.sqrt(m / b)) ** 2 / m, rel=1e-15
    )
    assert mp_top_edge(m, b) > est.minibs


def test_bbp_outlier_prediction():
    """Spike l = 6 above the BBP threshold: E lambda_max ~ (l/m)(1 + (m/b)/(l-1)).

    Allowance beyond 4 SE: 1/b relative, for the O(1/b) finite-size bias of the
    outlier (measured |rel. error| <= 0.8%, |z| <= 2.1 at m = 30..50, b = 80..160).
    """
    m, b, ell = 40, 160, 6.0
    est = _online("spiked", m, b, 2000, spike=ell)
    pred = float(bbp_top(m, ell, b))
    assert pred == pytest.approx(ell / m * (1 + (m / b) / (ell - 1)), rel=1e-15)
    assert abs(est.minibs - pred) < 4 * est.minibs_se + pred / b


def test_bbp_below_threshold_is_the_mp_edge():
    # gamma = m / c = 100: threshold 1 + 10 = 11 > l = 5.
    assert float(bbp_top(100, 5.0, 1)) == pytest.approx(float(mp_top_edge(100, 1)))


def test_rmt_gap_formulas():
    cfg = GapConfig(family="spiked", dim=50, n=400, batch_sizes=(10,), n_batches=2)
    gap, label = rmt_gap(cfg, [100, 400])
    assert "BBP" in label
    np.testing.assert_allclose(gap, 10 / 9 * (np.array([1 / 100, 1 / 400]) - 1 / 400))
    iso = GapConfig(
        family="isotropic",
        dim=64,
        n=64,
        batch_sizes=(1,),
        n_batches=2,
        sampling="online",
    )
    g, _ = rmt_gap(iso, [16])
    expected = 1 / 16 + 2 / math.sqrt(64 * 16)  # (1/b) + 2/sqrt(mb), online
    assert float(g[0]) == pytest.approx(expected, rel=1e-14)
    assert (
        rmt_gap(
            GapConfig(family="powerlaw", dim=8, n=8, batch_sizes=(1,), n_batches=2), [1]
        )
        is None
    )


@pytest.mark.parametrize("residual", [0.0, 1.0])
def test_bernstein_fit_matches_dense_parameters(residual, rng):
    fam = make_family("spiked", 6, spike=4.0, rank=2, residual=residual)
    sample = fam.sample(30, rng)
    fit = bernstein_fit(sample, rng)
    sigma2, L_norm = bernstein_parameters(sample.matrices())
    # sigma2 is a Lanczos top eigenvalue at tol 1e-6 (it only scales a bound).
    assert fit.sigma2 == pytest.approx(sigma2, rel=1e-5)
    # L is the Weyl bound max_i lambda_max(M_i) - lambda_min(M) >= lambda_max(M_i - M).
    D = sample.matrices() - sample.mean_matrix()
    assert np.linalg.eigvalsh(D)[:, -1].max() - 1e-12 <= fit.L
    assert fit.center == "dataset mean"
    assert fit.crossover_b == pytest.approx(fit.L**2 * math.log(6) / (18 * fit.sigma2))


def test_bernstein_cap_exceeds_simulated_gap():
    cfg = GapConfig(
        family="spiked", dim=40, n=200, batch_sizes=(1, 4, 16, 64), n_batches=200
    )
    sim = simulate_gap(cfg, np.random.default_rng(0))
    th = gap_theory(sim, np.random.default_rng(1))
    for est, cap in zip(sim.estimates, th.bernstein_bound, strict=True):
        assert est.gap_cv + 4 * est.gap_cv_se < cap
    doc = th.to_dict()
    assert set(doc) == {"batch_sizes", "bernstein", "rmt", "slopes", "perturbation"}
    assert len(doc["bernstein"]["bound"]) == 4


def test_windowed_slopes_recover_exact_power_laws():
    b = 2.0 ** np.arange(8)
    y = 3.0 * b**-0.75
    loc = windowed_slopes(b, y, window=3)
    np.testing.assert_allclose(loc.slope, -0.75, rtol=1e-12)
    np.testing.assert_allclose(loc.slope_se, 0.0, atol=1e-12)
    np.testing.assert_allclose(loc.b_center, np.sqrt(b[:-2] * b[2:]))
    # Weighted fit with equal relative errors is the OLS slope (np.polyfit).
    z = y * np.exp(np.random.default_rng(0).normal(0, 0.01, b.size))
    w = windowed_slopes(b, z, 0.01 * z, window=4)
    for i in range(w.slope.size):
        ref = np.polyfit(np.log(b[i : i + 4]), np.log(z[i : i + 4]), 1)[0]
        assert w.slope[i] == pytest.approx(ref, rel=1e-10)
    # Known variances: SE = 1 / sqrt(sum w (x - xbar)^2) with w = (y/se)^2 = 1e4.
    x = np.log(b[:4])
    assert w.slope_se[0] == pytest.approx(0.01 / math.sqrt(np.sum((x - x.mean()) ** 2)))


def test_windowed_slopes_skip_non_positive_and_validate():
    loc = windowed_slopes([1, 2, 4, 8], [1.0, 0.5, -0.1, 0.1], window=2)
    assert (
        np.isfinite(loc.slope[0]) and np.isnan(loc.slope[1]) and np.isnan(loc.slope[2])
    )
    with pytest.raises(ValueError):
        windowed_slopes([1, 2], [1, 1], window=3)


def test_reference_curve():
    np.testing.assert_allclose(reference_curve([1, 4], 1, 2.0, 0.5), [2.0, 1.0])


def test_factored_perturbation_law_matches_the_dense_implementation(rng):
    from eoss.toy_models.theory.factored_perturbation import perturbation_law
    from eoss.toy_models.theory.perturbation import perturbative_gap

    sample = make_family("spiked", 7, spike=4.0, rank=2, residual=0.5).sample(25, rng)
    law = perturbation_law(sample)
    dense = perturbative_gap(sample.matrices())  # independent dense code
    assert law.coefficient == pytest.approx(dense.coefficient, rel=1e-10)
    assert law.spectral_gap == pytest.approx(dense.spectral_gap, rel=1e-10)
    b = np.array([1.0, 5.0, 25.0])
    np.testing.assert_allclose(
        law.gap(b, without=True), dense.gap(b, replace=False), rtol=1e-10
    )
    np.testing.assert_allclose(law.gap(b, without=False), law.coefficient / b)


def test_perturbation_law_online_matches_the_population_coefficient(rng):
    """Population C = sum_j s_j s_1 / (r (s_1 - s_j)) for rows N(0, Sigma/r)."""
    from eoss.toy_models.theory.factored_perturbation import perturbation_law

    fam = make_family("spiked", 10, spike=5.0, rank=2)
    sample = fam.sample(20000, rng)
    s = fam.population_diagonal()
    law = perturbation_law(sample, center_diag=s)
    C_pop = float(np.sum(s[1:] * s[0] / (2 * (s[0] - s[1:]))))
    # Per-sample terms of the estimator give its standard error.
    F = sample.factors
    Mu1 = np.einsum("nrm,nr->nm", F, F[:, :, 0])
    terms = (Mu1[:, 1:] ** 2) @ (1 / (s[0] - s[1:]))
    assert law.coefficient == pytest.approx(terms.mean(), rel=1e-12)
    assert abs(law.coefficient - C_pop) < 4 * terms.std(ddof=1) / math.sqrt(terms.size)
    # A degenerate top (isotropic population) has no C/b law.
    iso = make_family("isotropic", 10)
    assert (
        perturbation_law(iso.sample(50, rng), center_diag=iso.population_diagonal())
        is None
    )


def test_gaussian_population_law_closed_form():
    from eoss.toy_models.theory.factored_perturbation import gaussian_population_law

    law = gaussian_population_law(make_family("spiked", 200, spike=10.0))
    # (m - 1) terms of (1/m)(l/m) / ((l - 1)/m) = (m - 1) l / (m (l - 1)): the
    # BBP outlier's 1/b coefficient l/(l - 1) up to the 1/m correction.
    assert law.coefficient == pytest.approx(199 * 10 / (200 * 9), rel=1e-14)
    np.testing.assert_allclose(law.gap([10.0], without=False), law.coefficient / 10)
    assert gaussian_population_law(make_family("isotropic", 5)) is None
