r"""Largest algebraic eigenvalue of many symmetric matrices at once.

Three solvers, all for :math:`\lambda_{\max}` (largest *algebraic*, never the
largest in modulus):

* :func:`top_eigvalsh` — LAPACK ``syevd`` on a stack of small dense matrices
  (numpy batches the calls). Backward stable: error :math:`O(\epsilon\|A\|)`.
* :func:`signed_gram_top` — the nonzero spectrum of :math:`F^\top S F`
  (:math:`S = \operatorname{diag}(\pm1)`) from the Gram matrix
  :math:`K = F F^\top` alone, for indefinite sums.
* :func:`block_lanczos_top` — the Lanczos three-term recurrence run
  simultaneously on ``k`` independent operators, so that one matrix-matrix
  product serves all of them (the mini-batch problems of one batch size share
  a dataset, hence one GEMM with the full Gram or factor matrix). Only the
  eigenvalue is wanted, so no basis is stored: the top Ritz value of the
  tridiagonal :math:`T_j` converges to :math:`\lambda_{\max}` even as
  orthogonality is lost in floating point (Paige 1980), and the computed
  residual :math:`\beta_j |s_j|` (last entry of the top eigenvector of
  :math:`T_j`) bounds the distance from the Ritz value to an eigenvalue.
  Ritz values never exceed :math:`\lambda_{\max}` (interlacing), so the error
  is one-sided.

:func:`lanczos_top_pair` wraps ``scipy.sparse.linalg.eigsh(which="LA")`` for the
one problem where the eigenvector is needed (the full-batch Hessian).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

EPS = np.finfo(np.float64).eps


def top_eigvalsh(mats: NDArray[np.float64]) -> NDArray[np.float64]:
    """Largest eigenvalue of each symmetric matrix in a stack.

    Args:
        mats: Array of shape (k, s, s), symmetric (only the lower triangle is
            read, as by LAPACK).

    Returns:
        Array of shape (k,).
    """
    return np.linalg.eigvalsh(mats)[:, -1]


def signed_gram_top(
    gram: NDArray[np.float64], signs: NDArray[np.float64]
) -> NDArray[np.float64]:
    r"""Top of the nonzero spectrum of :math:`F^\top S F`, given :math:`K = FF^\top`.

    The nonzero eigenvalues of :math:`F^\top S F` are those of :math:`SK`. With
    :math:`K = U \Lambda U^\top` and :math:`L = U\Lambda^{1/2}` (so
    :math:`K = LL^\top`), :math:`SK = S L L^\top` has the eigenvalues of the
    symmetric :math:`L^\top S L = \Lambda^{1/2} U^\top S U \Lambda^{1/2}`. The
    caller adds the zero eigenvalue when :math:`F` has fewer rows than columns.

    Args:
        gram: Array of shape (k, s, s), Gram matrices :math:`K`.
        signs: Array of shape (k, s), the diagonal of :math:`S` (±1).

    Returns:
        Array of shape (k,), the largest eigenvalue of each :math:`L^\top S L`.
    """
    lam, U = np.linalg.eigh(gram)
    root = np.sqrt(np.clip(lam, 0.0, None))  # (k, s); clip round-off below 0
    small = np.einsum("kai,ka,kaj->kij", U, signs, U)
    small = root[:, :, None] * small * root[:, None, :]
    return top_eigvalsh(small)


@dataclass(frozen=True)
class BlockLanczosResult:
    r"""Top Ritz values of ``k`` independent Lanczos runs.

    Attributes:
        values: Array of shape (k,), top Ritz value of each problem.
        residuals: Array of shape (k,), computed residual norms
            :math:`\beta_j |s_j|` (:math:`\|Ay - \theta y\|` in exact arithmetic).
        iterations: Array of shape (k,), operator applications per problem.
        converged: Array of shape (k,), residual <= tol * |value| reached.
    """

    values: NDArray[np.float64]  # (k,)
    residuals: NDArray[np.float64]  # (k,)
    iterations: NDArray[np.int64]  # (k,)
    converged: NDArray[np.bool_]  # (k,)


MatMat = Callable[[NDArray[np.float64], NDArray[np.int64]], NDArray[np.float64]]


def _top_ritz(alpha: NDArray, beta: NDArray) -> tuple[float, float]:
    """Top eigenvalue of tridiagonal (alpha, beta), |last entry| of its vector."""
    j = alpha.shape[0]
    if j == 1:
        return float(alpha[0]), 1.0
    w, v = eigh_tridiagonal(alpha, beta, select="i", select_range=(j - 1, j - 1))
    return float(w[0]), float(abs(v[-1, 0]))


def block_lanczos_top(
    matmat: MatMat,
    v0: NDArray[np.float64],
    *,
    tol: float = 1e-10,
    max_iter: int = 400,
    min_iter: int = 6,
    check_every: int = 3,
) -> BlockLanczosResult:
    r"""Largest eigenvalue of ``k`` symmetric operators by simultaneous Lanczos.

    Problem ``i`` runs :math:`q_{j+1}\beta_j = A_i q_j - \alpha_j q_j -
    \beta_{j-1} q_{j-1}` from :math:`q_0 = v_0[i]/\|v_0[i]\|`. It stops when the
    residual :math:`\beta_j |s_j| \le \mathrm{tol}\,|\theta|` (checked every
    ``check_every`` steps after ``min_iter``) or on breakdown
    (:math:`\beta_j \le 8 N\epsilon\,\|T_j\|`: the Krylov space is invariant and
    :math:`\theta` is exact to round-off).

    Args:
        matmat: ``matmat(X, idx)`` returns :math:`A_{idx[t]} X[t]` for every row
            ``t``: X has shape (len(idx), N).
        v0: Array of shape (k, N), nonzero start vectors.
        tol: Relative residual tolerance.
        max_iter: Maximum operator applications per problem.
        min_iter: Minimum applications before the first convergence check.
        check_every: Steps between convergence checks.

    Returns:
        The top Ritz values with residuals, iteration counts and flags.

    Raises:
        ValueError: If a start vector is zero or not finite.
    """
    k, N = v0.shape
    norms = np.linalg.norm(v0, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError("start vectors must be finite and nonzero")
    q, q_prev = v0 / norms[:, None], np.zeros_like(v0)
    alpha, beta = np.zeros((k, max_iter)), np.zeros((k, max_iter))
    out_val, out_res = np.zeros(k), np.full(k, np.inf)
    out_it, out_conv = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=bool)
    active = np.arange(k)
    for j in range(max_iter):
        qa = q[active]
        w = matmat(qa, active)
        a = np.einsum("ij,ij->i", w, qa)
        b_prev = beta[active, j - 1] if j else np.zeros(active.size)
        w -= a[:, None] * qa + b_prev[:, None] * q_prev[active]
        c = np.einsum("ij,ij->i", w, qa)  # one local re-orthogonalisation step
        w -= c[:, None] * qa
        alpha[active, j] = a + c
        bnorm = np.linalg.norm(w, axis=1)
        beta[active, j] = bnorm
        done = _check(alpha, beta, active, j, bnorm, N, tol, min_iter, check_every)
        last = j + 1 == max_iter
        for t in np.flatnonzero(done | last):
            i = active[t]
            theta, s = _top_ritz(alpha[i, : j + 1], beta[i, :j])
            out_val[i], out_res[i], out_it[i] = theta, bnorm[t] * s, j + 1
            out_conv[i] = bool(done[t])
        keep = ~done
        nxt = active[keep]
        q_prev[nxt] = qa[keep]
        q[nxt] = w[keep] / bnorm[keep, None]
        active = nxt
        if active.size == 0:
            break
    return BlockLanczosResult(out_val, out_res, out_it, out_conv)


def _check(alpha, beta, active, j, bnorm, N, tol, min_iter, check_every):
    """Convergence/breakdown flags of the active problems after step j."""
    scale = np.abs(alpha[active, : j + 1]).max(axis=1) + beta[active, : j + 1].max(
        axis=1
    )
    breakdown = bnorm <= 8 * N * EPS * np.maximum(scale, np.finfo(float).tiny)
    done = breakdown.copy()
    if j + 1 >= min_iter and (j + 1 - min_iter) % check_every == 0:
        for t in np.flatnonzero(~breakdown):
            i = active[t]
            theta, s = _top_ritz(alpha[i, : j + 1], beta[i, :j])
            done[t] = bnorm[t] * s <= tol * abs(theta)
    return done


@dataclass(frozen=True)
class TopPair:
    r"""Top eigenpair of one symmetric operator.

    Attributes:
        value: Largest algebraic eigenvalue.
        vector: Array of shape (N,), unit eigenvector.
        residual: :math:`\|Av - \lambda v\|`, recomputed with one extra product.
        n_matvecs: Operator applications (including the residual check).
        converged: False when ARPACK stopped early (partial result returned).
    """

    value: float
    vector: NDArray[np.float64]  # (N,)
    residual: float
    n_matvecs: int
    converged: bool


def lanczos_top_pair(
    matvec: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    dim: int,
    v0: NDArray[np.float64],
    *,
    tol: float = 1e-12,
) -> TopPair:
    """Top eigenpair by ``eigsh(which="LA")``; dense ``eigh`` when ``dim <= 3``.

    Args:
        matvec: Symmetric operator on vectors of shape (dim,).
        dim: Operator dimension.
        v0: Start vector of shape (dim,).
        tol: ARPACK relative tolerance.

    Returns:
        The eigenpair with its residual.

    Raises:
        RuntimeError: If ARPACK stops without any Ritz pair.
    """
    count = [0]

    def mv(x: NDArray[np.float64]) -> NDArray[np.float64]:
        count[0] += 1
        return matvec(np.asarray(x).reshape(-1))

    if dim <= 3:  # ARPACK needs k < dim - 1; build the tiny matrix instead
        A = np.column_stack([mv(e) for e in np.eye(dim)])
        lam, V = np.linalg.eigh(0.5 * (A + A.T))
        val, vec, ok = float(lam[-1]), V[:, -1], True
    else:
        op = LinearOperator((dim, dim), matvec=mv, dtype=np.float64)
        try:
            lam, V = eigsh(op, k=1, which="LA", v0=v0, tol=tol)
            ok = True
        except ArpackNoConvergence as err:
            if len(err.eigenvalues) == 0:
                raise RuntimeError("eigsh returned no Ritz pair") from err
            lam, V, ok = err.eigenvalues, err.eigenvectors, False
        val, vec = float(lam[0]), V[:, 0]
    vec = vec / np.linalg.norm(vec)
    res = float(np.linalg.norm(mv(vec) - val * vec))
    return TopPair(val, vec, res, count[0], ok)
