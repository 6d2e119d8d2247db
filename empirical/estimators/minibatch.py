r"""Sharpness estimators: FullBS, λ_max of one batch, MiniBS, batch sharpness, gap.

With :math:`L = \frac1N\sum_n \ell_n` and a batch :math:`B` of size b,
:math:`L_B = \frac1b\sum_{n\in B}\ell_n`, :math:`H_B = \nabla^2 L_B`,
:math:`g_B = \nabla L_B`:

============================  =====================================================
FullBS                        :math:`\lambda_{\max}(\nabla^2 L)` (largest algebraic)
MiniBS                        :math:`\mathbb{E}_B[\lambda_{\max}(H_B)]`
batch sharpness               :math:`\mathbb{E}_B[g_B^\top H_B g_B / \|g_B\|^2]`
gap                           MiniBS − FullBS
control-variate gap           :math:`\mathbb{E}_B[\lambda_{\max}(H_B) - v^\top H_B v]`
============================  =====================================================

**Sampling.** Each batch is drawn uniformly *without* replacement inside the batch
(b distinct rows), independently across batches (``rng.choice(N, b,
replace=False)`` per batch). Then :math:`\mathbb{E}_B[H_B] = H` exactly, so with
:math:`v` the unit top eigenvector of :math:`H`,
:math:`\mathbb{E}_B[v^\top H_B v] = \lambda_{\max}(H)` and the control-variate
estimator is unbiased for the gap (up to the O(residual²) error of v) with far
smaller variance: :math:`\lambda_{\max}(H_B)` and :math:`v^\top H_B v` move
together from batch to batch. Pointwise, :math:`v^\top H_B v \le
\lambda_{\max}(H_B)` and :math:`g_B^\top H_B g_B/\|g_B\|^2 \le
\lambda_{\max}(H_B)` (Rayleigh quotients), and by convexity of
:math:`\lambda_{\max}` (Jensen) the gap is :math:`\ge 0`.

Means come with standard errors std(ddof=1)/√K (NaN for K = 1).

**Methods** (same numbers to the solver tolerance): ``"range"`` — ReLU MLPs
only: span reduction, then each batch Hessian restricted to a subspace that
contains its range, with closed-form R-operator products
(:mod:`eoss.empirical.operators.relu_mlp_range`; 9 K instead of 0.27 M coordinates for
the paper's
MLP at b = 4), ``"reduced"`` — batched
Lanczos over the span-reduced parameter spaces
(:mod:`eoss.empirical.operators.span_reduction`),
``"plain"`` — batched Lanczos over the full parameter space, ``"loop"`` — one
Lanczos per batch on :func:`eoss.empirical.operators.hessian.minibatch_hessian` (the
official
code's approach, kept as the reference), ``"auto"`` — when the model is
``Sequential(Flatten(), Linear, ...)`` and b < d, ``range`` for a ReLU MLP and
``reduced`` otherwise; else ``plain``, or ``loop`` when its chunks would
hold one batch each (the same products without batching). K is
processed in chunks whose Lanczos bases fit a memory budget.

**Self-check.** Before a batched path (``range``, ``reduced``, ``plain``)
solves, one of its products is compared with the exact single-batch operator of
the caller's model on batch 0 (:mod:`eoss.empirical.operators.self_check`); a
relative error above √ε of the dtype logs a warning and falls back to ``loop``,
and the result records both (``self_check_error``, ``fallback_from``).

**Parameters.** The Hessian is taken with respect to the trainable parameters
only: frozen ones (``requires_grad=False``) are constants, left out of P, of the
eigenvectors and of ``full_vector``. Inputs keep their dtype when they are not
floating (token ids); floating ones are cast to the parameters' dtype. ``loss``
is a :class:`eoss.empirical.losses.Loss`, a loss name, or a per-sample callable
(:func:`eoss.empirical.losses.get_loss`).

The rng drives both the batch sampling and the Lanczos start vectors (the
self-check draws from its own fixed stream); the same seed gives the same
numbers. The caller's model is never modified.

**Data-parallel.** With a ``process_group`` (``torchrun``) the K batches are
drawn once, identically on every rank, split into contiguous blocks, solved on
their rank and gathered in batch order
(:func:`eoss.empirical.distributed.split_batches`); TF32 is off during every
measurement (:mod:`eoss.empirical.precision`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from eoss.empirical.data.adapters import as_dataset
from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.distributed import split_batches
from eoss.empirical.estimators.full_batch import WARM_MIN_ITER, FullSharpness
from eoss.empirical.losses import Loss, PerSampleFn, get_loss
from eoss.empirical.operators import batched as _batched
from eoss.empirical.operators.batched import Method
from eoss.empirical.operators.hessian import minibatch_hessian
from eoss.empirical.operators.params import BNMode
from eoss.empirical.precision import measured_in_float32
from eoss.empirical.solvers.lanczos import lanczos

BATCH_MIN_ITER = 20
NAN = float("nan")


@dataclass(frozen=True)
class MiniBatchSharpness:
    """Per-batch λ_max(H_B), batch-sharpness and control-variate terms.

    Attributes:
        batch_size: b.
        batch_indices: (K, b) rows of the data set used by each batch.
        lambda_max: (K,) λ_max(H_B).
        residuals: (K,) true residuals ‖H_B v − λ v‖.
        converged: (K,) residual ≤ tol·|λ|.
        batch_sharpness_terms: (K,) g_Bᵀ H_B g_B / ‖g_B‖², or None.
        cv_terms: (K,) λ_max(H_B) − vᵀ H_B v (v the full-batch top eigenvector),
            or None without ``full_vector``.
        n_matvecs: Largest number of Hessian-vector products spent on one batch
            (Lanczos steps plus one per extra term).
        seconds: Wall time.
        method: The path that produced the numbers: ``range``, ``reduced``,
            ``plain`` or ``loop``.
        self_check_error: Relative error of the batched path's product against
            the exact operator on batch 0 (NaN when no check ran: ``loop``, or
            ``self_check=False``).
        fallback_from: The batched path whose self-check failed (then ``method``
            is ``loop``), or None.
    """

    batch_size: int
    batch_indices: NDArray[np.int64]
    lambda_max: NDArray[np.float64]
    residuals: NDArray[np.float64]
    converged: NDArray[np.bool_]
    batch_sharpness_terms: NDArray[np.float64] | None
    cv_terms: NDArray[np.float64] | None
    n_matvecs: int
    seconds: float
    method: str
    self_check_error: float = NAN
    fallback_from: str | None = None

    @property
    def minibs(self) -> float:
        """MiniBS, the mean of λ_max(H_B)."""
        return _batched.mean_se(self.lambda_max)[0]

    @property
    def minibs_se(self) -> float:
        """Standard error of :attr:`minibs`."""
        return _batched.mean_se(self.lambda_max)[1]

    @property
    def batch_sharpness(self) -> float:
        """Mean of g_Bᵀ H_B g_B / ‖g_B‖² (NaN if not computed)."""
        t = self.batch_sharpness_terms
        return float("nan") if t is None else _batched.mean_se(t)[0]

    @property
    def batch_sharpness_se(self) -> float:
        """Standard error of :attr:`batch_sharpness`."""
        t = self.batch_sharpness_terms
        return float("nan") if t is None else _batched.mean_se(t)[1]

    @property
    def gap_cv(self) -> float:
        """Control-variate gap estimate (NaN without a full-batch vector)."""
        return (
            float("nan")
            if self.cv_terms is None
            else _batched.mean_se(self.cv_terms)[0]
        )

    @property
    def gap_cv_se(self) -> float:
        """Standard error of :attr:`gap_cv`."""
        return (
            float("nan")
            if self.cv_terms is None
            else _batched.mean_se(self.cv_terms)[1]
        )


@measured_in_float32
def minibatch_sharpness(
    model: nn.Module,
    loss: Loss | str | PerSampleFn,
    data: ArrayDataset,
    *,
    batch_size: int,
    n_batches: int,
    rng: np.random.Generator,
    tol: float = 1e-3,
    batch_sharpness: bool = True,
    full_vector: Tensor | None = None,
    method: Method = "auto",
    max_batches_per_chunk: int | None = None,
    bn_mode: BNMode = "eval",
    min_iter: int = BATCH_MIN_ITER,
    max_iter: int = 200,
    batch_indices: NDArray[np.int64] | None = None,
    progress: Callable[[str], None] | None = None,
    self_check: bool = True,
    process_group: Any | None = None,
) -> MiniBatchSharpness:
    r"""MiniBS, batch sharpness and the control-variate gap over K batches.

    Args:
        model: Network (not modified); the Hessian is over its trainable
            parameters (module docstring).
        loss: Per-sample loss convention, loss name or per-sample callable.
        data: Training set; batches are rows of it.
        batch_size: b.
        n_batches: K.
        rng: Draws the batches (unless ``batch_indices`` is given), then the
            Lanczos start vectors.
        tol: Relative residual target of each λ_max(H_B).
        batch_sharpness: Also compute g_Bᵀ H_B g_B / ‖g_B‖² (one extra product).
        full_vector: (P,) full-batch top eigenvector for the control-variate
            terms (one extra product), e.g. ``full_sharpness(...).eigenvector``.
        method: ``auto``, ``range``, ``reduced``, ``plain`` or ``loop`` (module
            docstring).
        max_batches_per_chunk: Batches solved together (default: fit
            :data:`eoss.empirical.operators.batched.CHUNK_BYTES`).
        bn_mode: BatchNorm regime (``train``: statistics of each batch).
        min_iter: Lanczos step floor.
        max_iter: Lanczos step cap.
        batch_indices: (K, b) rows to use instead of sampling them.
        progress: Optional callback receiving one line per chunk.
        self_check: Check a batched path against the exact operator first, and
            fall back to ``loop`` on a mismatch (module docstring).
        process_group: ``torch.distributed`` group to split the K batches over
            (every rank passes the same arguments); None: one process.

    Returns:
        The :class:`MiniBatchSharpness`.

    Raises:
        ValueError: On bad sizes or an unusable ``method``.
    """
    t0 = time.perf_counter()
    data = as_dataset(data)  # (X, y), torch Dataset, ArrayDataset
    loss = get_loss(loss)
    idx = _batched.batch_rows(data, batch_size, n_batches, rng, batch_indices)
    if process_group is not None:
        solve = functools.partial(
            minibatch_sharpness,
            model,
            loss,
            data,
            batch_size=batch_size,
            n_batches=n_batches,
            rng=rng,
            tol=tol,
            batch_sharpness=batch_sharpness,
            full_vector=full_vector,
            method=method,
            max_batches_per_chunk=max_batches_per_chunk,
            bn_mode=bn_mode,
            min_iter=min_iter,
            max_iter=max_iter,
            progress=progress,
            self_check=self_check,
        )
        return split_batches(lambda rows: solve(batch_indices=rows), idx, process_group)
    setup = _batched.setup(model, bn_mode, data.X)
    method = _batched.resolve(
        method, setup, data.X, batch_size, loss, n_batches=len(idx),
        max_iter=max_iter, chunk=max_batches_per_chunk,
    )  # fmt: skip
    opts = {"tol": tol, "min_iter": min_iter, "max_iter": max_iter}
    extras = {"full_vector": full_vector, "batch_sharpness": batch_sharpness}
    outs, check, fallback = None, None, None
    if method != "loop":
        outs, check = _batched.run_chunks(
            setup,
            loss,
            data,
            idx,
            method,
            rng,
            opts,
            extras,
            max_batches_per_chunk,
            progress,
            self_check=self_check,
        )
        if outs is None:  # the self-check failed (and logged a warning)
            fallback, method = method, "loop"
    if outs is None:
        outs = [
            _batched.loop_one(
                model, loss, data.X[r], data.y[r], rng, opts, bn_mode, **extras
            )
            for r in torch.as_tensor(idx)
        ]
    cat = lambda name: torch.cat([getattr(o, name) for o in outs]).numpy()  # noqa: E731
    return MiniBatchSharpness(
        batch_size=batch_size,
        batch_indices=idx,
        lambda_max=cat("lam").astype(np.float64),
        residuals=cat("res").astype(np.float64),
        converged=cat("conv").astype(bool),
        batch_sharpness_terms=cat("bs").astype(np.float64) if batch_sharpness else None,
        cv_terms=cat("cv").astype(np.float64) if full_vector is not None else None,
        n_matvecs=max(o.n_matvecs for o in outs),
        seconds=time.perf_counter() - t0,
        method=method,
        self_check_error=NAN if check is None else check.error,
        fallback_from=fallback,
    )


def batch_lambda_max(
    model: nn.Module,
    loss: Loss | str | PerSampleFn,
    X_B: Tensor,
    y_B: Tensor,
    *,
    rng: np.random.Generator,
    tol: float = 1e-3,
    v0: Tensor | None = None,
    bn_mode: BNMode = "eval",
    min_iter: int | None = None,
    max_iter: int = 200,
    method: Literal["auto", "range", "reduced", "plain", "loop"] = "auto",
    self_check: bool = True,
) -> FullSharpness:
    r"""λ_max(H_B) of one batch (the "step sharpness" of the live batch).

    Args:
        model: Network (not modified); the Hessian is over its trainable
            parameters (frozen ones are constants).
        loss: Per-sample loss convention, loss name or per-sample callable.
        X_B: Batch inputs (b, ...).
        y_B: Batch labels (b,) or targets.
        rng: Draws the Lanczos start vector (and warm-start noise).
        tol: Relative residual target.
        v0: Warm start (P,), e.g. the previous step sharpness eigenvector.
        bn_mode: BatchNorm regime.
        min_iter: Lanczos step floor (default 20 cold, 10 warm).
        max_iter: Lanczos step cap.
        method: ``range`` (ReLU MLPs), ``reduced`` (span reduction),
            ``plain``, ``loop`` (the exact operator), or ``auto``.
        self_check: Check the batched operator against the exact one first and
            fall back to ``loop`` on a mismatch (as in
            :func:`minibatch_sharpness`).

    Returns:
        The :class:`FullSharpness` of the batch loss (``fullbs`` holds λ_max(H_B));
        its eigenvector lives in the full parameter space.
    """
    t0 = time.perf_counter()
    loss = get_loss(loss)
    setup = _batched.setup(model, bn_mode, X_B)
    method = _batched.resolve(method, setup, X_B, int(X_B.shape[0]), loss)
    floor = min_iter or (BATCH_MIN_ITER if v0 is None else WARM_MIN_ITER)
    opts = {"tol": tol, "min_iter": floor, "max_iter": max_iter}
    check = None
    if method != "loop":
        Xs = _batched.cast_inputs(X_B, setup.like).unsqueeze(0)
        ys = y_B.unsqueeze(0).to(setup.like.device)
        op, red = _batched.stacked(setup, loss, Xs, ys, method)
        if self_check:
            check = _batched.checked(setup, loss, op, red, Xs[0], ys[0], method)
    if method == "loop" or (check is not None and not check.passed):
        return _exact_batch(model, loss, X_B, y_B, rng, v0, bn_mode, opts, t0, check)
    out = _batched.solve_stacked(op, red, rng, opts, v0=v0, vectors=True)
    return FullSharpness(
        fullbs=float(out.lam[0]),
        residual=float(out.res[0]),
        converged=bool(out.conv[0]),
        n_matvecs=out.n_matvecs,
        seconds=time.perf_counter() - t0,
        eigenvector=None if out.vec is None else out.vec[0],
        method=method,
        self_check_error=NAN if check is None else check.error,
    )


def _exact_batch(model, loss, X_B, y_B, rng, v0, bn_mode, opts, t0, check):
    """:func:`batch_lambda_max` on the exact operator (``loop``, or a fallback)."""
    H = minibatch_hessian(model, loss, X_B, y_B, bn_mode=bn_mode)
    like = torch.empty(0, dtype=H.torch_dtype, device=H.device)
    if v0 is None:
        start = _batched.cold_start(rng, like.new_empty(H.dim))
    else:
        start = _batched.warm(v0.to(like), rng)
    res = lanczos(H.matvec_torch, start, which="LA", return_vectors=True, **opts)
    assert res.eigenvectors is not None
    return FullSharpness(
        fullbs=float(res.eigenvalues[0]),
        residual=float(res.residuals[0]),
        converged=bool(res.converged[0]),
        n_matvecs=res.n_matvecs,
        seconds=time.perf_counter() - t0,
        eigenvector=res.eigenvectors[:, 0],
        method="loop",
        self_check_error=NAN if check is None else check.error,
        fallback_from=None if check is None else check.method,
    )
