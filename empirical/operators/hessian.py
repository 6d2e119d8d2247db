r"""The Hessian of the empirical risk as a linear operator.

.. math::

    L(\theta) = \frac{1}{N} \sum_{n=1}^{N} \ell(f_\theta(x_n), y_n), \qquad
    H = \nabla^2_\theta L(\theta) \in \mathbb{R}^{P \times P}.

The rows (X, y) are processed in chunks of at most ``chunk_size``; chunk ``c``
contributes :math:`\frac{1}{N}\sum_{n \in c} \nabla^2 \ell_n`, so the operator is
exact for ragged chunks (weights by data points, never by chunks). A mini-batch
operator is the same object bound to one fixed batch (N = b).

Hessian-vector products are reverse-over-reverse: for every chunk the gradient
graph is built once with :func:`torch.func.vjp` of :func:`torch.func.grad`, and
each product is one more backward pass through it (about 1.2 gradients per HVP on
CPU, against 2–3 for a rebuilt double backward or forward-over-reverse; see
``/work/shared/PERF-NOTES.md``). Keeping those graphs costs memory proportional to
N (``retain_graphs=True``, the default); ``retain_graphs=False`` bounds memory by
one chunk and rebuilds each chunk's graph for every product (≈ 2× slower).

The operator never mutates the caller's model: it works on detached copies of the
parameters and buffers and on a private copy of the module whose BatchNorm layers
follow ``bn_mode`` (see :func:`eoss.empirical.operators.params.private_module`).

Data-parallel: with ``process_group`` every product, the gradient and the loss
are summed over the group's ranks (one ``all_reduce`` each); each rank passes its
shard of the rows and the global ``n_total`` (:mod:`eoss.empirical.distributed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.func import functional_call, grad, vjp, vmap

from eoss.empirical.distributed import all_reduce_sum
from eoss.empirical.losses import Loss, PerSampleFn, get_loss
from eoss.empirical.operators.kernels import second_order_kernels
from eoss.empirical.operators.params import (
    BNMode,
    cast_inputs,
    detached_buffers,
    detached_params,
    flatten,
    infer_device,
    infer_dtype,
    num_params,
    private_module,
    unflatten,
)

_TORCH_TO_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}


class HessianOperator(scipy.sparse.linalg.LinearOperator):
    r"""Hessian of :math:`L(\theta) = \frac1N \sum_n \ell(f_\theta(x_n), y_n)`.

    Rows are chunked and each chunk is weighted by its number of rows, so the
    product is independent of ``chunk_size`` up to rounding. Shape (P, P), dtype
    of the parameters; both are known without a probe matvec.

    Example (closed form: a linear model under ``mse`` has
    :math:`H = \frac{2}{N} I_C \otimes X^\top X` in torch's row-major (C, d)
    weight layout):

    >>> import torch
    >>> from eoss.empirical.losses import Loss
    >>> X = torch.randn(6, 3, dtype=torch.float64)
    >>> y = torch.tensor([0, 1, 0, 1, 1, 0])
    >>> model = torch.nn.Linear(3, 2, bias=False).double()
    >>> H = HessianOperator(model, Loss("mse"), X, y)
    >>> dense = H.matmat_torch(torch.eye(6, dtype=torch.float64))
    >>> ref = torch.kron(torch.eye(2, dtype=torch.float64), 2 * X.T @ X / 6)
    >>> bool(torch.allclose(dense, ref, rtol=1e-12, atol=1e-12))
    True

    Args:
        model: Network evaluated as ``model(X)`` with outputs (n, C). Not modified.
        loss: Per-sample loss convention, loss name or per-sample callable
            (:func:`eoss.empirical.losses.get_loss`).
        X: Inputs (n, ...), moved to the parameters' device; floating inputs are
            cast to their dtype, integer ones (token ids) keep theirs.
        y: Integer labels (n,) or float targets.
        chunk_size: Rows per chunk (None: all rows in one chunk).
        n_total: The N of the 1/N weight (default: the number of rows of X); pass
            a larger N to build one term of a sum over data shards.
        bn_mode: BatchNorm regime, ``"eval"`` (running statistics) or ``"train"``
            (statistics of each chunk; then the operator depends on chunking).
        params: Linearisation point (default: detached copies of the model's
            trainable parameters; frozen ones, ``requires_grad=False``, are
            constants and not part of the Hessian). Keys must be parameter names
            of ``model``.
        retain_graphs: Keep each chunk's gradient graph between products.
        decompose_norms: Evaluate through vmap-safe normalisation layers
            (:func:`eoss.empirical.operators.params.private_module`); False keeps
            the fused kernels, exact for :meth:`matvec_torch` but not for the
            vmapped :meth:`matmat_torch`.
        process_group: A :mod:`torch.distributed` group whose ranks each hold a
            shard of the rows (built with the global ``n_total``); products are
            then summed over it. None: this process holds every row.

    Raises:
        ValueError: On empty data, mismatched rows or a bad ``chunk_size``.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Loss | str | PerSampleFn,
        X: Tensor,
        y: Tensor,
        *,
        chunk_size: int | None = None,
        n_total: int | None = None,
        bn_mode: BNMode = "eval",
        params: dict[str, Tensor] | None = None,
        retain_graphs: bool = True,
        decompose_norms: bool = True,
        process_group: Any | None = None,
    ) -> None:
        if X.shape[0] == 0 or X.shape[0] != y.shape[0]:
            raise ValueError(
                f"need matching non-empty rows, got X {tuple(X.shape)}, "
                f"y {tuple(y.shape)}"
            )
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.params = params if params is not None else detached_params(model)
        self.buffers = detached_buffers(model)
        self.device = infer_device(self.params)
        self.torch_dtype = infer_dtype(self.params)
        self.loss = get_loss(loss)
        self.n_rows = int(X.shape[0])
        self.n_total = self.n_rows if n_total is None else int(n_total)
        self.dim = num_params(self.params)
        self.retain_graphs = retain_graphs
        self.process_group = process_group
        self._module = private_module(model, bn_mode, decompose_norms=decompose_norms)
        X = cast_inputs(X, torch.empty(0, dtype=self.torch_dtype, device=self.device))
        y = y.to(self.device)
        if y.is_floating_point():
            y = y.to(self.torch_dtype)
        size = chunk_size or self.n_rows
        self._chunks = [
            (X[s : s + size], y[s : s + size]) for s in range(0, self.n_rows, size)
        ]
        self._vjps: list[Callable] | None = None
        self._grad: Tensor | None = None
        self.n_matvecs = 0
        dtype = np.dtype(_TORCH_TO_NUMPY.get(self.torch_dtype, np.float64))
        super().__init__(dtype=dtype, shape=(self.dim, self.dim))

    # ------------------------------------------------------------------ loss
    @second_order_kernels()
    def chunk_loss(self, params: dict[str, Tensor], X: Tensor, y: Tensor) -> Tensor:
        r"""The chunk's share :math:`\frac1N \sum_{n \in \text{chunk}} \ell_n`.

        Args:
            params: Parameters (a dictionary like :attr:`params`).
            X: Chunk inputs.
            y: Chunk labels or targets.

        Returns:
            Scalar tensor.
        """
        out = functional_call(self._module, (params, self.buffers), (X,))
        return self.loss.mean(out, y, self.n_total)

    @second_order_kernels()
    def _build(self, X: Tensor, y: Tensor) -> tuple[dict[str, Tensor], Callable]:
        g, fn = vjp(lambda p: grad(self.chunk_loss)(p, X, y), self.params)
        return g, fn

    def _chunk_vjps(self) -> list[Callable] | None:
        if self._vjps is None and self.retain_graphs:
            built = [self._build(X, y) for X, y in self._chunks]
            self._grad = all_reduce_sum(
                sum(flatten(g) for g, _ in built), self.process_group
            )
            self._vjps = [fn for _, fn in built]
        return self._vjps

    # -------------------------------------------------------------- products
    @second_order_kernels()
    def _apply(self, v: dict[str, Tensor], batched: bool) -> Tensor:
        fns = self._chunk_vjps()
        total: Tensor | None = None
        for i, (X, y) in enumerate(self._chunks):
            fn = fns[i] if fns is not None else self._build(X, y)[1]
            out = (vmap(fn) if batched else fn)(v)[0]
            part = flatten(out, batch_dims=1 if batched else 0)
            total = part if total is None else total + part
        assert total is not None
        return all_reduce_sum(total, self.process_group)

    def matvec_torch(self, v: Tensor) -> Tensor:
        """Hessian-vector product on the parameters' device.

        Args:
            v: Vector of shape (P,).

        Returns:
            H v, shape (P,), dtype and device of the parameters.

        Raises:
            ValueError: On a wrong shape.
        """
        if v.shape != (self.dim,):
            raise ValueError(f"expected a vector of shape ({self.dim},), got {v.shape}")
        v = v.to(device=self.device, dtype=self.torch_dtype)
        self.n_matvecs += 1
        with torch.no_grad():
            return self._apply(unflatten(v, self.params), batched=False)

    def matmat_torch(self, V: Tensor) -> Tensor:
        """Hessian-matrix product (columns vmapped through one backward).

        Args:
            V: Matrix of shape (P, k).

        Returns:
            H V, shape (P, k).

        Raises:
            ValueError: On a wrong shape.
        """
        if V.ndim != 2 or V.shape[0] != self.dim:
            raise ValueError(f"expected shape ({self.dim}, k), got {tuple(V.shape)}")
        V = V.to(device=self.device, dtype=self.torch_dtype)
        self.n_matvecs += V.shape[1]
        with torch.no_grad():
            rows = unflatten(V.T.contiguous(), self.params)
            return self._apply(rows, batched=True).T

    def gradient(self) -> Tensor:
        r"""The gradient :math:`\nabla L(\theta)` (a by-product of the graph build).

        Returns:
            Tensor of shape (P,).
        """
        if self.retain_graphs:
            self._chunk_vjps()
            assert self._grad is not None
            return self._grad
        with torch.no_grad():
            total = sum(flatten(self._build(X, y)[0]) for X, y in self._chunks)
            return all_reduce_sum(total, self.process_group)

    def loss_value(self) -> float:
        r"""The loss :math:`L(\theta)` at the linearisation point.

        Returns:
            The value as a Python float.
        """
        with torch.no_grad():
            total = sum(self.chunk_loss(self.params, X, y) for X, y in self._chunks)
            return float(all_reduce_sum(total.reshape(1), self.process_group)[0])

    # ------------------------------------------------------- scipy interface
    def _matvec(self, x: NDArray) -> NDArray:
        v = torch.as_tensor(np.asarray(x).reshape(-1))
        return self.matvec_torch(v).cpu().numpy().astype(self.dtype, copy=False)

    def _matmat(self, X: NDArray) -> NDArray:
        V = torch.as_tensor(np.asarray(X))
        return self.matmat_torch(V).cpu().numpy().astype(self.dtype, copy=False)

    def _adjoint(self) -> HessianOperator:
        return self


def minibatch_hessian(
    model: nn.Module, loss: Loss, X_B: Tensor, y_B: Tensor, **kw
) -> HessianOperator:
    r"""Hessian of one fixed batch, :math:`\nabla^2 \frac1b \sum_{n\in B}\ell_n`.

    Args:
        model: Network (not modified).
        loss: Per-sample loss convention.
        X_B: Batch inputs (b, ...).
        y_B: Batch labels (b,) or targets.
        **kw: Further keyword arguments of :class:`HessianOperator` (e.g.
            ``bn_mode``, ``params``); ``chunk_size`` defaults to one chunk.

    Returns:
        The operator bound to this batch (N = b).
    """
    return HessianOperator(model, loss, X_B, y_B, **kw)
