"""TF32 is off during Hessian measurements and the flags are on record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eoss.analysis.records import env_info
from eoss.empirical.estimators.full_batch import full_sharpness
from eoss.empirical.precision import exact_float32, precision_flags


def test_exact_float32_switches_tf32_off_and_restores_it():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        matmul.allow_tf32 = cudnn.allow_tf32 = True
        with exact_float32():
            assert not matmul.allow_tf32 and not cudnn.allow_tf32
            assert precision_flags()["cudnn_allow_tf32"] is False
        assert matmul.allow_tf32 and cudnn.allow_tf32
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_env_records_precision_flags():
    flags = env_info(device="cpu")["precision"]
    assert flags["float32_matmul_precision"] in ("highest", "high", "medium")
    assert isinstance(flags["deterministic_algorithms"], bool)


@pytest.mark.gpu
def test_fullbs_on_cuda_with_tf32_requested_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(512, 64, generator=gen)
    y = torch.randint(0, 10, (512,), generator=gen)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    cpu = full_sharpness(model, "mse", (X, y), rng=np.random.default_rng(0), tol=1e-5)
    torch.backends.cuda.matmul.allow_tf32 = True  # the measurement must undo this
    try:
        gpu = full_sharpness(
            model.cuda(), "mse", (X, y), rng=np.random.default_rng(0), tol=1e-5
        )
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    assert gpu.fullbs == pytest.approx(cpu.fullbs, rel=1e-4)
