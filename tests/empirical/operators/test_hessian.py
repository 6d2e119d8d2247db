"""HessianOperator against closed forms, dense autograd, and its own invariances.

Tolerances (float64): rtol 1e-10 against closed forms and 1e-8 against the dense
``torch.func.hessian`` (house style, STYLE.md 3.5); both are far above the
~1e-15 round-off of these small products.
"""

import numpy as np
import pytest
import scipy.sparse.linalg
import torch
from torch import nn
from torch.func import functional_call, hessian

from eoss.empirical.losses import Loss
from eoss.empirical.operators.hessian import HessianOperator, minibatch_hessian

F64 = torch.float64


def dense(op: HessianOperator) -> torch.Tensor:
    return op.matmat_torch(torch.eye(op.dim, dtype=F64))


def data(n: int, d: int, C: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=F64)
    y = torch.randint(0, C, (n,), generator=gen)
    return X, y


def linear_closed_form(X, C, scale, bias):
    """Hessian of (1/N) Σ_n scale·‖W x_n + c − t_n‖² in torch's parameter order.

    With x̃ = [x, 1], each output row c has the block 2·scale/N · X̃ᵀX̃ over
    (W[c, :], c_c); torch flattens W row-major (all of W, then all of c), so the
    Hessian is a permutation of I_C ⊗ (2·scale/N) X̃ᵀX̃.
    """
    N, d = X.shape
    Xt = torch.cat([X, torch.ones(N, 1, dtype=F64)], 1) if bias else X
    block = 2 * scale / N * Xt.T @ Xt
    kron = torch.kron(torch.eye(C, dtype=F64), block)  # order: (c, feature)
    D = Xt.shape[1]
    order = [c * D + j for c in range(C) for j in range(d)]  # W[c, j]
    if bias:
        order += [c * D + d for c in range(C)]  # then the biases
    idx = torch.tensor(order)
    return kron[idx][:, idx]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("name", "scale"), [("mse", 1.0), ("mse_half", 0.5)])
def test_linear_model_closed_form(name, scale, bias, device):
    X, y = data(12, 4, 3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=bias)).double().to(device)
    H = dense(HessianOperator(model, Loss(name), X, y)).cpu()
    torch.testing.assert_close(
        H, linear_closed_form(X, 3, scale, bias), rtol=1e-10, atol=1e-12
    )


def test_linear_model_mse_mean_scales_by_one_over_c():
    X, y = data(10, 3, 4)
    model = nn.Linear(3, 4).double()
    H = dense(HessianOperator(model, Loss("mse_mean"), X, y))
    torch.testing.assert_close(
        H, linear_closed_form(X, 4, 1 / 4, True), rtol=1e-10, atol=1e-12
    )


class DiagonalNet(nn.Module):
    """f(x) = aᵀ diag(b) x = Σ_i a_i b_i x_i (one output)."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.a * self.b).sum(dim=1, keepdim=True)


def diagonal_net_closed_form(a, b, X, t):
    r"""H of L = (1/N) Σ_n (f_n − t_n)² for f = aᵀ diag(b) x, by hand.

    ∇f_n = [b ⊙ x_n; a ⊙ x_n]; ∂²f_n/∂a_i∂b_j = δ_ij x_ni (other blocks 0), so
    H = (2/N) Σ_n [∇f_n ∇f_nᵀ + (f_n − t_n) [[0, diag x_n], [diag x_n, 0]]].
    """
    N, d = X.shape
    H = torch.zeros(2 * d, 2 * d, dtype=F64)
    for x, tn in zip(X, t, strict=True):
        g = torch.cat([b * x, a * x])
        r = (a * b * x).sum() - tn
        cross = torch.zeros(2 * d, 2 * d, dtype=F64)
        cross[:d, d:] = torch.diag(x)
        cross[d:, :d] = torch.diag(x)
        H += 2 / N * (torch.outer(g, g) + r * cross)
    return H


def test_diagonal_network_closed_form():
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):  # five random points
        a, b = torch.randn(2, 4, generator=gen, dtype=F64)
        X = torch.randn(9, 4, generator=gen, dtype=F64)
        t = torch.randn(9, generator=gen, dtype=F64)
        op = HessianOperator(DiagonalNet(a, b), Loss("mse"), X, t)
        torch.testing.assert_close(
            dense(op), diagonal_net_closed_form(a, b, X, t), rtol=1e-10, atol=1e-12
        )


def tiny_mlp(seed=0, bn=False):
    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(5, 6), nn.Tanh()]
    if bn:
        layers += [nn.BatchNorm1d(6)]
    layers += [nn.Linear(6, 3)]
    return nn.Sequential(*layers).double()


def dense_autograd(model, loss, X, y):
    params = {k: p.detach() for k, p in model.named_parameters()}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    shapes = [(k, p.shape, p.numel()) for k, p in params.items()]

    def f(flat):
        p, s = {}, 0
        for k, shape, n in shapes:
            p[k] = flat[s : s + n].reshape(shape)
            s += n
        return loss.mean(functional_call(model, (p, buffers), (X,)), y)

    flat = torch.cat([p.reshape(-1) for p in params.values()])
    return hessian(f)(flat)


@pytest.mark.parametrize("name", ["mse", "ce", "mse_mean"])
def test_tiny_mlp_matches_dense_autograd(name):
    X, y = data(11, 5, 3, seed=2)
    model = tiny_mlp()
    model.eval()
    ref = dense_autograd(model, Loss(name), X, y)
    op = HessianOperator(model, Loss(name), X, y, chunk_size=4)
    torch.testing.assert_close(dense(op), ref, rtol=1e-8, atol=1e-10)
    vals = torch.linalg.eigvalsh(ref)
    assert float(vals[0]) < 0 < float(vals[-1])  # indefinite: LA is meaningful


@pytest.mark.parametrize("retain", [True, False])
def test_chunking_invariance(retain):
    """One chunk == ragged chunks (weights by rows, not by chunks)."""
    X, y = data(10, 5, 3, seed=3)
    model = tiny_mlp(1)
    one = dense(HessianOperator(model, Loss("ce"), X, y))
    ragged = dense(
        HessianOperator(model, Loss("ce"), X, y, chunk_size=3, retain_graphs=retain)
    )
    torch.testing.assert_close(one, ragged, rtol=1e-12, atol=1e-13)


def test_n_total_makes_shards_add_up():
    X, y = data(10, 5, 3, seed=4)
    model = tiny_mlp(2)
    whole = dense(HessianOperator(model, Loss("mse"), X, y))
    parts = dense(
        HessianOperator(model, Loss("mse"), X[:4], y[:4], n_total=10)
    ) + dense(HessianOperator(model, Loss("mse"), X[4:], y[4:], n_total=10))
    torch.testing.assert_close(whole, parts, rtol=1e-12, atol=1e-13)


def test_symmetric_deterministic_and_gradient():
    X, y = data(9, 5, 3, seed=5)
    model = tiny_mlp(3)
    op = HessianOperator(model, Loss("ce"), X, y, chunk_size=4)
    gen = torch.Generator().manual_seed(0)
    v, w = torch.randn(2, op.dim, generator=gen, dtype=F64)
    Hv, Hw = op.matvec_torch(v), op.matvec_torch(w)
    assert float(w @ Hv) == pytest.approx(float(v @ Hw), rel=1e-12)
    assert torch.equal(Hv, op.matvec_torch(v))
    model.zero_grad()
    Loss("ce").mean(model(X), y).backward()
    ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(op.gradient(), ref, rtol=1e-12, atol=1e-14)
    value = float(Loss("ce").mean(model(X), y).detach())
    assert op.loss_value() == pytest.approx(value)


def test_scipy_interface_without_probe_matvec():
    X, y = data(8, 5, 3, seed=6)
    model = tiny_mlp(4)
    op = minibatch_hessian(model, Loss("mse"), X, y)
    assert op.shape == (op.dim, op.dim) and op.dtype == np.float64
    assert op.n_matvecs == 0  # dtype and shape came without a probe product
    ref = torch.linalg.eigvalsh(dense_autograd(model, Loss("mse"), X, y))
    vals = scipy.sparse.linalg.eigsh(op, k=1, which="LA", return_eigenvectors=False)
    assert vals[0] == pytest.approx(float(ref[-1]), rel=1e-8)
    x = np.arange(op.dim, dtype=np.float64)
    np.testing.assert_allclose(op @ x, op.matvec_torch(torch.from_numpy(x)).numpy())


def snapshot(model):
    return (
        {k: p.detach().clone() for k, p in model.named_parameters()},
        {k: b.detach().clone() for k, b in model.named_buffers()},
        {
            k: None if p.grad is None else p.grad.clone()
            for k, p in model.named_parameters()
        },
        [m.training for m in model.modules()],
    )


def assert_unchanged(model, snap):
    params, buffers, grads, modes = snap
    for k, p in model.named_parameters():
        assert torch.equal(p, params[k]) and p.requires_grad
        assert (p.grad is None and grads[k] is None) or torch.equal(p.grad, grads[k])
    for k, b in model.named_buffers():
        assert torch.equal(b, buffers[k])
    assert [m.training for m in model.modules()] == modes


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_model_is_never_mutated(bn_mode):
    X, y = data(12, 5, 3, seed=7)
    model = tiny_mlp(5, bn=True)
    model.train()
    model(X)  # move the running statistics away from their init
    Loss("mse").mean(model(X), y).backward()  # leave a .grad behind
    snap = snapshot(model)
    op = HessianOperator(model, Loss("mse"), X, y, chunk_size=5, bn_mode=bn_mode)
    op.matvec_torch(torch.ones(op.dim, dtype=F64))
    op.gradient()
    assert_unchanged(model, snap)


def test_bn_modes_differ_and_eval_uses_running_statistics():
    X, y = data(12, 5, 3, seed=8)
    model = tiny_mlp(6, bn=True)
    model.train()
    model(X)
    ev = dense(HessianOperator(model, Loss("mse"), X, y, bn_mode="eval"))
    tr = dense(HessianOperator(model, Loss("mse"), X, y, bn_mode="train"))
    model.eval()
    torch.testing.assert_close(
        ev, dense_autograd(model, Loss("mse"), X, y), rtol=1e-8, atol=1e-10
    )
    assert not torch.allclose(ev, tr)


def test_bad_inputs():
    X, y = data(4, 5, 3)
    with pytest.raises(ValueError, match="rows"):
        HessianOperator(tiny_mlp(), Loss("mse"), X, y[:3])
    with pytest.raises(ValueError, match="chunk_size"):
        HessianOperator(tiny_mlp(), Loss("mse"), X, y, chunk_size=0)
    op = HessianOperator(tiny_mlp(), Loss("mse"), X, y)
    with pytest.raises(ValueError, match="shape"):
        op.matvec_torch(torch.zeros(3, dtype=F64))
