r"""λ_max of many mini-batch Hessian sums, by the cheapest exact path.

For a batch :math:`B` (a multiset of :math:`b` sample indices) with stacked
factor rows :math:`F_B \in \mathbb R^{s\times m}` (:math:`s = br`) and signs
:math:`S_B`,

.. math::

    H_B = \frac1b F_B^\top S_B F_B ,\qquad
    \lambda_{\max}(H_B) = \frac1b \lambda_{\max}(F_B^\top S_B F_B) .

For a PSD sum the nonzero spectrum equals that of the :math:`s\times s` Gram
matrix :math:`F_B F_B^\top` (:math:`\operatorname{eig}(X^\top X) \setminus
\{0\} = \operatorname{eig}(XX^\top) \setminus \{0\}`). Paths (``path`` below):

* ``gram-eigh``: batched ``eigvalsh`` of the :math:`s\times s` Gram matrices,
  gathered from the precomputed dataset Gram :math:`K = FF^\top` or formed.
* ``dense-eigh``: batched ``eigvalsh`` of the :math:`m\times m` sums.
* ``lanczos-subgram``: block Lanczos on the gathered :math:`K_{BB}`.
* ``lanczos-gram``: block Lanczos on :math:`C_B^{1/2} K C_B^{1/2}` with
  :math:`C_B` the multiplicity of each dataset row in :math:`B`. Same nonzero
  spectrum, no gather, and one GEMM with :math:`K` per step serves every batch.
* ``lanczos-factor``: the same in :math:`m`-space,
  :math:`x \mapsto F^\top C_B S (F x)`.
* ``lanczos-batch``: block Lanczos on the gathered :math:`F_B` (online batches).

``auto`` picks the cheapest by the cost model :func:`path_costs` (constants
measured on 2 CPU cores; only their ratios matter). The direct paths are
backward stable; Lanczos paths stop at a relative residual ``tol`` and report it.
When :math:`s < m`, :math:`H_B` has zero eigenvalues, so Gram-side values are
floored at 0 (this matters only for indefinite sums).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import NDArray

from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.path_costs import (
    LANCZOS_STEPS,
    path_costs,
    resolve_path,
)
from eoss.toy_models.random_matrix.top_eigenvalue import (
    BlockLanczosResult,
    block_lanczos_top,
    signed_gram_top,
    top_eigvalsh,
)

GRAM_MAX_ROWS = 6144  # precompute K = F F^T (N x N) only up to 288 MiB
CHUNK_BYTES = 32 * 2**20  # fresh temporaries above ~32 MiB page-fault slowly


@dataclass(frozen=True, eq=False)
class PreparedSample:
    r"""A dataset of factors, flattened, with its Gram matrix when affordable.

    Attributes:
        sample: The per-sample factors.
        rows: Array of shape (N, m), N = n r, all factor rows.
        signs: Array of shape (N,), or None (PSD).
        gram: Array of shape (N, N), :math:`K = F F^\top`, or None.
    """

    sample: FactorSample
    rows: NDArray[np.float64] = field(repr=False)  # (N, m)
    signs: NDArray[np.float64] | None = field(repr=False)  # (N,)
    gram: NDArray[np.float64] | None = field(repr=False)  # (N, N)

    @classmethod
    def build(cls, sample: FactorSample, *, with_gram: bool = True) -> PreparedSample:
        """Flatten ``sample`` and precompute :math:`K` if N <= GRAM_MAX_ROWS.

        Args:
            sample: The dataset.
            with_gram: Set False to never form K (online batches).

        Returns:
            The prepared dataset.
        """
        rows = np.ascontiguousarray(sample.factors.reshape(-1, sample.dim))
        signs = None if sample.signs is None else sample.signs.reshape(-1)
        gram = rows @ rows.T if with_gram and rows.shape[0] <= GRAM_MAX_ROWS else None
        return cls(sample, rows, signs, gram)

    @property
    def psd(self) -> bool:
        """True when all signs are +1."""
        return self.signs is None or bool(np.all(self.signs > 0))


@dataclass(frozen=True)
class BatchTops:
    """λ_max(H_B) for ``k`` batches.

    Attributes:
        values: Array of shape (k,).
        path: The solver path used (one of :data:`PATHS`).
        residuals: Array of shape (k,), Lanczos residual norms (scaled like the
            values), or None for the direct paths.
        n_matvecs: Array of shape (k,), operator applications, or None.
        converged: False if a Lanczos run hit its iteration cap.
    """

    values: NDArray[np.float64]  # (k,)
    path: str
    residuals: NDArray[np.float64] | None = None  # (k,)
    n_matvecs: NDArray[np.int64] | None = None  # (k,)
    converged: bool = True


def batch_tops(
    data: PreparedSample,
    batches: NDArray[np.int64],
    *,
    path: str = "auto",
    warm: NDArray[np.float64] | None = None,
    tol: float = 1e-10,
    rng: np.random.Generator,
    shared: bool = True,
    steps: float = LANCZOS_STEPS,
) -> BatchTops:
    """λ_max(H_B) for each row of ``batches`` (indices into ``data``).

    Args:
        data: The dataset.
        batches: Array of shape (k, b) of sample indices (sorted rows give
            order-independent sums).
        path: One of :data:`PATH_CHOICES`.
        warm: Array of shape (m,), start direction for Lanczos (e.g. the
            full-batch top eigenvector), or None.
        tol: Relative residual tolerance of the Lanczos paths.
        rng: Generator for the Lanczos start perturbations.
        shared: False when ``data`` holds fresh (online) batches: disables the
            paths that multiply by the whole dataset.
        steps: Expected Lanczos steps (cost model; e.g. the count observed at
            the previous batch size).

    Returns:
        The values and the path used.
    """
    k, b = batches.shape
    smp = data.sample
    costs = path_costs(
        b,
        smp.rank,
        smp.dim,
        data.rows.shape[0],
        has_gram=data.gram is not None,
        psd=data.psd,
        shared=shared,
        steps=steps,
    )
    chosen = resolve_path(path, costs)
    rows = _row_index(batches, smp.rank)  # (k, s)
    s, m = rows.shape[1], smp.dim
    if chosen == "gram-eigh":
        per = s * s + (0 if data.gram is not None else s * m)
        vals = _chunked(rows, 8 * per, lambda r: _gram_eigh(data, r))
        return BatchTops(vals / b, chosen)
    if chosen == "dense-eigh":
        vals = _chunked(rows, 8 * (m * m + 2 * s * m), lambda r: _dense_eigh(data, r))
        return BatchTops(vals / b, chosen)
    return _lanczos(data, rows, chosen, warm, tol, rng, b)


def _row_index(batches: NDArray[np.int64], rank: int) -> NDArray[np.int64]:
    """Dataset row indices (k, b r) of index batches, C-ordered.

    Fancy indexing lays its result out like the index arrays: F-ordered indices
    give F-ordered blocks, on which batched matmul is ~10x slower.
    """
    rows = batches[:, :, None] * rank + np.arange(rank)
    return np.ascontiguousarray(rows.reshape(batches.shape[0], -1))


def _chunked(
    rows: NDArray[np.int64],
    per_batch_bytes: int,
    fn: Callable[[NDArray[np.int64]], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """Apply ``fn`` to chunks of batches whose temporaries fit CHUNK_BYTES."""
    step = max(1, CHUNK_BYTES // max(per_batch_bytes, 1))
    return np.concatenate([fn(rows[i : i + step]) for i in range(0, len(rows), step)])


def _gram_eigh(data: PreparedSample, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    if data.gram is not None:
        K = data.gram[rows[:, :, None], rows[:, None, :]]  # (k, s, s)
    else:
        Fb = data.rows[rows]
        K = Fb @ Fb.transpose(0, 2, 1)
    if data.psd:
        return top_eigvalsh(K)
    vals = signed_gram_top(K, data.signs[rows])
    # s < m: H_B also has the eigenvalue 0.
    return np.maximum(vals, 0.0) if rows.shape[1] < data.rows.shape[1] else vals


def _dense_eigh(data: PreparedSample, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    Fb = data.rows[rows]  # (k, s, m)
    Ft = Fb.transpose(0, 2, 1)
    if data.signs is not None:
        Ft = Ft * data.signs[rows][:, None, :]
    return top_eigvalsh(Ft @ Fb)


def _start(
    base: NDArray[np.float64], support: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Warm start ``base`` plus 1% random perturbation on ``support`` (rows)."""
    z = rng.standard_normal(support.shape) * support
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    nb = np.linalg.norm(base, axis=1, keepdims=True)
    unit = np.divide(base, nb, out=np.zeros_like(base), where=nb > 0)
    return unit + 0.01 * z


def _lanczos(data, rows, chosen, warm, tol, rng, b) -> BatchTops:
    """Block Lanczos on the operator of ``chosen``; values scaled by 1/b."""
    k, s = rows.shape
    N, m = data.rows.shape
    if chosen in ("lanczos-gram", "lanczos-factor"):
        C = np.zeros((k, N))
        np.add.at(C, (np.repeat(np.arange(k), s), rows.ravel()), 1.0)
        matmat, v0 = _count_operator(data, C, chosen, warm, rng)
        res = block_lanczos_top(matmat, v0, tol=tol)
    else:
        step = max(1, CHUNK_BYTES // (8 * s * (s if chosen.endswith("subgram") else m)))
        parts = []
        for i in range(0, k, step):
            matmat, v0 = _gather_operator(data, rows[i : i + step], chosen, warm, rng)
            parts.append(block_lanczos_top(matmat, v0, tol=tol))
        res = _concat(parts)
    return BatchTops(
        res.values / b,
        chosen,
        res.residuals / b,
        res.iterations,
        bool(res.converged.all()),
    )


class _Shrinking:
    """Per-problem arrays, compacted once each time the active set shrinks.

    Indexing ``A[idx]`` on every Lanczos step would copy the gathered blocks
    each time; the active set only shrinks, so at most ``k`` copies happen.
    """

    def __init__(self, *arrays: NDArray | None) -> None:
        self.ids = np.arange(len(next(a for a in arrays if a is not None)))
        self.arrays = list(arrays)

    def take(self, idx: NDArray[np.int64]) -> list[NDArray | None]:
        if idx.size != self.ids.size:
            pos = np.searchsorted(self.ids, idx)
            self.arrays = [None if a is None else a[pos] for a in self.arrays]
            self.ids = idx
        return self.arrays


def _count_operator(data, C, chosen, warm, rng):
    """Operators weighted by row multiplicities C (k, N) over the whole dataset."""
    F, S = data.rows, data.signs
    if chosen == "lanczos-gram":
        root = np.sqrt(C)
        base = root * (F @ warm) if warm is not None else np.zeros_like(C)
        cache = _Shrinking(root)

        def matmat(X, idx):
            (r,) = cache.take(idx)
            return r * ((r * X) @ data.gram)

        return matmat, _start(base, (C > 0).astype(float), rng)
    cache = _Shrinking(C if S is None else C * S)

    def matmat(X, idx):
        (W,) = cache.take(idx)
        return ((X @ F.T) * W) @ F

    shape = (C.shape[0], F.shape[1])
    base = np.broadcast_to(warm, shape) if warm is not None else np.zeros(shape)
    return matmat, _start(base, np.ones(shape), rng)


def _gather_operator(data, rows, chosen, warm, rng):
    """Operators on gathered per-batch blocks (K_BB or F_B)."""
    k, s = rows.shape
    if chosen == "lanczos-subgram":
        cache = _Shrinking(data.gram[rows[:, :, None], rows[:, None, :]])

        def matmat(X, idx):
            (A,) = cache.take(idx)
            return (A @ X[:, :, None])[:, :, 0]

        base = (data.rows @ warm)[rows] if warm is not None else np.zeros((k, s))
        return matmat, _start(base, np.ones((k, s)), rng)
    cache = _Shrinking(
        data.rows[rows], None if data.signs is None else data.signs[rows]
    )

    def matmat(X, idx):
        A, Sb = cache.take(idx)
        proj = (A @ X[:, :, None])[:, :, 0]  # (k, s)
        if Sb is not None:
            proj = proj * Sb
        return (proj[:, None, :] @ A)[:, 0, :]

    shape = (k, data.rows.shape[1])
    base = np.broadcast_to(warm, shape) if warm is not None else np.zeros(shape)
    return matmat, _start(base, np.ones(shape), rng)


def _concat(parts: list[BlockLanczosResult]) -> BlockLanczosResult:
    """Join the results of consecutive chunks."""
    cat = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        for f in fields(BlockLanczosResult)
    }
    return BlockLanczosResult(**cat)
