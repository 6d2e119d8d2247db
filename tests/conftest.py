"""Shared fixtures and test configuration.

OpenMP's spin-waiting makes small torch ops 10-60x slower when the two CPU cores
are shared, so a passive wait policy is set before torch is first imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed numpy generator."""
    return np.random.default_rng(0)


@pytest.fixture
def torch_gen() -> torch.Generator:
    """A fixed CPU torch generator."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(0)
    return gen


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Every available device (cpu, plus cuda when present)."""
    if request.param == "cuda":
        request.applymarker(pytest.mark.gpu)
    return torch.device(request.param)


def cifar_root() -> Path | None:
    """The CIFAR-10 data root from ``EOSS_DATA_ROOT``, or None when unusable."""
    root = os.environ.get("EOSS_DATA_ROOT")
    if not root:
        return None
    path = Path(root)
    for cand in (path, path / "cifar-10-batches-py"):
        if (cand / "test_batch").is_file():
            return path
    return None


@pytest.fixture
def cifar_data_root() -> Path:
    """The CIFAR-10 data root; skips the test cleanly when it is not available."""
    root = cifar_root()
    if root is None:
        pytest.skip(
            "CIFAR-10 not available: set EOSS_DATA_ROOT "
            "to a folder holding cifar-10-batches-py"
        )
    return root
