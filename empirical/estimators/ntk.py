"""The averaged mini-batch NTK λ_max: the Gauss-Newton route to mini-batch sharpness."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.func import functional_call, vjp, vmap

from eoss.empirical.data.adapters import as_dataset
from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.losses import Loss, PerSampleFn, get_loss
from eoss.empirical.operators import batched as _batched
from eoss.empirical.operators.gauss_newton import output_hessians, sqrt_psd
from eoss.empirical.operators.kernels import second_order_kernels
from eoss.empirical.operators.params import BNMode, cast_inputs
from eoss.empirical.operators.span_reduction import reduce_batches
from eoss.empirical.operators.stacked import stacked_targets
from eoss.empirical.solvers.lanczos import lanczos

NTK_MIN_ITER = 20  # as for Hessian mini-batches (eoss.empirical.estimators.minibatch)


@dataclass(frozen=True)
class NTKSharpness:
    """λ_max of the averaged mini-batch NTK Gram matrix over K batches.

    Attributes:
        batch_size: b.
        batch_indices: (K, b) rows of the data set.
        lambda_max: (K,) λ_max(Θ_B) = λ_max(G_B).
        residuals: (K,) true residuals in the bC-dimensional Gram space.
        converged: (K,) residual ≤ tol·λ.
        n_matvecs: Gram products per batch (each one vjp + one jvp).
        seconds: Wall time.
    """

    batch_size: int
    batch_indices: NDArray[np.int64]
    lambda_max: NDArray[np.float64]
    residuals: NDArray[np.float64]
    converged: NDArray[np.bool_]
    n_matvecs: int
    seconds: float

    @property
    def ntk_lambda_max(self) -> float:
        """Mean over batches of λ_max(Θ_B)."""
        return _batched.mean_se(self.lambda_max)[0]

    @property
    def ntk_lambda_max_se(self) -> float:
        """Standard error std(ddof=1)/√K of :attr:`ntk_lambda_max`."""
        return _batched.mean_se(self.lambda_max)[1]


class StackedNTKGram:
    r"""Gram matrices :math:`\Theta_{B_k}` of K batches as one batched operator.

    Args:
        setup: Prepared model (see :func:`eoss.empirical.operators.batched.setup`).
        loss: Per-sample loss.
        Xs: (K, b, ...) inputs.
        ys: (K, b) labels or (K, b, C) targets.
        reduced: Use the span-reduced parameterisation (same Gram matrix).
    """

    @second_order_kernels()
    def __init__(self, setup, loss: Loss, Xs: Tensor, ys: Tensor, reduced: bool):
        K, b = Xs.shape[:2]
        if reduced:
            red = reduce_batches(setup.module, setup.params, Xs)
            params, inputs = red.params, red.Z
        else:
            params = {k: t.expand(K, *t.shape) for k, t in setup.params.items()}
            inputs = Xs

        def f(p: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(setup.module, (p, setup.buffers), (x,))

        out, self._vjp = vjp(lambda P: vmap(f)(P, inputs), params)  # (K, b, C)
        # u -> J^T u is linear, so its own vjp is w -> J w: a second reusable graph
        # (a jvp would rebuild the forward pass each product, and cannot take the
        # broadcast parameter views as primals).
        _, self._jvp = vjp(lambda u: self._vjp(u)[0], torch.zeros_like(out))
        T = stacked_targets(loss, ys, out.shape[-1], out.dtype)
        lam = output_hessians(loss, out.flatten(0, 1), T.flatten(0, 1))
        self._S = sqrt_psd(lam).reshape(K, b, *lam.shape[1:]) / np.sqrt(b)
        self.K, self.dim = K, b * out.shape[-1]

    def matvec(self, U: Tensor) -> Tensor:
        """Row k: Θ_{B_k} U[k].

        Args:
            U: (K, bC).

        Returns:
            (K, bC).
        """
        with torch.no_grad():
            u = torch.einsum("kbij,kbj->kbi", self._S, U.reshape(self._S.shape[:3]))
            Jw = self._jvp(self._vjp(u)[0])[0]
            return torch.einsum("kbij,kbj->kbi", self._S, Jw).reshape(U.shape)


def ntk_lambda_max(
    model: nn.Module,
    loss: Loss | str | PerSampleFn,
    data: ArrayDataset,
    *,
    batch_size: int,
    n_batches: int,
    rng: np.random.Generator,
    tol: float = 1e-3,
    min_iter: int = NTK_MIN_ITER,
    max_iter: int = 200,
    max_batches_per_chunk: int | None = None,
    bn_mode: BNMode = "eval",
    batch_indices: NDArray[np.int64] | None = None,
    reduce: bool = True,
) -> NTKSharpness:
    r"""Per-batch λ_max of the averaged mini-batch NTK / Gauss–Newton Gram matrix.

    Args:
        model: Network (not modified); Jacobians are over its trainable
            parameters (frozen ones are constants).
        loss: Per-sample loss convention, loss name or per-sample callable.
        data: Training set.
        batch_size: b.
        n_batches: K.
        rng: Draws the batches (unless ``batch_indices`` is given; same sampling
            as :func:`eoss.empirical.estimators.minibatch.minibatch_sharpness`), then
            the Lanczos
            start vectors.
        tol: Relative residual target.
        min_iter: Lanczos step floor.
        max_iter: Lanczos step cap.
        max_batches_per_chunk: Batches solved together (default: all K).
        bn_mode: BatchNorm regime.
        batch_indices: (K, b) rows to use instead of sampling.
        reduce: Use the span reduction when the architecture allows it.

    Returns:
        The :class:`NTKSharpness`.
    """
    t0 = time.perf_counter()
    loss = get_loss(loss)
    data = as_dataset(data)  # (X, y), torch Dataset, ArrayDataset
    idx = _batched.batch_rows(data, batch_size, n_batches, rng, batch_indices)
    setup = _batched.setup(model, bn_mode, data.X)
    reduced = reduce and setup.reducible
    chunk = max_batches_per_chunk or len(idx)
    lam, res, conv, n_mv = [], [], [], 0
    for s in range(0, len(idx), chunk):
        rows = torch.as_tensor(idx[s : s + chunk])
        Xs = cast_inputs(data.X[rows], setup.like)
        ys = data.y[rows].to(setup.like.device)
        op = StackedNTKGram(setup, loss, Xs, ys, reduced)
        start = _batched.normal(rng, (op.K, op.dim), setup.like)
        out = lanczos(op.matvec, start, tol=tol, min_iter=min_iter, max_iter=max_iter)
        lam.append(out.eigenvalues[:, 0])
        res.append(out.residuals[:, 0])
        conv.append(out.converged[:, 0])
        n_mv = max(n_mv, out.n_matvecs)
    return NTKSharpness(
        batch_size=batch_size,
        batch_indices=idx,
        lambda_max=torch.cat(lam).numpy(),
        residuals=torch.cat(res).numpy(),
        converged=torch.cat(conv).numpy(),
        n_matvecs=n_mv,
        seconds=time.perf_counter() - t0,
    )
