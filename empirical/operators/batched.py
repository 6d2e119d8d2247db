r"""Machinery shared by the mini-batch estimators (private).

Batches of equal size are stacked, optionally span-reduced
(:mod:`eoss.empirical.operators.span_reduction`), and solved together by one batched
Lanczos whose
matvec is one backward pass through a vmapped gradient graph
(:class:`eoss.empirical.operators.stacked.StackedBatchHessian`), or, for ReLU MLPs
(``method="range"``), the closed-form R-operator products restricted to a
subspace containing each batch Hessian's range
(:mod:`eoss.empirical.operators.relu_mlp_range`).
``loop_one`` is the reference path: one
:func:`eoss.empirical.operators.hessian.minibatch_hessian` and one Lanczos per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.losses import Loss
from eoss.empirical.operators.hessian import minibatch_hessian
from eoss.empirical.operators.params import (
    BNMode,
    cast_inputs,
    detached_buffers,
    detached_params,
    infer_device,
    infer_dtype,
    private_module,
)
from eoss.empirical.operators.range_reduction import RangeReduction, range_operator
from eoss.empirical.operators.relu_mlp import mlp_layout
from eoss.empirical.operators.relu_mlp_range import MLPRangeHessian, range_dim
from eoss.empirical.operators.self_check import ProductCheck, check_product
from eoss.empirical.operators.span_reduction import (
    ReducedBatches,
    first_linear_name,
    reduce_batches,
    supports_reduction,
)
from eoss.empirical.operators.stacked import (
    StackedBatchHessian,
    output_dim,
    stacked_targets,
)
from eoss.empirical.operators.start_vectors import (  # noqa: F401 (re-exported)
    WARM_NOISE,
    cold_start,
    normal,
    warm,
)
from eoss.empirical.solvers.lanczos import lanczos

Method = Literal["auto", "range", "reduced", "plain", "loop"]
# Bytes of Lanczos basis per chunk of batches. On CPU the solve is bound by memory
# traffic on (K, P) vectors, and small chunks whose basis stays in cache were as
# fast per batch as large ones or faster (benchmarks/RESULTS.md); on GPU larger
# chunks feed the device.
CHUNK_BYTES = {"cpu": 32 << 20, "cuda": 1 << 30}


def sample_batches(n: int, batch_size: int, n_batches: int, rng: np.random.Generator):
    """K batches of b distinct rows, independent across batches.

    Args:
        n: Number of rows N.
        batch_size: b (1 ≤ b ≤ N).
        n_batches: K ≥ 1.
        rng: Generator.

    Returns:
        (K, b) int64 row indices.

    Raises:
        ValueError: On b outside [1, N] or K < 1.
    """
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch size must be in [1, {n}], got {batch_size}")
    if n_batches < 1:
        raise ValueError(f"number of batches must be >= 1, got {n_batches}")
    rows = [rng.choice(n, size=batch_size, replace=False) for _ in range(n_batches)]
    return np.stack(rows).astype(np.int64)


def batch_rows(
    data: ArrayDataset,
    batch_size: int,
    n_batches: int,
    rng: np.random.Generator,
    batch_indices: NDArray[np.int64] | None,
) -> NDArray[np.int64]:
    """Sampled (K, b) rows, or the validated ``batch_indices``."""
    if batch_indices is None:
        return sample_batches(len(data), batch_size, n_batches, rng)
    idx = np.asarray(batch_indices, dtype=np.int64)
    if idx.ndim != 2 or idx.shape[1] != batch_size or idx.shape[0] < 1:
        raise ValueError(f"batch_indices must have shape (K, {batch_size})")
    if idx.min() < 0 or idx.max() >= len(data):
        raise ValueError(f"batch_indices must lie in [0, {len(data)})")
    return idx


def mean_se(x: NDArray) -> tuple[float, float]:
    """Mean and standard error std(ddof=1)/sqrt(K) (NaN for K = 1)."""
    if len(x) < 2:
        return float(np.mean(x)), float("nan")
    return float(np.mean(x)), float(np.std(x, ddof=1) / np.sqrt(len(x)))


@dataclass
class Setup:
    """Private module copy, detached parameters/buffers, C, reducibility.

    ``source`` is the caller's model (read, never modified): the reference of the
    self-check (:mod:`eoss.empirical.operators.self_check`).
    """

    module: nn.Module
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    n_out: int
    reducible: bool
    source: nn.Module
    bn_mode: BNMode

    @property
    def like(self) -> Tensor:
        """An empty tensor with the parameters' dtype and device."""
        p = next(iter(self.params.values()))
        return torch.empty(0, dtype=p.dtype, device=p.device)


def setup(model: nn.Module, bn_mode: BNMode, x_rows: Tensor) -> Setup:
    """Copy what the estimators need from ``model`` (which is left untouched)."""
    params = detached_params(model)
    infer_device(params)
    infer_dtype(params)
    module = private_module(model, bn_mode)
    buffers = detached_buffers(model)
    like = next(iter(params.values()))
    n_out = output_dim(module, params, buffers, cast_inputs(x_rows[:2], like))
    # the reduction rewrites the first weight, so it needs it trainable
    reducible = supports_reduction(model) and first_linear_name(model) in params
    return Setup(module, params, buffers, n_out, reducible, model, bn_mode)


def resolve(
    method: Method,
    setup: Setup,
    X: Tensor,
    b: int,
    loss: Loss | None = None,
    *,
    n_batches: int | None = None,
    max_iter: int = 200,
    chunk: int | None = None,
) -> str:
    """The concrete path for ``method``.

    ``auto``: ``range`` for ReLU MLPs with b < d and a built-in loss (the fastest
    exact path, benchmarks/RESULTS.md), else ``reduced`` when exact and smaller,
    else ``plain`` — unless, given ``n_batches``, the chunks (``chunk``, or
    :func:`auto_chunk` from ``max_iter``) would hold one batch each: then
    ``plain`` runs the very products of ``loop`` plus a self-check, and ``auto``
    takes ``loop`` (benchmarks/RESULTS.md, peers).
    """
    if method not in ("auto", "range", "reduced", "plain", "loop"):
        raise ValueError(f"unknown method {method!r}")
    d = int(np.prod(X.shape[1:]))
    if method == "reduced" and not setup.reducible:
        raise ValueError(
            "method 'reduced' needs nn.Sequential(Flatten(), Linear, ...) with a "
            "trainable first weight"
        )
    builtin = loss is None or loss.is_builtin
    relu_mlp = builtin and mlp_layout(setup.module, list(setup.params)) is not None
    if method == "range" and not relu_mlp:
        raise ValueError(
            "method 'range' needs a ReLU MLP: nn.Sequential(Flatten(), Linear, "
            "ReLU, ..., Linear), every parameter trainable, and a built-in loss"
        )
    if method != "auto":
        return method
    if setup.reducible and b < d:
        return "range" if relu_mlp else "reduced"
    if n_batches is not None and chunk is None:
        P, like = problem_dim(setup, "plain", d, b), setup.like
        chunk = auto_chunk(n_batches, P, like.element_size(), max_iter, like.device)
    return "loop" if n_batches is not None and min(chunk, n_batches) == 1 else "plain"


def stacked(
    setup: Setup, loss: Loss, Xs: Tensor, ys: Tensor, method: str
) -> tuple[
    StackedBatchHessian | MLPRangeHessian, ReducedBatches | RangeReduction | None
]:
    """The K batch Hessians of (K, b, ...) inputs for a resolved ``method``.

    ``reduced``: span-reduced autograd products; ``range``: span reduction, range
    restriction and closed-form products; anything else: unreduced autograd.
    """
    K = Xs.shape[0]
    T = stacked_targets(loss, ys, setup.n_out, setup.like.dtype)
    if method == "range":
        return range_operator(setup.module, setup.params, loss, Xs, T)
    if method == "reduced":
        red = reduce_batches(setup.module, setup.params, Xs)
        op = StackedBatchHessian(
            setup.module, setup.buffers, loss, red.params, red.Z, T
        )
        return op, red
    P = {k: t.unsqueeze(0).expand(K, *t.shape) for k, t in setup.params.items()}
    return StackedBatchHessian(setup.module, setup.buffers, loss, P, Xs, T), None


@dataclass
class ChunkOut:
    """Per-batch results of one chunk (CPU float64 tensors)."""

    lam: Tensor  # (K,)
    res: Tensor  # (K,)
    conv: Tensor  # (K,)
    vec: Tensor | None  # (K, P) full-space eigenvectors
    bs: Tensor | None  # (K,)
    cv: Tensor | None  # (K,)
    n_matvecs: int


def solve_stacked(
    op: StackedBatchHessian | MLPRangeHessian,
    red: ReducedBatches | RangeReduction | None,
    rng: np.random.Generator,
    opts: dict,
    v0: Tensor | None = None,
    full_vector: Tensor | None = None,
    batch_sharpness: bool = False,
    vectors: bool = False,
) -> ChunkOut:
    """Batched top eigenpairs, then the batch-sharpness and control-variate terms.

    λ_max(H_B) = max(λ̃_max, 0) when the reduction dropped dimensions (module
    docstring of :mod:`eoss.empirical.operators.span_reduction`); eigenvectors are
    mapped back to the
    full parameter space.
    """
    like = op.gradient
    if v0 is None:
        start = cold_start(rng, op.gradient)
    else:
        v0 = v0.to(like).expand(op.K, -1)
        start = warm(red.to_reduced(v0) if red is not None else v0, rng)
    res = lanczos(op.matvec, start, which="LA", return_vectors=vectors, **opts)
    lam, resid = res.eigenvalues[:, 0], res.residuals[:, 0]
    conv = res.converged[:, 0]
    vec = res.eigenvectors[:, :, 0] if vectors else None
    if red is not None and red.n_null > 0:  # H_B also has h(d - r) zero eigenvalues
        null = lam < 0
        lam, resid = lam.clamp_min(0.0), torch.where(null, 0.0, resid)
        conv = conv | null
        if vec is not None:
            vec = None if bool(null.any()) else red.to_full(vec)
    elif red is not None and vec is not None:
        vec = red.to_full(vec)
    extra, bs, cv = 0, None, None
    if batch_sharpness:
        g = op.gradient
        bs = (op.quadratic_form(g) / (g * g).sum(dim=1)).double().cpu()
        extra += 1
    if full_vector is not None:
        v = full_vector.to(like).expand(op.K, -1)
        v = red.to_reduced(v) if red is not None else v
        cv = lam - op.quadratic_form(v).double().cpu()
        extra += 1
    return ChunkOut(lam, resid, conv, vec, bs, cv, res.n_matvecs + extra)


def loop_one(
    model, loss, X_B, y_B, rng, opts, bn_mode, full_vector, batch_sharpness
) -> ChunkOut:
    """Reference path: one unreduced operator and one Lanczos for one batch."""
    H = minibatch_hessian(model, loss, X_B, y_B, bn_mode=bn_mode)
    like = torch.empty(0, dtype=H.torch_dtype, device=H.device)
    start = cold_start(rng, like.new_empty(H.dim))
    res = lanczos(H.matvec_torch, start, which="LA", **opts)
    lam = res.eigenvalues[:1]
    bs = cv = None
    if batch_sharpness:
        g = H.gradient()
        bs = (g @ H.matvec_torch(g) / (g @ g)).double().cpu().reshape(1)
    if full_vector is not None:
        v = full_vector.to(like)
        cv = lam - (v @ H.matvec_torch(v)).double().cpu().reshape(1)
    n = res.n_matvecs + int(batch_sharpness) + int(full_vector is not None)
    return ChunkOut(lam, res.residuals[:1], res.converged[:1], None, bs, cv, n)


def auto_chunk(
    n_batches: int, dim: int, itemsize: int, max_iter: int, device: torch.device
) -> int:
    """Batches per chunk so that the Lanczos bases fit :data:`CHUNK_BYTES`.

    Args:
        n_batches: K.
        dim: Dimension of one problem.
        itemsize: Bytes per entry.
        max_iter: Lanczos step cap (the estimate uses min(max_iter, 30) steps).
        device: Where the solve runs (``cpu`` or ``cuda`` budget).

    Returns:
        A chunk size in [1, K].
    """
    budget = CHUNK_BYTES.get(torch.device(device).type, CHUNK_BYTES["cuda"])
    per_batch = (min(max_iter, 30) + 6) * dim * itemsize  # basis + work vectors
    return int(max(1, min(n_batches, budget // max(per_batch, 1))))


def problem_dim(setup: Setup, method: str, d: int, b: int) -> int:
    """Dimension of one Lanczos problem (P, P̃ after the reduction, or the range's)."""
    P = sum(t.numel() for t in setup.params.values())
    if method == "range":
        return range_dim(setup.module, d, b)
    if method != "reduced":
        return P
    h = setup.params[first_linear_name(setup.source)].shape[0]
    return P - h * (d - min(b, d))


def run_chunks(
    setup: Setup,
    loss: Loss,
    data: ArrayDataset,
    idx: NDArray[np.int64],
    method: str,
    rng: np.random.Generator,
    opts: dict,
    extras: dict,
    chunk: int | None,
    log: Callable[[str], None] | None,
    self_check: bool = True,
) -> tuple[list[ChunkOut] | None, ProductCheck | None]:
    """Solve the batches ``idx`` chunk by chunk; ``log`` gets one line per chunk.

    With ``self_check``, the first chunk's operator is first checked against the
    exact operator of its batch 0 (:func:`check_product`); on failure nothing is
    solved and the outputs are None (the caller falls back to ``loop``).
    """
    if chunk is None:
        d = int(np.prod(data.X.shape[1:]))
        dim = problem_dim(setup, method, d, idx.shape[1])
        like = setup.like
        chunk = auto_chunk(
            len(idx), dim, like.element_size(), opts["max_iter"], like.device
        )
    outs: list[ChunkOut] = []
    X, y = data.X, data.y
    for start in range(0, len(idx), chunk):
        rows = idx[start : start + chunk]
        if log is not None:
            log(f"{method}: batches {start + 1}-{start + len(rows)} of {len(idx)}")
        Xs = cast_inputs(X[torch.as_tensor(rows)], setup.like)
        ys = y[torch.as_tensor(rows)].to(setup.like.device)
        op, red = stacked(setup, loss, Xs, ys, method)
        if self_check and start == 0:
            check = checked(setup, loss, op, red, Xs[0], ys[0], method)
            if not check.passed:
                return None, check
        outs.append(solve_stacked(op, red, rng, opts, **extras))
        del op, red
    return outs, (check if self_check else None)


def checked(setup: Setup, loss: Loss, op, red, X0: Tensor, y0: Tensor, method: str):
    """:func:`check_product` of ``op`` on its batch 0 (inputs ``X0``, ``y0``)."""
    return check_product(
        op,
        red,
        method=method,
        model=setup.source,
        loss=loss,
        X0=X0,
        y0=y0,
        params=setup.params,
        bn_mode=setup.bn_mode,
    )
