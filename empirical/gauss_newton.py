r"""Gauss–Newton matrix and the mini-batch NTK Gram route to its top eigenvalue.

With per-sample output Jacobians :math:`J_n = \partial f_\theta(x_n)/\partial\theta`
(C × P) and output-space loss curvatures :math:`\Lambda_n = \nabla^2_f
\ell(f, y_n)` (C × C, positive semi-definite for every loss in
:mod:`empirical.losses`: :math:`2I` for ``mse``, :math:`I` for ``mse_half``,
:math:`\tfrac2C I` for ``mse_mean``, :math:`\operatorname{diag}(p) - pp^\top` for
``ce``),

.. math::

    G = \frac1N \sum_n J_n^\top \Lambda_n J_n
      = \frac1N J^\top \Lambda J \quad (P \times P),
    \qquad
    H = G + \frac1N \sum_n \sum_c \partial_{f_c}\ell_n \, \nabla^2_\theta f_{n,c}.

For a batch of size b, :math:`G_B = \frac1b J_B^\top \Lambda_B J_B` and the
*averaged mini-batch NTK Gram matrix*

.. math::

    \Theta_B = \frac1b \Lambda_B^{1/2} J_B J_B^\top \Lambda_B^{1/2}
    \quad (bC \times bC)

have the same nonzero eigenvalues (:math:`MM^\top` and :math:`M^\top M` with
:math:`M = b^{-1/2}\Lambda_B^{1/2} J_B`). The Gram route runs Lanczos in the
bC-dimensional output space with matrix-free products
:math:`u \mapsto \frac1b \Lambda^{1/2} J (J^\top (\Lambda^{1/2} u))` (one vjp and
one jvp; per-sample Jacobians are never materialised). For ``linear`` and
``mlp`` models it works in the span-reduced parameterisation, which leaves
:math:`J_B J_B^\top` unchanged (:math:`J = \tilde J A`, :math:`AA^\top = I`).

For a model linear in θ (the ``linear`` model) under a squared loss, G = H.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.func import functional_call, hessian, jvp, vjp, vmap

from empirical import _batched
from empirical._params import BNMode
from empirical._stacked import stacked_targets
from empirical.data import ArrayDataset
from empirical.hessian import HessianOperator
from empirical.lanczos import lanczos
from empirical.losses import Loss
from empirical.reduction import reduce_batches

NTK_MIN_ITER = 20  # as for Hessian mini-batches (empirical.sharpness)


def output_hessians(loss: Loss, outputs: Tensor, targets: Tensor) -> Tensor:
    r"""Per-sample output curvatures :math:`\Lambda_n = \nabla_f^2 \ell(f_n, y_n)`.

    Args:
        loss: Per-sample loss convention.
        outputs: (n, C) network outputs.
        targets: Vmappable targets (float (n, C) for squared errors, labels for ce).

    Returns:
        (n, C, C) symmetric positive semi-definite matrices.
    """

    def one(f: Tensor, t: Tensor) -> Tensor:
        return loss.per_sample(f.unsqueeze(0), t.unsqueeze(0))[0]

    return vmap(hessian(one))(outputs.detach(), targets)


def _sqrt_psd(L: Tensor) -> Tensor:
    w, V = torch.linalg.eigh(L)
    return (V * w.clamp_min(0).sqrt().unsqueeze(-2)) @ V.transpose(-1, -2)


class GaussNewtonOperator(HessianOperator):
    r"""Gauss–Newton matrix :math:`G = \frac1N\sum_n J_n^\top \Lambda_n J_n`.

    Same constructor, chunking, weighting and guarantees as
    :class:`empirical.hessian.HessianOperator`; each product is one jvp (J v)
    and one backward through the chunk's retained output graph (Jᵀ u).
    """

    def _build(self, X: Tensor, y: Tensor) -> tuple[dict[str, Tensor], Callable]:
        def outputs(p: dict[str, Tensor]) -> Tensor:
            return functional_call(self._module, (p, self.buffers), (X,))

        out, out_vjp = vjp(outputs, self.params)
        t = stacked_targets(self.loss, y.unsqueeze(0), out.shape[1], out.dtype)[0]
        lam = output_hessians(self.loss, out, t) / self.n_total

        def gn_vjp(v: dict[str, Tensor]) -> tuple[dict[str, Tensor]]:
            Jv = jvp(outputs, (self.params,), (v,))[1]
            return out_vjp(torch.einsum("nij,nj->ni", lam, Jv))

        with torch.no_grad():
            g = out_vjp(torch.func.grad(self._sum_loss)(out, y))[0]
        return g, gn_vjp

    def _sum_loss(self, out: Tensor, y: Tensor) -> Tensor:
        return self.loss.mean(out, y, self.n_total)


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
        setup: Prepared model (see :func:`empirical._batched.setup`).
        loss: Per-sample loss.
        Xs: (K, b, ...) inputs.
        ys: (K, b) labels or (K, b, C) targets.
        reduced: Use the span-reduced parameterisation (same Gram matrix).
    """

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
        self._S = _sqrt_psd(lam).reshape(K, b, *lam.shape[1:]) / np.sqrt(b)
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
    loss: Loss,
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
        model: Network (not modified).
        loss: Per-sample loss convention.
        data: Training set.
        batch_size: b.
        n_batches: K.
        rng: Draws the batches (unless ``batch_indices`` is given; same sampling
            as :func:`empirical.sharpness.minibatch_sharpness`), then the Lanczos
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
    idx = _batched.batch_rows(data, batch_size, n_batches, rng, batch_indices)
    setup = _batched.setup(model, bn_mode, data.X)
    reduced = reduce and setup.reducible
    chunk = max_batches_per_chunk or len(idx)
    lam, res, conv, n_mv = [], [], [], 0
    for s in range(0, len(idx), chunk):
        rows = torch.as_tensor(idx[s : s + chunk])
        Xs, ys = data.X[rows].to(setup.like), data.y[rows].to(setup.like.device)
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
