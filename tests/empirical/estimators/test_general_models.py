"""Every method is exact on models with norm layers, attention and token inputs.

Reference: the dense Hessian of the batch loss from
``torch.autograd.functional.hessian`` on a deep copy of the caller's model (its
own fused layers, no vmap), in float64; attention runs on the MATH kernel
there, which has a double backward. Lanczos at tol = 1e-10 gives λ_max to ~1e-10
relative (residual bound), so methods agree with each other and with
``eigvalsh`` at rtol 1e-8.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.estimators.full_batch import full_sharpness
from eoss.empirical.estimators.minibatch import batch_lambda_max, minibatch_sharpness
from eoss.empirical.losses import Loss, get_loss
from eoss.empirical.operators.batched import sample_batches

F64 = torch.float64
TOL = 1e-10
RTOL = 1e-8
BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class TokenTransformer(nn.Module):
    """Embedding, one encoder layer, a per-token head: (N, T) ids → (N, T, V)."""

    def __init__(self, vocab: int = 7, d: int = 4, norm_first: bool = False):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.enc = nn.TransformerEncoderLayer(
            d, 2, 6, dropout=0.0, batch_first=True, norm_first=norm_first
        )
        self.head = nn.Linear(d, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(self.emb(x)))


class EncoderClassifier(nn.Module):
    """(N, T, d) float sequences → one encoder layer → mean pool → C classes."""

    def __init__(self, d: int = 4, classes: int = 3):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(d, 2, 6, dropout=0.1, batch_first=True)
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x).mean(dim=1))


def token_ce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (N, T) of (N, T, V) logits."""
    return nn.functional.cross_entropy(
        outputs.transpose(1, 2), targets, reduction="none"
    )


def ln_mlp():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 5), nn.LayerNorm(5), nn.Tanh(), nn.Linear(5, 3)
    )


def conv_ln():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.LayerNorm([3, 2, 2]),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(12, 3),
    )


def conv_bn():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 3)
    )


def conv_gn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3),
        nn.GroupNorm(2, 4),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def conv_in():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.InstanceNorm2d(3, affine=True),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(12, 3),
    )


def make_case(name: str, seed: int = 0):
    """(model, data, loss, bn_mode) of one case, float64, P ≤ ~250."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n = 24
    img = (n, 2, 4, 4)
    labels = torch.randint(0, 3, (n,), generator=gen)
    if name in ("ln_mlp_mse", "ln_mlp_ce"):
        model, X = ln_mlp(), torch.randn(n, 6, generator=gen)
        loss = Loss("mse" if name.endswith("mse") else "ce")
    elif name == "conv_ln":
        model, X, loss = conv_ln(), torch.randn(*img, generator=gen), Loss("ce")
    elif name in ("conv_bn_train", "conv_bn_eval"):
        model, X, loss = conv_bn(), torch.randn(*img, generator=gen), Loss("mse")
        with torch.no_grad():  # non-trivial running statistics for eval mode
            bn = model[1]
            bn.running_mean.uniform_(-0.5, 0.5, generator=gen)
            bn.running_var.uniform_(0.5, 2.0, generator=gen)
            bn.weight.uniform_(0.5, 1.5, generator=gen)
            bn.bias.uniform_(-0.5, 0.5, generator=gen)
    elif name == "conv_gn":
        model, X, loss = conv_gn(), torch.randn(*img, generator=gen), Loss("ce")
    elif name == "conv_in":
        model, X, loss = conv_in(), torch.randn(*img, generator=gen), Loss("ce")
    elif name == "encoder":
        model = EncoderClassifier()
        X, loss = torch.randn(n, 3, 4, generator=gen), Loss("ce")
    elif name == "tokens":
        model = TokenTransformer(norm_first=True)
        X = torch.randint(0, 7, (n, 3), generator=gen)
        labels = torch.randint(0, 7, (n, 3), generator=gen)
        loss = get_loss(token_ce)
    else:
        raise KeyError(name)
    model = model.to(F64)
    for p in model.parameters():  # move off the symmetric init (LN weight 1, bias 0)
        with torch.no_grad():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=F64))
    X = X.to(F64) if X.is_floating_point() else X
    data = ArrayDataset(X, labels, name, 3)
    bn_mode = "train" if name == "conv_bn_train" else "eval"
    return model, data, loss, bn_mode


def dense_hessian(model, loss, X, y, bn_mode):
    """Dense Hessian of the batch loss over the trainable parameters (reference)."""
    ref = copy.deepcopy(model).eval()
    if bn_mode == "train":
        for sub in ref.modules():
            if isinstance(sub, BN):
                sub.train()
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    shapes = [dict(model.named_parameters())[k].shape for k in names]
    theta = torch.cat(
        [dict(model.named_parameters())[k].detach().reshape(-1) for k in names]
    )

    def batch_loss(flat):
        parts, start = {}, 0
        for k, s in zip(names, shapes, strict=True):
            size = int(np.prod(s))
            parts[k] = flat[start : start + size].reshape(s)
            start += size
        out = functional_call(ref, parts, (X,))
        return loss.per_sample(out, y).mean()

    with sdpa_kernel([SDPBackend.MATH]):
        return torch.autograd.functional.hessian(batch_loss, theta)


CASES = [
    "ln_mlp_mse",
    "ln_mlp_ce",
    "conv_ln",
    "conv_bn_train",
    "conv_bn_eval",
    "conv_gn",
    "conv_in",
    "encoder",
    "tokens",
]


@pytest.mark.parametrize("case", CASES)
def test_every_method_matches_dense(case):
    model, data, loss, bn_mode = make_case(case)
    state = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    methods = ["auto", "plain", "loop"] + (["reduced"] if "mlp" in case else [])
    idx = sample_batches(len(data), 6, 2, np.random.default_rng(1))
    out = {
        m: minibatch_sharpness(
            model,
            loss,
            data,
            batch_size=6,
            n_batches=2,
            rng=np.random.default_rng(2),
            tol=TOL,
            method=m,
            batch_indices=idx,
            bn_mode=bn_mode,
        )
        for m in methods
    }
    dense = [
        torch.linalg.eigvalsh(
            dense_hessian(model, loss, data.X[r], data.y[r], bn_mode)
        )[-1].item()
        for r in torch.as_tensor(idx)
    ]
    for m, res in out.items():
        assert res.fallback_from is None, (m, res.self_check_error)
        assert res.converged.all()
        np.testing.assert_allclose(res.lambda_max, dense, rtol=RTOL, err_msg=m)
        if res.method != "loop":  # the self-check ran and found rounding only
            assert res.self_check_error < 1e-12
    # the caller's model is untouched: values, and every module's mode
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert [m.training for m in model.modules()] == modes


@pytest.mark.parametrize("case", ["conv_bn_train", "tokens", "ln_mlp_ce"])
def test_batch_lambda_max_matches_dense(case):
    model, data, loss, bn_mode = make_case(case, seed=3)
    X, y = data.X[:6], data.y[:6]
    H = dense_hessian(model, loss, X, y, bn_mode)
    vals, vecs = torch.linalg.eigh(H)
    for method in ("auto", "loop"):
        res = batch_lambda_max(
            model,
            loss,
            X,
            y,
            rng=np.random.default_rng(0),
            tol=TOL,
            bn_mode=bn_mode,
            method=method,
        )
        assert res.fullbs == pytest.approx(vals[-1].item(), rel=RTOL)
        v = res.eigenvector
        assert float((H @ v - vals[-1] * v).norm()) <= 1e-7 * vals[-1].item()


def test_full_sharpness_on_tokens_matches_dense():
    model, data, loss, _ = make_case("tokens", seed=4)
    H = dense_hessian(model, loss, data.X, data.y, "eval")
    fs = full_sharpness(
        model, loss, data, rng=np.random.default_rng(0), chunk_size=7, tol=TOL
    )
    assert fs.fullbs == pytest.approx(torch.linalg.eigvalsh(H)[-1].item(), rel=RTOL)
    assert data.X.dtype == torch.int64  # ids were never cast


def sdpa_flags():
    b = torch.backends.cuda
    return (
        b.flash_sdp_enabled(),
        b.mem_efficient_sdp_enabled(),
        b.math_sdp_enabled(),
        b.cudnn_sdp_enabled(),
        torch.backends.mha.get_fastpath_enabled(),
    )


def test_attention_kernel_setting_is_restored():
    """MATH attention is switched on inside eoss only (the tokens cases need it)."""
    model, data, loss, _ = make_case("tokens")
    before = sdpa_flags()
    assert before[0]  # the default flash kernel has no double backward
    res = minibatch_sharpness(
        model,
        loss,
        data,
        batch_size=4,
        n_batches=2,
        rng=np.random.default_rng(0),
        tol=1e-4,
    )
    assert res.converged.all()
    assert sdpa_flags() == before
