"""Gauss–Newton operator and the NTK Gram route (float64, dense references)."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev

from eoss.empirical.data.arrays import synthetic_classification
from eoss.empirical.estimators.ntk import ntk_lambda_max
from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators.gauss_newton import GaussNewtonOperator, output_hessians
from eoss.empirical.operators.hessian import HessianOperator
from eoss.empirical.operators.stacked import stacked_targets

F64 = torch.float64


@pytest.fixture(scope="module")
def setup():
    gen = torch.Generator().manual_seed(0)
    data = synthetic_classification(24, (6,), 3, gen=gen).to("cpu", F64)
    model = build_model(ModelSpec("mlp", width=5, depth=1), (6,), 3, gen, dtype=F64)
    return model, data


def dense(op):
    return op.matmat_torch(torch.eye(op.dim, dtype=F64))


def dense_gn(model, loss, X, y):
    """(1/N) Σ_n J_nᵀ Λ_n J_n from materialised Jacobians (tiny nets only)."""
    params = {k: p.detach() for k, p in model.named_parameters()}
    flat = torch.cat([p.reshape(-1) for p in params.values()])

    def f(th):
        ps, s = {}, 0
        for k, v in params.items():
            ps[k] = th[s : s + v.numel()].reshape(v.shape)
            s += v.numel()
        return functional_call(model, ps, (X,))

    J = jacrev(f)(flat)  # (N, C, P)
    out = f(flat)
    lam = output_hessians(
        loss, out, stacked_targets(loss, y[None], out.shape[1], F64)[0]
    )
    return torch.einsum("ncp,ncd,ndq->pq", J, lam, J) / X.shape[0]


def test_output_hessians_closed_forms():
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(4, 3, generator=gen, dtype=F64)
    y = torch.tensor([0, 2, 1, 1])
    eye = torch.eye(3, dtype=F64).expand(4, 3, 3)
    for name, c in [("mse", 2.0), ("mse_half", 1.0), ("mse_mean", 2.0 / 3)]:
        t = stacked_targets(Loss(name), y[None], 3, F64)[0]
        torch.testing.assert_close(output_hessians(Loss(name), f, t), c * eye)
    p = torch.softmax(f, dim=1)
    ce = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    torch.testing.assert_close(
        output_hessians(Loss("ce"), f, y), ce, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", ["mse", "ce", "mse_mean"])
def test_gn_operator_matches_dense(setup, name):
    model, data = setup
    loss = Loss(name)
    G = GaussNewtonOperator(model, loss, data.X, data.y, chunk_size=7)
    torch.testing.assert_close(
        dense(G), dense_gn(model, loss, data.X, data.y), rtol=1e-10, atol=1e-12
    )
    H = HessianOperator(model, loss, data.X, data.y)
    torch.testing.assert_close(G.gradient(), H.gradient(), rtol=1e-12, atol=1e-14)
    assert not torch.allclose(dense(G), dense(H))  # the residual term is nonzero


def test_gn_equals_hessian_for_a_linear_model():
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(10, 4, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (10,), generator=gen)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).double()
    G = GaussNewtonOperator(model, Loss("mse"), X, y)
    H = HessianOperator(model, Loss("mse"), X, y)
    torch.testing.assert_close(dense(G), dense(H), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ["mse", "ce"])
@pytest.mark.parametrize("reduce", [True, False])
def test_ntk_gram_route_equals_gn_operator(setup, name, reduce):
    model, data = setup
    loss = Loss(name)
    r = ntk_lambda_max(
        model,
        loss,
        data,
        batch_size=5,
        n_batches=3,
        rng=np.random.default_rng(0),
        tol=1e-10,
        reduce=reduce,
    )
    assert r.converged.all() and r.lambda_max.shape == (3,)
    for k, rows in enumerate(r.batch_indices):
        G = GaussNewtonOperator(model, loss, data.X[rows], data.y[rows])
        top = float(torch.linalg.eigvalsh(dense(G))[-1])
        assert r.lambda_max[k] == pytest.approx(top, rel=1e-8)
    assert r.ntk_lambda_max == pytest.approx(r.lambda_max.mean())
    assert r.ntk_lambda_max_se == pytest.approx(r.lambda_max.std(ddof=1) / np.sqrt(3))


def test_ntk_leaves_model_untouched(setup):
    model, data = setup
    before = [p.detach().clone() for p in model.parameters()]
    ntk_lambda_max(
        model,
        Loss("mse"),
        data,
        batch_size=4,
        n_batches=2,
        rng=np.random.default_rng(0),
    )
    assert all(
        torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)
    )
    assert all(p.grad is None for p in model.parameters())
