"""Decomposed norm layers: same function, same layout, exact under vmap.

Reference: the unvmapped Hessian-vector product of the original layers (exact:
only the vmapped fused kernels are wrong). Products are compared in float64 at
rtol 1e-12: both sides are the same algebra up to rounding (measured ~1e-16),
while the defect they guard against is ~1e-2.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vjp, vmap

from eoss.empirical.operators.normalization import (
    DecomposedBatchNorm,
    DecomposedInstanceNorm,
    DecomposedLayerNorm,
    vmap_safe_norms,
)
from eoss.empirical.operators.params import private_module

F64 = torch.float64
K = 3


def vmapped_error(model: nn.Module, X: torch.Tensor, bn_mode: str) -> float:
    """Relative error of K vmapped HVPs of ``private_module`` vs exact ones."""
    gen = torch.Generator().manual_seed(1)
    mod = private_module(model, bn_mode)
    ref = private_module(model, bn_mode, decompose_norms=False)
    params = {k: p.detach().clone() for k, p in model.named_parameters()}
    bufs = {k: b.detach().clone() for k, b in model.named_buffers()}

    def loss(m):
        def fn(p, x):
            return functional_call(m, (p, bufs), (x,)).square().sum() / x.shape[0]

        return fn

    stacked = {k: t.unsqueeze(0).expand(K, *t.shape) for k, t in params.items()}
    Xs = X.unsqueeze(0).expand(K, *X.shape)
    _, fn = vjp(lambda P: vmap(grad(loss(mod)))(P, Xs), stacked)
    V = {k: torch.randn(t.shape, generator=gen, dtype=F64) for k, t in stacked.items()}
    out = fn(V)[0]
    _, fn1 = vjp(lambda p: grad(loss(ref))(p, X), params)
    worst = 0.0
    for k in range(K):
        exact = fn1({n: t[k] for n, t in V.items()})[0]
        a = torch.cat([out[n][k].reshape(-1) for n in exact])
        b = torch.cat([exact[n].reshape(-1) for n in exact])
        worst = max(worst, float((a - b).norm() / b.norm()))
    return worst


def perturbed(model: nn.Module) -> nn.Module:
    model = model.to(F64)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=F64))
    return model


X1 = torch.randn(6, 7, dtype=F64, generator=torch.Generator().manual_seed(2))
X2 = torch.randn(6, 3, 5, 5, dtype=F64, generator=torch.Generator().manual_seed(3))


def mlp(norm):
    return nn.Sequential(nn.Linear(7, 8), norm, nn.Tanh(), nn.Linear(8, 3))


def cnn(norm, c=4):
    return nn.Sequential(
        nn.Conv2d(3, c, 3), norm, nn.Tanh(), nn.Flatten(), nn.Linear(9 * c, 3)
    )


REPLACED = {
    "ln": (lambda: mlp(nn.LayerNorm(8)), X1, "eval", DecomposedLayerNorm),
    "ln_nobias": (
        lambda: mlp(nn.LayerNorm(8, bias=False)),
        X1,
        "eval",
        DecomposedLayerNorm,
    ),
    "ln_2d": (lambda: cnn(nn.LayerNorm([4, 3, 3])), X2, "eval", DecomposedLayerNorm),
    "bn1d_train": (lambda: mlp(nn.BatchNorm1d(8)), X1, "train", DecomposedBatchNorm),
    "bn2d_train": (lambda: cnn(nn.BatchNorm2d(4)), X2, "train", DecomposedBatchNorm),
    "in2d_affine": (
        lambda: cnn(nn.InstanceNorm2d(4, affine=True)),
        X2,
        "eval",
        DecomposedInstanceNorm,
    ),
}
KEPT = {
    "ln_plain": (lambda: mlp(nn.LayerNorm(8, elementwise_affine=False)), X1, "eval"),
    "bn2d_eval": (lambda: cnn(nn.BatchNorm2d(4)), X2, "eval"),
    "bn2d_train_plain": (lambda: cnn(nn.BatchNorm2d(4, affine=False)), X2, "train"),
    "groupnorm": (lambda: cnn(nn.GroupNorm(2, 4)), X2, "eval"),
    "rmsnorm": (lambda: mlp(nn.RMSNorm(8)), X1, "eval"),
    "in2d": (lambda: cnn(nn.InstanceNorm2d(4)), X2, "eval"),
    "in2d_running": (
        lambda: cnn(nn.InstanceNorm2d(4, affine=True, track_running_stats=True)),
        X2,
        "eval",
    ),
}


@pytest.mark.parametrize("name", sorted(REPLACED))
def test_replaced_layers_are_exact_under_vmap(name):
    build, X, bn_mode, cls = REPLACED[name]
    model = perturbed(build())
    mod = private_module(model, bn_mode)
    assert isinstance(mod[1], cls)
    # same names, same order, same shapes: the flat layout is unchanged
    assert [(k, p.shape) for k, p in mod.named_parameters()] == [
        (k, p.shape) for k, p in model.named_parameters()
    ]
    assert [k for k, _ in mod.named_buffers()] == [k for k, _ in model.named_buffers()]
    ref = private_module(model, bn_mode, decompose_norms=False)
    with torch.no_grad():
        torch.testing.assert_close(mod(X), ref(X), rtol=1e-13, atol=1e-14)
    assert vmapped_error(model, X, bn_mode) < 1e-12


def test_fused_layers_are_wrong_under_vmap():
    """The defect exists (so the tests above can fail without the replacement)."""
    model = perturbed(mlp(nn.LayerNorm(8)))
    ref = private_module(model, "eval", decompose_norms=False)
    params = {k: p.detach() for k, p in model.named_parameters()}

    def fn(p, x):
        return functional_call(ref, p, (x,)).square().sum()

    stacked = {k: t.unsqueeze(0).expand(K, *t.shape) for k, t in params.items()}
    Xs = X1.unsqueeze(0).expand(K, *X1.shape)
    _, f = vjp(lambda P: vmap(grad(fn))(P, Xs), stacked)
    V = {k: torch.ones_like(t) for k, t in stacked.items()}
    _, f1 = vjp(lambda p: grad(fn)(p, X1), params)
    a = torch.cat([t[0].reshape(-1) for t in f(V)[0].values()])
    b = torch.cat(
        [t.reshape(-1) for t in f1({k: v[0] for k, v in V.items()})[0].values()]
    )
    assert float((a - b).norm() / b.norm()) > 1e-4


@pytest.mark.parametrize("name", sorted(KEPT))
def test_kept_layers_are_exact_under_vmap(name):
    build, X, bn_mode = KEPT[name]
    model = perturbed(build())
    mod = private_module(model, bn_mode)
    assert type(mod[1]) is type(model[1])
    assert vmapped_error(model, X, bn_mode) < 1e-12


def test_shared_layer_and_root_layer():
    ln = nn.LayerNorm(7).to(F64)
    model = nn.Sequential(ln, nn.Tanh(), ln).to(F64)
    out = vmap_safe_norms(copy.deepcopy(model))
    assert out[0] is out[2] and isinstance(out[0], DecomposedLayerNorm)
    root = vmap_safe_norms(copy.deepcopy(ln))
    assert isinstance(root, DecomposedLayerNorm)
    with torch.no_grad():
        torch.testing.assert_close(root(X1), ln(X1), rtol=1e-13, atol=1e-14)


def test_batchnorm_needs_more_than_one_value():
    bn = DecomposedBatchNorm(nn.BatchNorm1d(3).train())
    with pytest.raises(ValueError, match="more than 1 value"):
        bn(torch.randn(1, 3))
