"""Sharpness estimators: exact against dense spectra, paths agree, model untouched.

Tolerances: float64 solves at tol = 1e-10 give eigenvalues to ~1e-10 relative
(symmetric residual bound); we compare at rtol 1e-8.
"""

import numpy as np
import pytest
import torch

from eoss.empirical.data.arrays import ArrayDataset, synthetic_classification
from eoss.empirical.estimators.full_batch import full_sharpness
from eoss.empirical.estimators.minibatch import batch_lambda_max, minibatch_sharpness
from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators.batched import sample_batches
from eoss.empirical.operators.hessian import HessianOperator, minibatch_hessian

F64 = torch.float64
TOL = 1e-10


@pytest.fixture(scope="module")
def setup():
    gen = torch.Generator().manual_seed(0)
    data = synthetic_classification(40, (12,), 3, gen=gen).to("cpu", F64)
    model = build_model(ModelSpec("mlp", width=8, depth=2), (12,), 3, gen, dtype=F64)
    return model, data


def dense_top(model, loss, X, y):
    op = HessianOperator(model, loss, X, y)
    H = op.matmat_torch(torch.eye(op.dim, dtype=F64))
    vals, vecs = torch.linalg.eigh(H)
    return H, float(vals[-1]), vecs[:, -1], op.gradient()


def test_full_sharpness_is_the_top_eigenpair(setup):
    model, data = setup
    loss = Loss("mse")
    H, top, _, _ = dense_top(model, loss, data.X, data.y)
    fs = full_sharpness(
        model, loss, data, rng=np.random.default_rng(0), chunk_size=7, tol=TOL
    )
    assert fs.fullbs == pytest.approx(top, rel=1e-8) and fs.converged
    v = fs.eigenvector
    assert float(v.norm()) == pytest.approx(1.0, rel=1e-12)
    assert float((H @ v - top * v).norm()) <= 1e-8 * top
    warm = full_sharpness(
        model, loss, data, rng=np.random.default_rng(1), tol=1e-6, v0=v
    )
    cold = full_sharpness(model, loss, data, rng=np.random.default_rng(1), tol=1e-6)
    assert warm.fullbs == pytest.approx(top, rel=1e-6)
    assert warm.n_matvecs <= cold.n_matvecs


@pytest.mark.parametrize("method", ["range", "reduced", "plain", "loop"])
def test_minibatch_paths_match_dense(setup, method):
    model, data = setup
    loss = Loss("mse")
    fs = full_sharpness(model, loss, data, rng=np.random.default_rng(0), tol=TOL)
    mb = minibatch_sharpness(
        model,
        loss,
        data,
        batch_size=5,
        n_batches=4,
        rng=np.random.default_rng(3),
        tol=TOL,
        full_vector=fs.eigenvector,
        method=method,
        max_batches_per_chunk=3,
    )
    assert mb.method == method and mb.converged.all()
    for k, rows in enumerate(mb.batch_indices):
        H, top, _, g = dense_top(model, loss, data.X[rows], data.y[rows])
        assert mb.lambda_max[k] == pytest.approx(top, rel=1e-8)
        bs = float(g @ H @ g / (g @ g))
        assert mb.batch_sharpness_terms[k] == pytest.approx(bs, rel=1e-8)
        v = fs.eigenvector
        assert mb.cv_terms[k] == pytest.approx(
            top - float(v @ H @ v), rel=1e-7, abs=1e-8 * top
        )
    # Rayleigh quotients never exceed λ_max
    assert (mb.batch_sharpness_terms <= mb.lambda_max * (1 + 1e-9)).all()
    assert (mb.cv_terms >= -1e-8 * mb.lambda_max).all()


def test_batched_equals_looped_and_reduced_equals_plain(setup):
    model, data = setup
    kw = dict(batch_size=6, n_batches=5, tol=TOL, batch_sharpness=True)
    idx = sample_batches(len(data), 6, 5, np.random.default_rng(4))
    out = {
        m: minibatch_sharpness(
            model,
            Loss("ce"),
            data,
            rng=np.random.default_rng(5),
            method=m,
            batch_indices=idx,
            **kw,
        )
        for m in ("range", "reduced", "plain", "loop")
    }
    for m in ("range", "plain", "loop"):
        np.testing.assert_allclose(
            out[m].lambda_max, out["reduced"].lambda_max, rtol=1e-8
        )
        np.testing.assert_allclose(
            out[m].batch_sharpness_terms,
            out["reduced"].batch_sharpness_terms,
            rtol=1e-8,
        )


def test_full_batch_as_one_batch_has_zero_gap(setup):
    """b = N without replacement is the whole set: MiniBS = FullBS exactly."""
    model, data = setup
    fs = full_sharpness(model, Loss("mse"), data, rng=np.random.default_rng(0), tol=TOL)
    mb = minibatch_sharpness(
        model,
        Loss("mse"),
        data,
        batch_size=len(data),
        n_batches=2,
        rng=np.random.default_rng(1),
        tol=TOL,
        full_vector=fs.eigenvector,
    )
    np.testing.assert_allclose(mb.lambda_max, fs.fullbs, rtol=1e-8)
    np.testing.assert_allclose(mb.cv_terms, 0.0, atol=1e-8 * fs.fullbs)
    assert mb.minibs_se == pytest.approx(0.0, abs=1e-8 * fs.fullbs)


def test_control_variate_is_unbiased_statistically(setup):
    """E_B[vᵀ H_B v] = vᵀ H v = FullBS, so mean(λ_B − cv_B) − FullBS = 0 ± 4 SE."""
    model, data = setup
    fs = full_sharpness(model, Loss("mse"), data, rng=np.random.default_rng(0), tol=TOL)
    mb = minibatch_sharpness(
        model,
        Loss("mse"),
        data,
        batch_size=4,
        n_batches=200,
        rng=np.random.default_rng(7),
        tol=1e-6,
        full_vector=fs.eigenvector,
        batch_sharpness=False,
    )
    q = mb.lambda_max - mb.cv_terms  # vᵀ H_B v per batch
    se = q.std(ddof=1) / np.sqrt(len(q))
    assert abs(q.mean() - fs.fullbs) <= 4 * se
    assert mb.gap_cv_se < mb.minibs_se  # the control variate reduces the variance
    assert mb.minibs > fs.fullbs  # Jensen: the gap is nonnegative


def test_batch_lambda_max_and_its_vector(setup):
    model, data = setup
    X, y = data.X[:6], data.y[:6]
    H, top, _, _ = dense_top(model, Loss("mse"), X, y)
    for method in ("range", "reduced", "plain"):
        r = batch_lambda_max(
            model,
            Loss("mse"),
            X,
            y,
            rng=np.random.default_rng(0),
            tol=TOL,
            method=method,
        )
        assert r.fullbs == pytest.approx(top, rel=1e-8) and r.converged
        v = r.eigenvector
        assert v.shape == (H.shape[0],)
        assert float((H @ v - top * v).norm()) <= 1e-7 * top
    warm = batch_lambda_max(
        model, Loss("mse"), X, y, rng=np.random.default_rng(1), tol=1e-6, v0=v
    )
    assert warm.fullbs == pytest.approx(top, rel=1e-6)


def test_determinism_and_sampling(setup):
    model, data = setup
    run = lambda seed: minibatch_sharpness(  # noqa: E731
        model,
        Loss("mse"),
        data,
        batch_size=5,
        n_batches=6,
        rng=np.random.default_rng(seed),
    )
    a, b, c = run(11), run(11), run(12)
    np.testing.assert_array_equal(a.batch_indices, b.batch_indices)
    np.testing.assert_array_equal(a.lambda_max, b.lambda_max)
    assert not np.array_equal(a.batch_indices, c.batch_indices)
    for rows in a.batch_indices:
        assert len(set(rows.tolist())) == 5  # without replacement inside a batch
    assert a.minibs == pytest.approx(a.lambda_max.mean())
    assert a.minibs_se == pytest.approx(a.lambda_max.std(ddof=1) / np.sqrt(6))
    assert np.isnan(a.gap_cv) and np.isnan(a.gap_cv_se)


def test_single_batch_has_nan_standard_error(setup):
    model, data = setup
    mb = minibatch_sharpness(
        model,
        Loss("mse"),
        data,
        batch_size=3,
        n_batches=1,
        rng=np.random.default_rng(0),
    )
    assert np.isfinite(mb.minibs) and np.isnan(mb.minibs_se)


def test_non_convergence_is_reported(setup):
    model, data = setup
    mb = minibatch_sharpness(
        model,
        Loss("mse"),
        data,
        batch_size=8,
        n_batches=3,
        rng=np.random.default_rng(0),
        tol=1e-14,
        min_iter=2,
        max_iter=3,
    )
    assert not mb.converged.any()
    fs = full_sharpness(
        model,
        Loss("mse"),
        data,
        rng=np.random.default_rng(0),
        tol=1e-14,
        min_iter=2,
        max_iter=3,
    )
    assert not fs.converged and fs.n_matvecs == 4


def test_caller_model_is_untouched(setup):
    model, data = setup
    model.train()
    model.zero_grad()
    Loss("mse").mean(model(data.X), data.y).backward()
    before = {
        k: (p.detach().clone(), p.grad.clone()) for k, p in model.named_parameters()
    }
    fs = full_sharpness(model, Loss("mse"), data, rng=np.random.default_rng(0))
    minibatch_sharpness(
        model,
        Loss("mse"),
        data,
        batch_size=4,
        n_batches=2,
        rng=np.random.default_rng(0),
        full_vector=fs.eigenvector,
    )
    batch_lambda_max(
        model, Loss("mse"), data.X[:4], data.y[:4], rng=np.random.default_rng(0)
    )
    assert model.training
    for k, p in model.named_parameters():
        assert torch.equal(p, before[k][0]) and torch.equal(p.grad, before[k][1])
    model.zero_grad(set_to_none=True)


def test_float32_and_regression_targets():
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(30, 6, generator=gen)
    t = torch.randn(30, 2, generator=gen)
    data = ArrayDataset(X, t, "regression", 2)
    model = build_model(ModelSpec("mlp", width=6, depth=1), (6,), 2, gen)
    H = minibatch_hessian(model.double(), Loss("mse"), X.double(), t.double())
    top = float(torch.linalg.eigvalsh(H.matmat_torch(torch.eye(H.dim, dtype=F64)))[-1])
    fs = full_sharpness(
        model.float(), Loss("mse"), data, rng=np.random.default_rng(0), tol=1e-5
    )
    # float32 products carry ~1e-6 relative noise; tol 1e-5 bounds the error
    assert fs.fullbs == pytest.approx(top, rel=1e-4)


def test_bad_arguments(setup):
    model, data = setup
    with pytest.raises(ValueError, match="batch size"):
        minibatch_sharpness(
            model,
            Loss("mse"),
            data,
            batch_size=0,
            n_batches=2,
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ValueError, match="batch size"):
        sample_batches(3, 4, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="method"):
        minibatch_sharpness(
            model,
            Loss("mse"),
            data,
            batch_size=2,
            n_batches=2,
            rng=np.random.default_rng(0),
            method="nope",
        )
    with pytest.raises(ValueError, match="batch_indices"):
        minibatch_sharpness(
            model,
            Loss("mse"),
            data,
            batch_size=2,
            n_batches=2,
            rng=np.random.default_rng(0),
            batch_indices=np.array([[0, 99]]),
        )


def test_full_sharpness_is_deterministic_from_the_seed(setup):
    model, data = setup
    a, b = (
        full_sharpness(
            model, Loss("ce"), data, rng=np.random.default_rng(9), chunk_size=16
        )
        for _ in range(2)
    )
    assert a.fullbs == b.fullbs and a.n_matvecs == b.n_matvecs
    assert torch.equal(a.eigenvector, b.eigenvector)
