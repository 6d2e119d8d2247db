"""Gap simulation: exact limits, closed forms, enumeration, reproducibility."""

import numpy as np
import pytest

from eoss.toy_models.random_matrix.batch_spectra import PreparedSample, batch_tops
from eoss.toy_models.random_matrix.gap_config import GapConfig
from eoss.toy_models.random_matrix.orthogonal import (
    orthogonal_fullbs,
    orthogonal_minibs,
)
from eoss.toy_models.random_matrix.sampling import draw_batches, exact_gap
from eoss.toy_models.random_matrix.simulation import simulate_gap

EPS = np.finfo(np.float64).eps


def _sim(seed=0, **kw):
    base = dict(family="spiked", dim=12, n=16, batch_sizes=(1, 4, 16), n_batches=50)
    return simulate_gap(GapConfig(**{**base, **kw}), np.random.default_rng(seed))


@pytest.mark.parametrize("family", ["spiked", "block", "orthogonal", "powerlaw"])
def test_b_equal_n_without_replacement_has_gap_exactly_zero(family):
    sim = _sim(family=family, dim=20, n=16, batch_sizes=(16,))
    est = sim.estimates[0]
    assert est.path.endswith("eigh")  # FullBS's own direct path is reused at b = n
    assert est.gap == 0.0 and est.gap_se == 0.0
    np.testing.assert_array_equal(est.lambda_max, sim.fullbs)


def test_b_equal_n_on_a_lanczos_path_is_zero_to_the_tolerance():
    sim = _sim(dim=40, n=30, batch_sizes=(30,), path="lanczos", tol=1e-12)
    est = sim.estimates[0]
    assert est.path.startswith("lanczos-")
    # One-sided Ritz error <= residual <= tol * lambda (Weyl).
    assert abs(est.gap) <= 1e-12 * sim.fullbs


def test_b1_is_the_mean_of_per_sample_top_eigenvalues():
    sim = _sim(family="isotropic", dim=30, n=10, batch_sizes=(1,), n_batches=40)
    g = sim.sample.factors[:, 0, :]
    per_sample = np.einsum("nm,nm->n", g, g)  # lambda_max(g g^T) = ||g||^2
    est = sim.estimates[0]
    # Each batch value is one sample's ||g||^2, from a 1x1 Gram: m-term dot product.
    tol = 30 * EPS * per_sample.max()
    dist = np.abs(est.lambda_max[:, None] - per_sample[None, :]).min(axis=1)
    assert np.all(dist <= tol)
    ex = exact_gap(sim.sample, 1, "without")  # all n batches of size 1
    assert ex.minibs == pytest.approx(per_sample.mean(), rel=30 * EPS)


def test_b1_indefinite_matches_dense_per_sample_top(rng):
    cfg = GapConfig(
        family="isotropic",
        dim=8,
        n=12,
        rank=2,
        residual=2.0,
        batch_sizes=(1,),
        n_batches=6,
    )
    sim = simulate_gap(cfg, rng)
    dense = np.linalg.eigvalsh(sim.sample.matrices())[:, -1]
    ex = exact_gap(sim.sample, 1, "without")
    assert ex.minibs == pytest.approx(dense.mean(), rel=1e3 * EPS)


@pytest.mark.parametrize("weight_shape", [None, 2.0])
def test_orthogonal_family_matches_closed_form(weight_shape):
    sim = _sim(
        family="orthogonal",
        dim=12,
        n=12,
        weight_shape=weight_shape,
        batch_sizes=(1, 3, 6, 12),
        n_batches=3000,
    )
    a = np.einsum("nrm,nrm->n", sim.sample.factors, sim.sample.factors)
    assert sim.fullbs == pytest.approx(orthogonal_fullbs(a), rel=16 * EPS)
    for est in sim.estimates:
        exact = orthogonal_minibs(a, est.batch_size)
        if weight_shape is None or est.batch_size == 12:  # deterministic cases
            assert est.minibs == pytest.approx(exact, rel=64 * EPS)
        else:
            assert abs(est.minibs - exact) < 4 * est.minibs_se
        enum = exact_gap(sim.sample, est.batch_size, "without")
        assert enum.minibs == pytest.approx(exact, rel=1e3 * EPS)


def test_orthogonal_online_equal_weights_is_exactly_one_over_b():
    sim = _sim(
        family="orthogonal",
        dim=10,
        n=10,
        sampling="online",
        weight_shape=None,
        batch_sizes=(1, 2, 5, 10),
        n_batches=5,
    )
    assert sim.fullbs == 0.1
    for est in sim.estimates:
        np.testing.assert_allclose(est.lambda_max, 1 / est.batch_size, rtol=4 * EPS)
        assert est.gap == pytest.approx(1 / est.batch_size - 0.1, abs=4 * EPS)


@pytest.mark.parametrize("sampling", ["without", "with"])
def test_monte_carlo_within_4_se_of_exact_enumeration(sampling):
    sim = _sim(
        family="spiked",
        spike=4.0,
        dim=4,
        n=6,
        sampling=sampling,
        batch_sizes=(2, 3),
        n_batches=3000,
    )
    for est in sim.estimates:
        ex = exact_gap(sim.sample, est.batch_size, sampling)
        assert (
            ex.n_enumerated == (20 if est.batch_size == 3 else 15) or sampling == "with"
        )
        assert ex.fullbs == pytest.approx(sim.fullbs, rel=1e3 * EPS)
        assert abs(est.minibs - ex.minibs) < 4 * est.minibs_se
        assert abs(est.gap_cv - ex.gap) < 4 * est.gap_cv_se
        assert est.gap_se == est.minibs_se


def test_control_variate_reduces_variance_for_an_outlier_top():
    sim = _sim(family="spiked", spike=20.0, dim=30, n=200, batch_sizes=(20, 50))
    for est in sim.estimates:
        assert est.gap_cv_se < est.gap_se


def test_same_seed_identical_numbers_and_batch_sizes_are_independent_streams():
    a = _sim(seed=3)
    b = _sim(seed=3)
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in a.rows()]
    assert rows == [{k: v for k, v in r.items() if k != "seconds"} for r in b.rows()]
    assert _sim(seed=4).rows()[1]["minibs"] != a.rows()[1]["minibs"]
    # Adding a batch size leaves the other rows unchanged.
    c = _sim(seed=3, batch_sizes=(4,))
    assert c.rows()[0]["minibs"] == a.rows()[1]["minibs"]


def test_online_uses_the_population_top():
    sim = _sim(family="spiked", spike=5.0, dim=10, n=8, sampling="online")
    assert sim.fullbs == pytest.approx(0.5, rel=EPS)
    assert sim.fullbs_path.startswith("population")
    assert sim.top_vector[0] == 1.0


def test_draw_batches(rng):
    w = draw_batches(10, 4, 50, "without", rng)
    assert w.shape == (50, 4) and w.flags["C_CONTIGUOUS"]
    assert np.all(np.diff(w, axis=1) > 0)  # sorted, distinct
    r = draw_batches(3, 8, 20, "with", rng)
    assert r.min() >= 0 and r.max() <= 2 and np.all(np.diff(r, axis=1) >= 0)
    with pytest.raises(ValueError):
        draw_batches(3, 4, 2, "without", rng)
    with pytest.raises(ValueError):
        draw_batches(3, 2, 2, "online", rng)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(batch_sizes=(4, 32)), "impossible without replacement"),
        (dict(batch_sizes=(0, 2)), "positive"),
        (dict(batch_sizes=()), "empty"),
        (dict(family="wishart"), "unknown family"),
        (dict(sampling="sometimes"), "sampling"),
        (dict(n_batches=1), "n_batches"),
        (dict(path="qr"), "path"),
        (dict(family="orthogonal", dim=8, n=16), "n <= dim"),
        (dict(tol=0.0), "tol"),
    ],
)
def test_config_rejects_bad_input(kw, match):
    base = dict(family="spiked", dim=12, n=16, batch_sizes=(1, 4), n_batches=5)
    with pytest.raises(ValueError, match=match):
        GapConfig(**{**base, **kw})


def test_with_replacement_allows_b_above_n_and_counts_repeats(rng):
    sim = _sim(sampling="with", n=5, batch_sizes=(8,), n_batches=30)
    assert sim.estimates[0].batch_size == 8
    data = PreparedSample.build(sim.sample)
    batches = np.array([[0, 0, 0, 1, 2, 3, 4, 4]])
    got = batch_tops(data, batches, path="dense", rng=rng).values[0]
    M = sim.sample.matrices()
    ref = np.linalg.eigvalsh((3 * M[0] + M[1] + M[2] + M[3] + 2 * M[4]) / 8)[-1]
    assert got == pytest.approx(ref, rel=1e3 * EPS)
