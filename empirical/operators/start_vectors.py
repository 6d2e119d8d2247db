"""Lanczos start vectors: cold (random) and warm (previous vector plus noise)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# Relative size of the random part of a warm start: large enough that a new top
# eigenvector (a crossing since the previous measurement) is found as fast as
# from a cold start.
WARM_NOISE = 0.5


def normal(rng: np.random.Generator, shape, like: Tensor) -> Tensor:
    """Standard normal draws from ``rng`` as a tensor like ``like``.

    Drawn directly in float32 for float32 tensors (half the cost of float64 draws,
    which matters at 1.8 M entries per start vector).
    """
    dtype = np.float32 if like.dtype == torch.float32 else np.float64
    return torch.from_numpy(rng.standard_normal(shape, dtype=dtype)).to(like)


def cold_start(rng: np.random.Generator, like: Tensor) -> Tensor:
    """Random start vector(s) shaped like ``like`` ((n,) or (K, n)).

    Purely random on purpose: the chance that a solve stops on the second
    eigenvalue is then governed by the random component along the top
    eigenvector alone (docs/spectral-core.md, "False convergence"). Mixing in the
    loss gradient (which overlaps the top eigenvector by ~0.3 typically) saved ~1
    step in 20 but did not lower that chance: on batches where the gradient is
    nearly orthogonal to the top eigenvector it points at the second one instead.
    """
    return normal(rng, tuple(like.shape), like)


def warm(v0: Tensor, rng: np.random.Generator) -> Tensor:
    """v0/‖v0‖ plus WARM_NOISE times a random unit vector (per row)."""
    v = v0 / v0.norm(dim=-1, keepdim=True)
    xi = normal(rng, tuple(v.shape), v)
    return v + WARM_NOISE * xi / xi.norm(dim=-1, keepdim=True)
