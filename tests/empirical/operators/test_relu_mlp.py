"""Closed-form ReLU-MLP Hessian products: exact against dense autograd Hessians.

Tolerances: float64 products of a few dozen terms agree to ~1e-15 relative; we
compare at 1e-11 (relative to the largest entry), far below any modelling error
and far above rounding. Float32 is checked at 1e-5 (about 100 × eps32).
"""

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, hessian

from eoss.empirical.losses import LOSS_NAMES, Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators.hessian import minibatch_hessian
from eoss.empirical.operators.params import flatten, unflatten
from eoss.empirical.operators.relu_mlp import ReluMLPHessian, mlp_layout
from eoss.empirical.operators.span_reduction import reduce_batches
from eoss.empirical.operators.stacked import StackedBatchHessian, stacked_targets

F64 = torch.float64
RTOL = 1e-11


def make(depth, bias=True, d_shape=(2, 3), C=3, width=5, seed=0, dtype=F64):
    """A ReLU MLP with nonzero biases (``linear`` for depth 0)."""
    gen = torch.Generator().manual_seed(seed)
    name = "linear" if depth == 0 else "mlp"
    spec = ModelSpec(name, width=width, depth=depth, bias=bias)
    model = build_model(spec, d_shape, C, gen, dtype=dtype)
    with torch.no_grad():  # nonzero biases exercise the bias terms
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(generator=gen)
    return model, gen


def batches(gen, K, b, d_shape, C, dtype=F64):
    X = torch.randn(K, b, *d_shape, generator=gen, dtype=dtype)
    y = torch.randint(0, C, (K, b), generator=gen)
    return X, y


def stacked(params, K):
    return {k: t.detach().unsqueeze(0).expand(K, *t.shape) for k, t in params.items()}


def dense(op):
    """(K, P, P) matrices of op, column by column."""
    eye = torch.eye(op.dim, dtype=op.gradient.dtype, device=op.gradient.device)
    cols = [op.matvec(eye[i].expand(op.K, -1)) for i in range(op.dim)]
    return torch.stack(cols, dim=2)


def batch_loss(model, loss, params, X, y):
    flat = flatten(params)

    def f(v):
        out = functional_call(model, unflatten(v, params), (X,))
        return loss.per_sample(out, y).mean()

    return f, flat


def assert_close_rel(a, b, rtol=RTOL):
    scale = float(b.abs().max())
    torch.testing.assert_close(a, b, rtol=0, atol=rtol * max(scale, 1e-300))


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_products_and_gradients_equal_dense_autograd(loss_name, depth, bias):
    loss = Loss(loss_name)
    model, gen = make(depth, bias)
    X, y = batches(gen, K=2, b=3, d_shape=(2, 3), C=3)
    params = {k: p.detach() for k, p in model.named_parameters()}
    T = stacked_targets(loss, y, 3, F64)
    op = ReluMLPHessian(model, loss, stacked(params, 2), X, T)
    H = dense(op)
    for k in range(2):
        f, flat = batch_loss(model, loss, params, X[k], y[k])
        assert_close_rel(H[k], hessian(f)(flat))
        assert_close_rel(op.gradient[k], grad(f)(flat))


def test_float_targets_and_a_single_output():
    loss = Loss("mse_half")
    model, gen = make(2, C=1, d_shape=(4,))
    X = torch.randn(3, 5, 4, generator=gen, dtype=F64)
    y = torch.randn(3, 5, generator=gen, dtype=F64)  # regression targets
    params = {k: p.detach() for k, p in model.named_parameters()}
    op = ReluMLPHessian(
        model, loss, stacked(params, 3), X, stacked_targets(loss, y, 1, F64)
    )
    H = dense(op)
    for k in range(3):
        f, flat = batch_loss(model, loss, params, X[k], y[k].unsqueeze(1))
        assert_close_rel(H[k], hessian(f)(flat))


def test_relu_kink_uses_the_autograd_convention():
    """A zero input row without biases puts every pre-activation exactly at 0."""
    loss = Loss("ce")
    model, gen = make(2, bias=False, d_shape=(4,))
    X, y = batches(gen, 1, 3, (4,), 3)
    X[0, 1] = 0.0
    params = {k: p.detach() for k, p in model.named_parameters()}
    op = ReluMLPHessian(model, loss, stacked(params, 1), X, y)
    f, flat = batch_loss(model, loss, params, X[0], y[0])
    assert_close_rel(dense(op)[0], hessian(f)(flat))


@pytest.mark.parametrize("loss_name", ["mse", "ce"])
@pytest.mark.parametrize(
    ("b", "repeat"), [(1, False), (4, False), (4, True), (9, False)]
)
def test_span_reduced_space_equals_the_autograd_operator(loss_name, b, repeat):
    """Per-batch first weights (K, h, r) after the reduction; b = 9 > d = 6."""
    loss = Loss(loss_name)
    model, gen = make(2, d_shape=(6,), width=7, seed=b)
    X, y = batches(gen, 3, b, (6,), 3)
    if repeat:  # a rank-deficient batch
        X[:, 1] = X[:, 0]
    params = {k: p.detach() for k, p in model.named_parameters()}
    red = reduce_batches(model, params, X)
    T = stacked_targets(loss, y, 3, F64)
    ref = StackedBatchHessian(model.eval(), {}, loss, red.params, red.Z, T)
    op = ReluMLPHessian(model, loss, red.params, red.Z, T)
    V = torch.randn(3, op.dim, generator=gen, dtype=F64)
    assert op.dim == ref.dim
    assert_close_rel(op.matvec(V), ref.matvec(V))
    assert_close_rel(op.gradient, ref.gradient)
    assert_close_rel(op.quadratic_form(V), ref.quadratic_form(V))
    # and through the maps, the unreduced mini-batch Hessian H_B = Aᵀ H̃ A
    full = minibatch_hessian(model, loss, X[1], y[1])
    v = torch.randn(full.dim, generator=gen, dtype=F64)
    lhs = red.to_full(op.matvec(red.to_reduced(v)))[1]
    assert_close_rel(lhs, full.matvec_torch(v))


def test_input_vectors_are_left_alone_and_views_work():
    model, gen = make(2)
    X, y = batches(gen, 2, 3, (2, 3), 3)
    loss = Loss("mse")
    params = {k: p.detach() for k, p in model.named_parameters()}
    op = ReluMLPHessian(
        model, loss, stacked(params, 2), X, stacked_targets(loss, y, 3, F64)
    )
    basis = torch.randn(2, 4, op.dim, generator=gen, dtype=F64)
    V = basis[:, 2]  # a strided view, as Lanczos passes its basis rows
    before = V.clone()
    out = op.matvec(V)
    assert torch.equal(V, before) and out.is_contiguous()
    assert_close_rel(out, op.matvec(before))
    assert op.n_matvecs == 2


def test_float32_and_device(device):
    model, gen = make(2, dtype=torch.float32)
    model = model.to(device)
    X, y = batches(gen, 2, 4, (2, 3), 3, dtype=torch.float32)
    X, y = X.to(device), y.to(device)
    loss = Loss("ce")
    params = {k: p.detach() for k, p in model.named_parameters()}
    P = stacked(params, 2)
    op = ReluMLPHessian(model, loss, P, X, y)
    ref = StackedBatchHessian(model.eval(), {}, loss, P, X, y)
    V = torch.randn(2, op.dim, generator=gen).to(device)
    out = op.matvec(V)
    assert out.device == V.device and out.dtype == torch.float32
    assert_close_rel(out, ref.matvec(V), rtol=1e-5)


def test_only_relu_mlps_are_accepted():
    gen = torch.Generator().manual_seed(0)
    mlp = build_model(ModelSpec("mlp", width=4, depth=2), (3, 2), 2, gen)
    layout = mlp_layout(mlp)
    assert layout is not None
    assert layout.names == (
        "1.weight",
        "1.bias",
        "3.weight",
        "3.bias",
        "5.weight",
        "5.bias",
    )
    assert (
        mlp_layout(build_model(ModelSpec("linear", bias=False), (3,), 2, gen))
        is not None
    )
    rejected = [
        nn.Sequential(nn.Linear(3, 2)),
        nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
        nn.Sequential(nn.Flatten(2), nn.Linear(3, 2)),
        nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU()),
        build_model(ModelSpec("cnn", width=4, channels=2), (1, 12, 12), 2, gen),
    ]
    for model in rejected:
        assert mlp_layout(model) is None
    # a frozen parameter changes the flat layout: not supported
    assert (
        mlp_layout(mlp, ["1.weight", "3.weight", "3.bias", "5.weight", "5.bias"])
        is None
    )
    X = torch.zeros(1, 2, 3, 2)
    with pytest.raises(ValueError, match="closed-form"):
        ReluMLPHessian(rejected[1], Loss("mse"), {}, X, torch.zeros(1, 2, 2))


def test_bad_targets_and_shapes_raise():
    model, gen = make(1)
    X, y = batches(gen, 2, 3, (2, 3), 3)
    P = stacked({k: p.detach() for k, p in model.named_parameters()}, 2)
    with pytest.raises(ValueError, match="integer labels"):
        ReluMLPHessian(model, Loss("ce"), P, X, torch.zeros(2, 3, 3, dtype=F64))
    with pytest.raises(ValueError, match="float targets"):
        ReluMLPHessian(model, Loss("mse"), P, X, y)
    op = ReluMLPHessian(model, Loss("ce"), P, X, y)
    with pytest.raises(ValueError, match="expected shape"):
        op.matvec(torch.zeros(1, op.dim, dtype=F64))
