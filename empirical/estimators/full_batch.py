"""FullBS: λ_max of the full-batch Hessian, by certified Lanczos.

The Hessian is taken with respect to the trainable parameters only: frozen ones
(``requires_grad=False``) are constants and are not part of P or of the
eigenvector. Inputs keep their dtype when they are not floating (token ids).
With a ``process_group`` (``torchrun``) each rank takes a contiguous shard of the
rows and the products are summed over the ranks (:mod:`eoss.empirical.distributed`).
TF32 is off during the measurement (:mod:`eoss.empirical.precision`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from eoss.empirical.data.adapters import as_dataset
from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.distributed import rank_and_size, shard_range
from eoss.empirical.losses import Loss, PerSampleFn, get_loss
from eoss.empirical.operators import batched as _batched
from eoss.empirical.operators.hessian import HessianOperator
from eoss.empirical.operators.params import BNMode
from eoss.empirical.precision import measured_in_float32
from eoss.empirical.solvers.lanczos import lanczos

# Lanczos step floors. A residual stop certifies *an* eigenvalue; when the random
# start has a tiny component along the top eigenvector the solve can stop on the
# second one (docs/spectral-core.md). Measured on mini-batches of the 3072-512-512-10
# MLP (λ2/λ1 up to 0.99): 2 of 512 random starts fooled with a floor of 15 steps,
# 0 of 512 with 20 (+18% steps).
FULL_MIN_ITER = 15


WARM_MIN_ITER = 10


@dataclass(frozen=True)
class FullSharpness:
    """Top Hessian eigenpair of one loss (full batch or one mini-batch).

    Attributes:
        fullbs: λ_max (largest algebraic eigenvalue).
        residual: True residual ‖H v − λ v‖.
        converged: Whether residual ≤ tol·|λ|.
        n_matvecs: Hessian-vector products spent.
        seconds: Wall time.
        eigenvector: (P,) unit top eigenvector, or None when λ_max = 0 comes from
            the null space of a reduced batch (then any null vector would do).
        method: For one mini-batch
            (:func:`eoss.empirical.estimators.minibatch.batch_lambda_max`), the
            path used (``range``, ``reduced``, ``plain`` or ``loop``); None for
            the full-batch operator.
        self_check_error: Relative error of the batched path's product against
            the exact operator (NaN when no check ran).
        fallback_from: The batched path whose self-check failed (then ``method``
            is ``loop``), or None.
    """

    fullbs: float
    residual: float
    converged: bool
    n_matvecs: int
    seconds: float
    eigenvector: Tensor | None
    method: str | None = None
    self_check_error: float = float("nan")
    fallback_from: str | None = None


@measured_in_float32
def full_sharpness(
    model: nn.Module,
    loss: Loss | str | PerSampleFn,
    data: ArrayDataset,
    *,
    rng: np.random.Generator,
    chunk_size: int = 1024,
    tol: float = 1e-3,
    v0: Tensor | None = None,
    bn_mode: BNMode = "eval",
    min_iter: int | None = None,
    max_iter: int = 200,
    retain_graphs: bool = True,
    process_group: Any | None = None,
) -> FullSharpness:
    r"""FullBS, :math:`\lambda_{\max}(\nabla^2 L)` over every row of ``data``.

    Args:
        model: Network (not modified); the Hessian is over its trainable
            parameters.
        loss: Per-sample loss convention, loss name or per-sample callable.
        data: The whole training set (moved to the parameters' device/dtype).
        rng: Draws the Lanczos start vector (and the warm-start noise).
        chunk_size: Rows per chunk of the Hessian-vector product.
        tol: Relative residual target.
        v0: Warm start, e.g. the previous measurement's eigenvector (P,).
        bn_mode: BatchNorm regime (see
        :class:`eoss.empirical.operators.hessian.HessianOperator`).
        min_iter: Lanczos step floor (default 15 cold, 10 warm).
        max_iter: Lanczos step cap.
        retain_graphs: Keep per-chunk gradient graphs (faster, memory ∝ N).
        process_group: ``torch.distributed`` group to split the rows over (every
            rank passes the same data, model and seed); None: one process.

    Returns:
        The :class:`FullSharpness`.
    """
    t0 = time.perf_counter()
    loss = get_loss(loss)
    data = as_dataset(data)  # (X, y), torch Dataset, ArrayDataset
    lo, hi = shard_range(len(data), *rank_and_size(process_group))
    H = HessianOperator(
        model,
        loss,
        data.X[lo:hi],
        data.y[lo:hi],
        chunk_size=chunk_size,
        n_total=len(data),
        bn_mode=bn_mode,
        retain_graphs=retain_graphs,
        process_group=process_group,
    )
    like = torch.empty(0, dtype=H.torch_dtype, device=H.device)
    if v0 is None:
        start = _batched.cold_start(rng, like.new_empty(H.dim))
    else:
        start = _batched.warm(v0.to(like), rng)
    floor = min_iter or (FULL_MIN_ITER if v0 is None else WARM_MIN_ITER)
    res = lanczos(
        H.matvec_torch,
        start,
        which="LA",
        tol=tol,
        min_iter=floor,
        max_iter=max_iter,
        return_vectors=True,
    )
    assert res.eigenvectors is not None
    return FullSharpness(
        fullbs=float(res.eigenvalues[0]),
        residual=float(res.residuals[0]),
        converged=bool(res.converged[0]),
        n_matvecs=res.n_matvecs,
        seconds=time.perf_counter() - t0,
        eigenvector=res.eigenvectors[:, 0],
    )
