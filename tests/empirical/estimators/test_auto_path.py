"""``auto``'s choice between ``plain`` and ``loop`` on general models.

``auto`` takes ``loop`` when the ``plain`` chunks would hold one batch each (the
same products, without batching, and no self-check to pay for); otherwise
``plain``. Either way the numbers are those of the exact per-batch ``loop``:
float64, Lanczos at tol = 1e-10 (residual bound), so λ_max agrees to rtol 1e-8.
The reference is a dense ``eigvalsh`` of the batch Hessian for the tiny CNN.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from eoss.empirical.estimators.minibatch import minibatch_sharpness
from eoss.empirical.losses import get_loss
from eoss.empirical.operators import batched as _batched
from eoss.empirical.operators.hessian import minibatch_hessian

F64 = torch.float64
TOL, RTOL = 1e-10, 1e-8
B, K = 6, 3


def bn_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 3),
    ).to(F64)


def tokens_model() -> nn.Module:
    torch.manual_seed(0)

    class Tok(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 4)
            self.enc = nn.TransformerEncoderLayer(
                4, 2, 8, dropout=0.0, batch_first=True
            )
            self.head = nn.Linear(4, 3)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.enc(self.emb(ids)).mean(dim=1))

    return Tok().to(F64)


def problem(name: str):
    gen = torch.Generator().manual_seed(1)
    if name == "cnn":
        X = torch.randn(24, 2, 4, 4, generator=gen, dtype=F64)
        return bn_cnn(), X, torch.randint(0, 3, (24,), generator=gen), "train"
    X = torch.randint(0, 5, (24, 5), generator=gen)
    return tokens_model(), X, torch.randint(0, 3, (24,), generator=gen), "eval"


def run(model, X, y, bn_mode, method, idx, **kw):
    return minibatch_sharpness(
        model,
        "ce",
        (X, y),
        batch_size=B,
        n_batches=K,
        rng=np.random.default_rng(0),
        tol=TOL,
        method=method,
        bn_mode=bn_mode,
        batch_indices=idx,
        **kw,
    )


@pytest.fixture
def tiny_budget(monkeypatch):
    """A chunk budget below one Lanczos basis: every chunk holds one batch."""
    monkeypatch.setitem(_batched.CHUNK_BYTES, "cpu", 1)


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_auto_is_plain_when_batches_share_a_chunk(name):
    model, X, y, bn_mode = problem(name)
    idx = _batched.sample_batches(len(y), B, K, np.random.default_rng(3))
    auto = run(model, X, y, bn_mode, "auto", idx)
    loop = run(model, X, y, bn_mode, "loop", idx)
    assert auto.method == "plain" and np.isfinite(auto.self_check_error)
    np.testing.assert_allclose(auto.lambda_max, loop.lambda_max, rtol=RTOL)
    np.testing.assert_allclose(
        auto.batch_sharpness_terms, loop.batch_sharpness_terms, rtol=RTOL
    )


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_auto_is_loop_when_chunks_hold_one_batch(name, tiny_budget):
    model, X, y, bn_mode = problem(name)
    idx = _batched.sample_batches(len(y), B, K, np.random.default_rng(3))
    auto = run(model, X, y, bn_mode, "auto", idx)
    plain = run(model, X, y, bn_mode, "plain", idx)
    assert auto.method == "loop" and plain.method == "plain"
    np.testing.assert_allclose(auto.lambda_max, plain.lambda_max, rtol=RTOL)


def test_auto_is_loop_for_one_batch_and_an_explicit_chunk_of_one():
    model, X, y, bn_mode = problem("cnn")
    idx = _batched.sample_batches(len(y), B, K, np.random.default_rng(3))
    assert run(model, X, y, bn_mode, "auto", idx[:1]).method == "loop"
    chunked = run(model, X, y, bn_mode, "auto", idx, max_batches_per_chunk=1)
    assert chunked.method == "loop"
    assert run(model, X, y, bn_mode, "auto", idx, max_batches_per_chunk=2).method == (
        "plain"
    )


def test_auto_matches_dense_hessian(tiny_budget):
    model, X, y, bn_mode = problem("cnn")
    idx = _batched.sample_batches(len(y), B, K, np.random.default_rng(3))
    auto = run(model, X, y, bn_mode, "auto", idx)
    for k, rows in enumerate(torch.as_tensor(idx)):
        H = minibatch_hessian(model, get_loss("ce"), X[rows], y[rows], bn_mode=bn_mode)
        dense = H.matmat_torch(torch.eye(H.dim, dtype=F64))
        lam = torch.linalg.eigvalsh((dense + dense.T) / 2)[-1].item()
        assert auto.lambda_max[k] == pytest.approx(lam, rel=RTOL)


def test_resolve_keeps_explicit_methods(tiny_budget):
    model, X, y, bn_mode = problem("cnn")
    setup = _batched.setup(model, bn_mode, X)
    assert _batched.resolve("plain", setup, X, B, n_batches=K) == "plain"
    assert _batched.resolve("auto", setup, X, B) == "plain"  # no K: no chunk rule
    assert _batched.resolve("auto", setup, X, B, n_batches=K) == "loop"
