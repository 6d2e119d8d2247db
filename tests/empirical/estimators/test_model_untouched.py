"""Measurements never change the caller's model; frozen parameters are excluded.

Frozen parameters (``requires_grad=False``) are constants: the reference is the
dense Hessian over the trainable parameters only (the principal submatrix of
the full Hessian), in float64, compared at rtol 1e-8 (Lanczos tol 1e-10).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from eoss.empirical.data.arrays import synthetic_classification
from eoss.empirical.estimators.full_batch import full_sharpness
from eoss.empirical.estimators.minibatch import batch_lambda_max, minibatch_sharpness
from eoss.empirical.estimators.ntk import ntk_lambda_max
from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.operators.batched import sample_batches
from eoss.empirical.operators.gauss_newton import GaussNewtonOperator
from eoss.empirical.operators.hessian import HessianOperator
from eoss.empirical.training.config import Cadence, TrackConfig
from eoss.empirical.training.tracking import Tracker, evaluate

F64 = torch.float64
TOL = 1e-10


def mlp(frozen: str):
    gen = torch.Generator().manual_seed(0)
    data = synthetic_classification(30, (12,), 3, gen=gen).to("cpu", F64)
    model = build_model(ModelSpec("mlp", width=8, depth=2), (12,), 3, gen, dtype=F64)
    model.get_parameter(frozen).requires_grad_(False)
    return model, data


def trainable_dense(model, loss, X, y):
    """Principal submatrix of the full dense Hessian on the trainable entries."""
    frozen = {k: p.requires_grad for k, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(True)
    try:
        H = HessianOperator(model, loss, X, y)
        full = torch.stack(
            [H.matvec_torch(e) for e in torch.eye(H.dim, dtype=F64)], dim=1
        )
    finally:
        for k, p in model.named_parameters():
            p.requires_grad_(frozen[k])
    keep = torch.cat(
        [
            torch.full((p.numel(),), frozen[k], dtype=torch.bool)
            for k, p in model.named_parameters()
        ]
    )
    return full[keep][:, keep]


@pytest.mark.parametrize(
    ("frozen", "methods"),
    [
        ("1.bias", ["auto", "reduced", "plain", "loop"]),
        ("1.weight", ["auto", "plain", "loop"]),
        ("5.weight", ["auto", "reduced", "plain", "loop"]),
    ],
)
def test_frozen_parameters_on_every_path(frozen, methods):
    model, data = mlp(frozen)
    loss = Loss("mse")
    P = sum(p.numel() for p in model.parameters() if p.requires_grad)
    idx = sample_batches(len(data), 5, 2, np.random.default_rng(1))
    dense = [trainable_dense(model, loss, data.X[r], data.y[r]) for r in idx]
    tops = [torch.linalg.eigvalsh(H)[-1].item() for H in dense]
    fs = full_sharpness(model, loss, data, rng=np.random.default_rng(0), tol=TOL)
    assert fs.eigenvector.shape == (P,)
    full = trainable_dense(model, loss, data.X, data.y)
    assert fs.fullbs == pytest.approx(torch.linalg.eigvalsh(full)[-1].item(), rel=1e-8)
    for m in methods:
        res = minibatch_sharpness(
            model,
            loss,
            data,
            batch_size=5,
            n_batches=2,
            rng=np.random.default_rng(2),
            tol=TOL,
            method=m,
            batch_indices=idx,
            full_vector=fs.eigenvector,
        )
        assert res.fallback_from is None
        np.testing.assert_allclose(res.lambda_max, tops, rtol=1e-8, err_msg=m)
        v = fs.eigenvector
        cv = [t - float(v @ H @ v) for t, H in zip(tops, dense, strict=True)]
        np.testing.assert_allclose(res.cv_terms, cv, rtol=1e-6, atol=1e-8 * tops[0])
    one = batch_lambda_max(
        model,
        loss,
        data.X[idx[0]],
        data.y[idx[0]],
        rng=np.random.default_rng(3),
        tol=TOL,
    )
    assert one.fullbs == pytest.approx(tops[0], rel=1e-8)
    assert one.eigenvector.shape == (P,)
    with pytest.raises(ValueError, match="range"):
        minibatch_sharpness(
            model,
            loss,
            data,
            batch_size=5,
            n_batches=2,
            rng=np.random.default_rng(0),
            method="range",
        )


def test_frozen_parameters_in_the_ntk():
    """G_B over the trainable parameters has the same top eigenvalue as Θ_B."""
    model, data = mlp("1.weight")
    loss = Loss("ce")
    idx = sample_batches(len(data), 4, 2, np.random.default_rng(0))
    res = ntk_lambda_max(
        model,
        loss,
        data,
        batch_size=4,
        n_batches=2,
        rng=np.random.default_rng(1),
        tol=TOL,
        batch_indices=idx,
    )
    for k, rows in enumerate(idx):
        G = GaussNewtonOperator(model, loss, data.X[rows], data.y[rows])
        dense = torch.stack(
            [G.matvec_torch(e) for e in torch.eye(G.dim, dtype=F64)], dim=1
        )
        assert G.dim == sum(p.numel() for p in model.parameters() if p.requires_grad)
        top = torch.linalg.eigvalsh((dense + dense.T) / 2)[-1].item()
        assert res.lambda_max[k] == pytest.approx(top, rel=1e-8)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(12, 6),
            nn.BatchNorm1d(6),
            nn.Tanh(),
            nn.Dropout(0.5),
            nn.Linear(6, 3),
        )

    def forward(self, x):
        return self.net(x)


def test_tracker_keeps_every_modules_own_mode():
    gen = torch.Generator().manual_seed(0)
    data = synthetic_classification(24, (12,), 3, gen=gen).to("cpu", F64)
    model = BNNet().to(F64).train()
    model.net[2].eval()  # the user keeps BatchNorm frozen in eval mode
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    evaluate(model, Loss("ce"), data, chunk=7)
    assert [m.training for m in model.modules()] == modes
    on = Cadence(every=1)
    cfg = TrackConfig(
        eval=on,
        fullbs=on,
        minibs=on,
        step_sharpness=on,
        ntk=on,
        n_batches=2,
        minibs_batch_size=4,
        tol=1e-4,
        bn_mode="train",
    )
    tracker = Tracker(
        cfg, total_steps=3, loss=Loss("ce"), train=data, test=data, seed=0
    )
    rows = tracker.measure(0, model, batch_size=4, step_batch=(data.X[:4], data.y[:4]))
    assert {r.table for r in rows} == {
        "eval",
        "fullbs",
        "minibs",
        "step_sharpness",
        "ntk",
    }
    assert [m.training for m in model.modules()] == modes
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
