"""The first-layer span reduction is exact (dense float64 spectra)."""

import pytest
import torch
from torch import nn

from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators.hessian import minibatch_hessian
from eoss.empirical.operators.span_reduction import (
    reduce_batches,
    span_basis,
    supports_reduction,
)
from eoss.empirical.operators.stacked import StackedBatchHessian, stacked_targets

F64 = torch.float64


def model_and_batches(name, K=3, b=4, d=9, C=3, seed=0, repeat=False):
    gen = torch.Generator().manual_seed(seed)
    model = build_model(ModelSpec(name, width=5, depth=2), (d,), C, gen, dtype=F64)
    with torch.no_grad():  # nonzero biases exercise the bias path
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(generator=gen)
    X = torch.randn(K, b, d, generator=gen, dtype=F64)
    if repeat:  # a rank-deficient batch: two identical rows
        X[:, 1] = X[:, 0]
    y = torch.randint(0, C, (K, b), generator=gen)
    return model, X, y


def reduced_operator(model, loss, X, y):
    params = {k: p.detach() for k, p in model.named_parameters()}
    red = reduce_batches(model, params, X)
    T = stacked_targets(loss, y, 3, F64)
    model_eval = model.eval()
    return red, StackedBatchHessian(model_eval, {}, loss, red.params, red.Z, T)


def dense_stacked(op):
    cols = [
        op.matvec(torch.eye(op.dim, dtype=F64)[i].expand(op.K, -1))
        for i in range(op.dim)
    ]
    return torch.stack(cols, dim=2)  # (K, p, p)


@pytest.mark.parametrize("name", ["linear", "mlp"])
@pytest.mark.parametrize("repeat", [False, True])
def test_reduced_spectrum_equals_full_nonzero_spectrum(name, repeat):
    loss = Loss("mse")
    model, X, y = model_and_batches(name, repeat=repeat)
    red, op = reduced_operator(model, loss, X, y)
    assert red.reduced_dim == red.full_dim - 5 * (9 - 4) * (name == "mlp") - 3 * (
        9 - 4
    ) * (name == "linear")
    Hr = dense_stacked(op)
    for k in range(X.shape[0]):
        full = minibatch_hessian(model, loss, X[k], y[k])
        Hf = full.matmat_torch(torch.eye(full.dim, dtype=F64))
        ef = torch.linalg.eigvalsh(Hf)
        er = torch.linalg.eigvalsh(Hr[k])
        # the full spectrum = reduced spectrum + n_null zeros
        padded = torch.sort(torch.cat([er, torch.zeros(red.n_null, dtype=F64)])).values
        scale = float(ef.abs().max())
        torch.testing.assert_close(ef, padded, rtol=0, atol=1e-10 * scale)
        # H_B = Aᵀ H̃ A: check on a random vector through to_reduced / to_full
        v = torch.randn(full.dim, dtype=F64, generator=torch.Generator().manual_seed(k))
        Av = red.to_reduced(v)[k : k + 1]
        lhs = full.matvec_torch(v)
        rhs = red.to_full(op.matvec(Av.expand(op.K, -1)))[k]
        torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10 * scale)
        # the batch gradient lives in range(Aᵀ)
        torch.testing.assert_close(
            full.gradient(), red.to_full(op.gradient)[k], rtol=1e-10, atol=1e-13
        )


def test_a_is_a_partial_isometry():
    model, X, _ = model_and_batches("mlp")
    params = {k: p.detach() for k, p in model.named_parameters()}
    red = reduce_batches(model, params, X)
    gen = torch.Generator().manual_seed(1)
    u = torch.randn(X.shape[0], red.reduced_dim, generator=gen, dtype=F64)
    torch.testing.assert_close(
        red.to_reduced(red.to_full(u)), u, rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(
        red.to_full(u).norm(dim=1), u.norm(dim=1), rtol=1e-12, atol=0
    )
    # reduced inputs reproduce the first layer's pre-activations exactly
    W = params["1.weight"]
    torch.testing.assert_close(X @ W.T, red.Z @ red.params["1.weight"].transpose(1, 2))


def test_which_models_are_reducible():
    gen = torch.Generator().manual_seed(0)
    assert supports_reduction(build_model(ModelSpec("mlp"), (3, 4, 4), 2, gen))
    assert supports_reduction(build_model(ModelSpec("linear"), (7,), 2, gen))
    assert not supports_reduction(nn.Sequential(nn.Linear(3, 2)))
    assert not supports_reduction(
        nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(3, 2))
    )
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    assert not supports_reduction(conv)
    with pytest.raises(ValueError, match="span reduction"):
        reduce_batches(conv, dict(conv.named_parameters()), torch.zeros(1, 2, 1, 4, 4))


def test_span_basis_handles_rank_deficiency_and_wide_batches():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(2, 5, 9, generator=gen, dtype=F64)
    X[1, 3] = X[1, 0] - 2 * X[1, 2]  # batch 1 has rank 4
    Q = span_basis(X)
    G = Q.transpose(1, 2) @ Q
    torch.testing.assert_close(
        torch.diagonal(G, dim1=1, dim2=2).sum(1), torch.tensor([5.0, 4.0], dtype=F64)
    )
    torch.testing.assert_close(
        G, torch.diag_embed(torch.diagonal(G, dim1=1, dim2=2)), rtol=0, atol=1e-14
    )
    # every input is reproduced from its coordinates: X Q Qᵀ = X
    torch.testing.assert_close(X @ Q @ Q.transpose(1, 2), X, rtol=0, atol=1e-12)
    wide = span_basis(torch.randn(1, 12, 4, generator=gen, dtype=F64))
    torch.testing.assert_close(wide[0], torch.eye(4, dtype=F64))


def test_rank_deficient_batch_maps_are_a_projection():
    model, X, _ = model_and_batches("mlp", repeat=True)
    params = {k: p.detach() for k, p in model.named_parameters()}
    red = reduce_batches(model, params, X)
    gen = torch.Generator().manual_seed(4)
    v = torch.randn(red.full_dim, generator=gen, dtype=F64)
    Pv = red.to_reduced(v)
    torch.testing.assert_close(
        red.to_reduced(red.to_full(Pv)), Pv, rtol=1e-12, atol=1e-12
    )
