"""The range restriction of ReLU-MLP batch Hessians is exact (dense float64 spectra).

Tolerances: dense float64 eigenvalues agree to ~1e-14 relative; we compare at
1e-10 of the spectral radius and call an eigenvalue zero below 1e-9 of it.
Lanczos solves at tol = 1e-10 give eigenvalues to ~1e-10 (symmetric residual
bound, as in test_sharpness.py); they are compared at 1e-8.
"""

import numpy as np
import pytest
import torch

from eoss.empirical.data.arrays import synthetic_classification
from eoss.empirical.estimators.full_batch import full_sharpness
from eoss.empirical.estimators.minibatch import minibatch_sharpness
from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators import batched as _batched
from eoss.empirical.operators.batched import sample_batches
from eoss.empirical.operators.hessian import minibatch_hessian
from eoss.empirical.operators.range_reduction import range_operator
from eoss.empirical.operators.relu_mlp_range import MLPRangeHessian, range_dim
from eoss.empirical.operators.stacked import stacked_targets

F64 = torch.float64
ZERO = 1e-9


def make(depth, bias=True, d=7, width=6, C=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    spec = ModelSpec("mlp", width=width, depth=depth, bias=bias)
    model = build_model(spec, (d,), C, gen, dtype=F64)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(generator=gen)
    return model, gen


def operator(model, loss, X, y, C=3, max_ratio=1.0):
    params = {k: p.detach() for k, p in model.named_parameters()}
    T = stacked_targets(loss, y, C, F64)
    return range_operator(model, params, loss, X, T, max_ratio=max_ratio)


def dense(op):
    eye = torch.eye(op.dim, dtype=F64)
    return torch.stack([op.matvec(eye[i].expand(op.K, -1)) for i in range(op.dim)], 2)


def nonzero(e, scale):
    return e[e.abs() > ZERO * scale]


@pytest.mark.parametrize("loss_name", ["mse", "mse_mean", "ce"])
@pytest.mark.parametrize(("depth", "b"), [(1, 2), (2, 1), (2, 3), (3, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_nonzero_spectrum_is_the_batch_hessians(loss_name, depth, b, bias):
    loss = Loss(loss_name)
    model, gen = make(depth, bias, seed=depth + 10 * b)
    X = torch.randn(2, b, 7, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (2, b), generator=gen)
    op, maps = operator(model, loss, X, y)
    assert any(L.reduced for L in op._layers)  # the tiny nets do get reduced
    Ht = dense(op)
    torch.testing.assert_close(Ht, Ht.transpose(1, 2), rtol=0, atol=1e-13)
    for k in range(2):
        full = minibatch_hessian(model, loss, X[k], y[k])
        ef = torch.linalg.eigvalsh(full.matmat_torch(torch.eye(full.dim, dtype=F64)))
        er = torch.linalg.eigvalsh(Ht[k])
        scale = float(ef.abs().max())
        torch.testing.assert_close(
            nonzero(er, scale), nonzero(ef, scale), rtol=0, atol=1e-10 * scale
        )
        # the known zeros are zeros of H_B
        assert int((ef.abs() <= ZERO * scale).sum()) >= maps.n_null


@pytest.mark.parametrize("loss_name", ["mse", "ce"])
def test_maps_projection_isometry_and_quadratic_forms(loss_name):
    loss = Loss(loss_name)
    model, gen = make(2, width=8, seed=3)
    X = torch.randn(3, 2, 7, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (3, 2), generator=gen)
    op, maps = operator(model, loss, X, y)
    u = torch.randn(3, op.dim, generator=gen, dtype=F64)
    Pu = op.to_range(op.from_range(u))  # ΠᵀΠ u
    torch.testing.assert_close(op.to_range(op.from_range(Pu)), Pu)  # a projection
    torch.testing.assert_close(maps.to_full(Pu).norm(dim=1), Pu.norm(dim=1))
    for k in range(3):
        full = minibatch_hessian(model, loss, X[k], y[k])
        v = torch.randn(full.dim, generator=gen, dtype=F64)
        # H_B v = Π H̃ Πᵀ v (through the span reduction too)
        lhs = maps.to_full(op.matvec(maps.to_reduced(v)))[k]
        scale = float(full.matvec_torch(v).abs().max())
        torch.testing.assert_close(
            lhs, full.matvec_torch(v), rtol=0, atol=1e-11 * scale
        )
        g = full.gradient()
        gt = op.gradient[k]
        torch.testing.assert_close(gt, maps.to_reduced(g)[k])
        assert float(gt.norm()) == pytest.approx(float(g.norm()), rel=1e-12)
        qf = float(op.quadratic_form(op.gradient)[k])
        assert qf == pytest.approx(float(g @ full.matvec_torch(g)), rel=1e-10)


def test_rank_deficient_activations_and_deltas():
    """Repeated rows (rank-deficient a_j) and exactly fitted rows (zero δ rows)."""
    loss = Loss("mse")
    model, gen = make(2, width=8, seed=5)
    X = torch.randn(1, 4, 7, generator=gen, dtype=F64)
    X[0, 2] = X[0, 0]
    with torch.no_grad():
        targets = model(X[0]).unsqueeze(0).clone()
    targets[0, 1] += 1.0  # only rows 1 and 3 have a nonzero residual
    targets[0, 3] -= 0.5
    op, maps = operator(model, loss, X, targets)
    full = minibatch_hessian(model, loss, X[0], targets[0])
    ef = torch.linalg.eigvalsh(full.matmat_torch(torch.eye(full.dim, dtype=F64)))
    er = torch.linalg.eigvalsh(dense(op)[0])
    scale = float(ef.abs().max())
    torch.testing.assert_close(
        nonzero(er, scale), nonzero(ef, scale), rtol=0, atol=1e-10 * scale
    )


def test_batches_larger_than_the_input_dimension():
    """b > d: the span reduction is the identity; hidden layers are still restricted."""
    loss = Loss("mse_half")
    model, gen = make(2, d=3, width=16, seed=11)
    X = torch.randn(2, 5, 3, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (2, 5), generator=gen)
    op, maps = operator(model, loss, X, y)
    assert any(L.reduced for L in op._layers)
    er = torch.linalg.eigvalsh(dense(op))
    for k in range(2):
        full = minibatch_hessian(model, loss, X[k], y[k])
        ef = torch.linalg.eigvalsh(full.matmat_torch(torch.eye(full.dim, dtype=F64)))
        scale = float(ef.abs().max())
        torch.testing.assert_close(
            nonzero(er[k], scale), nonzero(ef, scale), rtol=0, atol=1e-10 * scale
        )


def test_range_dim_and_batched_equals_single():
    loss = Loss("ce")
    model, gen = make(3, width=9, seed=7)
    X = torch.randn(3, 2, 7, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (3, 2), generator=gen)
    for ratio in (0.5, 1.0):
        op, _ = operator(model, loss, X, y, max_ratio=ratio)
        assert op.dim == range_dim(model, 7, 2, max_ratio=ratio)
    op, _ = operator(model, loss, X, y)
    U = torch.randn(3, op.dim, generator=gen, dtype=F64)
    HU = op.matvec(U)
    for k in range(3):
        one, _ = operator(model, loss, X[k : k + 1], y[k : k + 1])
        torch.testing.assert_close(one.matvec(U[k : k + 1])[0], HU[k])
    # the paper's MLP: 9266 coordinates at b = 4 instead of 270346
    big = build_model(
        ModelSpec("mlp"), (3, 32, 32), 10, torch.Generator().manual_seed(0)
    )
    assert range_dim(big, 3072, 4) == 9266


def solve_range(model, loss, data, idx, rng, full_vector=None, vectors=False):
    setup = _batched.setup(model, "eval", data.X)
    T = stacked_targets(loss, data.y[idx], setup.n_out, F64)
    op, maps = range_operator(setup.module, setup.params, loss, data.X[idx], T)
    opts = {"tol": 1e-10, "min_iter": 20, "max_iter": 300}
    return _batched.solve_stacked(
        op,
        maps,
        rng,
        opts,
        full_vector=full_vector,
        batch_sharpness=True,
        vectors=vectors,
    )


@pytest.mark.parametrize("loss_name", ["mse", "ce"])
def test_estimates_equal_the_existing_paths(loss_name):
    """λ_max, batch sharpness and control-variate terms = reduced and loop paths."""
    loss = Loss(loss_name)
    gen = torch.Generator().manual_seed(0)
    data = synthetic_classification(40, (12,), 3, gen=gen).to("cpu", F64)
    model = build_model(ModelSpec("mlp", width=8, depth=2), (12,), 3, gen, dtype=F64)
    idx = sample_batches(40, 3, 4, np.random.default_rng(0))
    fv = full_sharpness(model, loss, data, rng=np.random.default_rng(1), tol=1e-10)
    out = solve_range(
        model,
        loss,
        data,
        torch.as_tensor(idx),
        np.random.default_rng(2),
        full_vector=fv.eigenvector,
        vectors=True,
    )
    assert bool(out.conv.all())
    kw = dict(
        batch_size=3,
        n_batches=4,
        batch_indices=idx,
        tol=1e-10,
        full_vector=fv.eigenvector,
        max_iter=300,
    )
    for method in ("reduced", "loop"):
        ref = minibatch_sharpness(
            model, loss, data, rng=np.random.default_rng(3), method=method, **kw
        )
        np.testing.assert_allclose(out.lam.numpy(), ref.lambda_max, rtol=1e-8)
        np.testing.assert_allclose(out.bs.numpy(), ref.batch_sharpness_terms, rtol=1e-8)
        np.testing.assert_allclose(
            out.cv.numpy(), ref.cv_terms, rtol=1e-8, atol=1e-8 * ref.lambda_max.max()
        )
    # eigenvectors come back in the full parameter space
    for k in range(4):
        H = minibatch_hessian(model, loss, data.X[idx[k]], data.y[idx[k]])
        v = out.vec[k]
        res = H.matvec_torch(v) - out.lam[k].item() * v
        assert float(v.norm()) == pytest.approx(1.0, rel=1e-10)
        assert float(res.norm()) <= 1e-8 * float(out.lam[k])


def test_rejects_other_models():
    gen = torch.Generator().manual_seed(0)
    cnn = build_model(ModelSpec("cnn", width=4, channels=2), (1, 12, 12), 2, gen)
    params = dict(cnn.named_parameters())
    with pytest.raises(ValueError, match="ReLU MLP"):
        range_operator(
            cnn, params, Loss("mse"), torch.zeros(1, 2, 1, 12, 12), torch.zeros(1, 2, 2)
        )
    model, _ = make(1)
    X = torch.zeros(1, 2, 7, dtype=F64)
    op, _ = operator(model, Loss("mse"), X, torch.zeros(1, 2, 3, dtype=F64))
    with pytest.raises(ValueError, match="expected shape"):
        op.matvec(torch.zeros(2, op.dim, dtype=F64))
    assert isinstance(op, MLPRangeHessian)


def test_minibatch_sharpness_range_path_with_restricted_layers():
    """Through the public estimator: ``auto`` picks ``range`` for a ReLU MLP, the
    hidden layers are restricted (default max_ratio), and every batch matches the
    dense Hessian of that batch (float64, tol 1e-10 -> rtol 1e-8)."""
    model, gen = make(2, d=10, width=24, seed=2)
    data = synthetic_classification(30, (10,), 3, gen=gen).to("cpu", F64)
    loss = Loss("mse")
    b = 3
    assert range_dim(model, 10, b) < sum(p.numel() for p in model.parameters()) // 2
    fs = full_sharpness(model, loss, data, rng=np.random.default_rng(0), tol=1e-10)
    mb = minibatch_sharpness(
        model,
        loss,
        data,
        batch_size=b,
        n_batches=5,
        rng=np.random.default_rng(1),
        tol=1e-10,
        full_vector=fs.eigenvector,
        max_iter=300,
    )
    assert mb.method == "range" and mb.converged.all()
    for k, rows in enumerate(mb.batch_indices):
        H = minibatch_hessian(model, loss, data.X[rows], data.y[rows])
        dense = H.matmat_torch(torch.eye(H.dim, dtype=F64))
        top = float(torch.linalg.eigvalsh(dense)[-1])
        g = H.gradient()
        v = fs.eigenvector
        assert mb.lambda_max[k] == pytest.approx(top, rel=1e-8)
        bs = float(g @ dense @ g / (g @ g))
        assert mb.batch_sharpness_terms[k] == pytest.approx(bs, rel=1e-8)
        cv = top - float(v @ dense @ v)
        assert mb.cv_terms[k] == pytest.approx(cv, rel=1e-6, abs=1e-8 * top)


def test_range_method_needs_a_relu_mlp():
    gen = torch.Generator().manual_seed(0)
    data = synthetic_classification(12, (1, 12, 12), 2, gen=gen)
    cnn = build_model(ModelSpec("cnn", width=4, channels=2), (1, 12, 12), 2, gen)
    with pytest.raises(ValueError, match="ReLU MLP"):
        minibatch_sharpness(
            cnn,
            Loss("mse"),
            data,
            batch_size=2,
            n_batches=1,
            rng=np.random.default_rng(0),
            method="range",
        )
