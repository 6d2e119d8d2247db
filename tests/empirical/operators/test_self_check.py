"""The batched operators' self-check: passes on exact paths, catches broken ones.

A broken batched operator is made two ways: by reintroducing the vmap defect of
fused layer norm (the decomposition switched off) and by scaling the batched
products by 1 + 1e-3. Either must be caught, logged, recorded in the result, and
answered by the exact ``loop`` path (checked against the dense Hessian at rtol
1e-8, as in tests/empirical/estimators/test_general_models.py).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from eoss.empirical.data.arrays import ArrayDataset, synthetic_classification
from eoss.empirical.estimators.minibatch import batch_lambda_max, minibatch_sharpness
from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators import params as params_module
from eoss.empirical.operators.hessian import HessianOperator
from eoss.empirical.operators.self_check import product_rtol, relative_error
from eoss.empirical.operators.stacked import StackedBatchHessian

F64 = torch.float64
TOL = 1e-10


@pytest.fixture(scope="module")
def ln_case():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(6, 5), nn.LayerNorm(5), nn.Tanh(), nn.Linear(5, 3)
    ).to(F64)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=F64))
    X = torch.randn(20, 6, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (20,), generator=gen)
    return model, ArrayDataset(X, y, "ln", 3)


def dense_tops(model, loss, data, idx):
    tops = []
    for rows in torch.as_tensor(idx):
        H = HessianOperator(model, loss, data.X[rows], data.y[rows])
        eye = torch.eye(H.dim, dtype=F64)  # column by column: no vmap anywhere
        dense = torch.stack([H.matvec_torch(e) for e in eye], dim=1)
        tops.append(torch.linalg.eigvalsh(dense)[-1].item())
    return np.array(tops)


def run(model, data, method="plain", **kw):
    return minibatch_sharpness(
        model,
        Loss("ce"),
        data,
        batch_size=5,
        n_batches=3,
        rng=np.random.default_rng(0),
        tol=TOL,
        method=method,
        **kw,
    )


def test_tolerance_and_relative_error():
    assert product_rtol(F64) == pytest.approx(np.sqrt(np.finfo(np.float64).eps))
    assert product_rtol(torch.float32) == pytest.approx(3.4527e-4, rel=1e-4)
    z = torch.zeros(3)
    assert relative_error(z, z) == 0.0
    assert relative_error(torch.ones(3), z) == float("inf")
    assert relative_error(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])) == 1.0


@pytest.mark.parametrize("method", ["plain", "reduced"])
def test_exact_paths_pass(ln_case, method):
    model, data = ln_case
    res = run(model, data, method)
    assert res.method == method and res.fallback_from is None
    assert 0.0 <= res.self_check_error < 1e-13
    np.testing.assert_allclose(
        res.lambda_max,
        dense_tops(model, Loss("ce"), data, res.batch_indices),
        rtol=1e-8,
    )
    assert np.isnan(run(model, data, "loop").self_check_error)


def test_range_path_passes():
    gen = torch.Generator().manual_seed(1)
    data = synthetic_classification(30, (12,), 3, gen=gen).to("cpu", F64)
    model = build_model(ModelSpec("mlp", width=8, depth=2), (12,), 3, gen, dtype=F64)
    res = run(model, data, "range")
    assert res.method == "range" and res.self_check_error < 1e-13


def test_vmap_defect_is_caught_and_answered_by_loop(ln_case, monkeypatch, caplog):
    model, data = ln_case
    monkeypatch.setattr(params_module, "vmap_safe_norms", lambda module: module)
    # without the check the defect goes through silently: wrong λ_max
    broken = run(model, data, self_check=False)
    dense = dense_tops(model, Loss("ce"), data, broken.batch_indices)
    assert broken.method == "plain"
    assert np.max(np.abs(broken.lambda_max / dense - 1)) > 1e-6
    # with it: caught, logged, recorded, and exact
    with caplog.at_level(logging.WARNING):
        res = run(model, data)
    assert res.method == "loop" and res.fallback_from == "plain"
    assert res.self_check_error > product_rtol(F64)
    assert "self-check failed" in caplog.text
    np.testing.assert_allclose(res.lambda_max, dense, rtol=1e-8)


def test_scaled_products_are_caught(ln_case, monkeypatch):
    model, data = ln_case
    matvec = StackedBatchHessian.matvec

    def off(self, V):
        return (1 + 1e-3) * matvec(self, V)

    monkeypatch.setattr(StackedBatchHessian, "matvec", off)
    res = run(model, data, "reduced")
    assert res.method == "loop" and res.fallback_from == "reduced"
    assert res.self_check_error == pytest.approx(1e-3, rel=1e-6)
    np.testing.assert_allclose(
        res.lambda_max,
        dense_tops(model, Loss("ce"), data, res.batch_indices),
        rtol=1e-8,
    )
    X, y = data.X[:5], data.y[:5]
    one = batch_lambda_max(model, "ce", X, y, rng=np.random.default_rng(0), tol=TOL)
    assert one.method == "loop" and one.fallback_from == "reduced"
    top = dense_tops(model, Loss("ce"), data, np.arange(5)[None])[0]
    assert one.fullbs == pytest.approx(top, rel=1e-8)
