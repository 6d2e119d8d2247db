r"""Lanczos with full reorthogonalisation and residual certificates, batched.

For a symmetric operator :math:`A` and start vector :math:`v_0`, ``m`` steps build
an orthonormal basis :math:`Q_m` of the Krylov space and the tridiagonal
:math:`T_m = Q_m^\top A Q_m`. A Ritz pair :math:`(\theta, y = Q_m s)` of
:math:`T_m` has residual

.. math::

    \|A y - \theta y\| = \beta_m |s_m| \quad\text{(exact arithmetic)},

and for a symmetric :math:`A` some eigenvalue :math:`\lambda` satisfies
:math:`|\lambda - \theta| \le \|A y - \theta y\|`. The solver stops when every
wanted Ritz pair has :math:`\beta_m |s_m| \le \text{tol}\,|\theta|` (a certified
relative eigenvalue error :math:`\le` tol for the nearest eigenvalue), but never
before ``min_iter`` steps: a residual stop alone can be fooled when the start
vector has not yet found the top eigenvector (PERF-NOTES: ~1% errors on a few
mini-batches without the floor).

Reported residuals are *true* residuals :math:`\|A y - \theta y\|`, from one
fresh product per wanted Ritz vector after the stop (counted in ``n_matvecs``), so
an operator that is not symmetric or not deterministic shows up as an unconverged
pair instead of a silent error.

Batched mode: ``v0`` of shape (K, n) runs K independent problems in lock-step;
``matvec`` then maps (K, n) → (K, n), row k through problem k's operator (e.g. a
``vmap`` over stacked mini-batches). All problems run until the last converges.

Breakdown (:math:`\beta_j \approx 0`, an invariant subspace) restarts with a random
vector orthogonal to the basis and a zero coupling in :math:`T`, as ARPACK does,
so a deficient start vector (e.g. an exact eigenvector) cannot hide the top of the
spectrum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Which = Literal["LA", "SA", "LM"]
_WHICH = ("LA", "SA", "LM")
# Breakdown threshold on beta_j, in units of eps(dtype) * ||T||: with full
# reorthogonalisation an invariant subspace gives beta_j of a few eps * ||A||.
_BREAKDOWN_EPS = 1e3
# Round-off allowance on residuals, in units of eps(dtype) * ||T||.
_ROUNDOFF_EPS = 1e2
# Kahan-Parlett/DGKS: a second Gram-Schmidt pass when the norm drops below this.
_DGKS_ETA = 0.7071
_TINY = torch.finfo(torch.float64).tiny


@dataclass(frozen=True)
class LanczosResult:
    """Wanted Ritz pairs with certificates.

    Attributes:
        eigenvalues: (..., k) Ritz values ordered by ``which`` (descending for
            ``LA``, ascending for ``SA``, by descending magnitude for ``LM``).
        eigenvectors: (..., n, k) unit Ritz vectors, or None unless requested.
        residuals: (..., k) true residual norms ‖A y − θ y‖.
        n_matvecs: Matrix-vector products per problem (Lanczos steps plus one per
            wanted pair for the true residuals).
        converged: (..., k) whether ‖A y − θ y‖ ≤ tol·|θ| (+ round-off).
        residual_estimates: (..., k) the recurrence's β_m·|s_m| at the stop.
    """

    eigenvalues: Tensor
    eigenvectors: Tensor | None
    residuals: Tensor
    n_matvecs: int
    converged: Tensor
    residual_estimates: Tensor

    @property
    def all_converged(self) -> bool:
        """Whether every wanted pair of every problem converged."""
        return bool(self.converged.all())


class _Basis:
    """Growable (K, capacity, n) storage of Lanczos vectors."""

    def __init__(self, K: int, n: int, cap: int, like: Tensor) -> None:
        self.data = like.new_empty((K, cap, n))
        self.size = 0

    def slot(self) -> Tensor:
        """The next (K, n) row, grown into the basis (to be written in place)."""
        if self.size == self.data.shape[1]:
            K, cap, n = self.data.shape
            bigger = self.data.new_empty((K, 2 * cap, n))
            bigger[:, :cap] = self.data
            self.data = bigger
        self.size += 1
        return self.data[:, self.size - 1]

    def view(self) -> Tensor:
        return self.data[:, : self.size]


def _orthogonalise(Q: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    """Classical Gram-Schmidt of r (K, n) against Q (K, m, n), repeated if needed.

    Both products keep Q in its row-major (K, m, n) layout (``coefᵀ Q`` rather
    than ``Qᵀ coef``): batched products with a transposed Q were 3-5x slower on
    CPU. Returns r and its norms (K,).
    """
    norm = r.norm(dim=-1)
    for _ in range(2):
        before = norm
        coef = torch.bmm(Q, r.unsqueeze(-1)).transpose(1, 2)  # (K, 1, m)
        r = torch.baddbmm(r.unsqueeze(1), coef, Q, alpha=-1.0).squeeze(1)
        norm = r.norm(dim=-1)
        if bool((norm > _DGKS_ETA * before).all()):
            break
    return r, norm


def _select(theta: Tensor, k: int, which: Which) -> Tensor:
    """Indices (K, k) of the wanted Ritz values in each row of theta (K, m)."""
    if which == "LA":
        return torch.argsort(theta, dim=1, descending=True)[:, :k]
    if which == "SA":
        return torch.argsort(theta, dim=1)[:, :k]
    return torch.argsort(theta.abs(), dim=1, descending=True)[:, :k]


def _ritz(alpha: Tensor, beta: Tensor, k: int, which: Which):
    """Wanted Ritz values, vectors of T and residual estimates (float64, CPU)."""
    m = alpha.shape[1]
    T = torch.diag_embed(alpha)
    if m > 1:
        off = beta[:, : m - 1]
        T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    theta, S = torch.linalg.eigh(T)
    idx = _select(theta, k, which)
    theta_k = torch.gather(theta, 1, idx)
    S_k = torch.gather(S, 2, idx.unsqueeze(1).expand(-1, m, -1))  # (K, m, k)
    est = beta[:, m - 1 : m].abs() * S_k[:, m - 1, :].abs()
    anorm = theta.abs().amax(dim=1, keepdim=True)
    return theta_k, S_k, est, anorm


def _restart(Q: Tensor, rows: Tensor, gen: torch.Generator) -> Tensor:
    """Random unit vectors orthogonal to Q for the given rows (breakdown)."""
    n = Q.shape[-1]
    r = torch.randn(int(rows.sum()), n, generator=gen, dtype=torch.float64)
    r, norm = _orthogonalise(Q[rows], r.to(device=Q.device, dtype=Q.dtype))
    return r / norm.unsqueeze(-1)


def _step(op, Q: Tensor, beta_prev: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """One Lanczos step on q = Q[:, -1]: α = qᵀAq, the residual r and ‖r‖."""
    q = Q[:, -1]
    w = op(q)
    a = torch.linalg.vecdot(w, q)
    r = torch.addcmul(w, a.unsqueeze(-1), q, value=-1.0)  # a new tensor
    if beta_prev is not None:
        r.addcmul_(beta_prev.to(r).unsqueeze(-1), Q[:, -2], value=-1.0)
    return (a, *_orthogonalise(Q, r))


def _next_vector(r, Q: _Basis, alpha, beta, gen) -> None:
    """Append r/β, or a random restart (and β := 0 in place) for broken-down rows."""
    eps = torch.finfo(r.dtype).eps
    old = Q.view()
    q = Q.slot()
    torch.div(r, beta[:, -1].clamp_min(_TINY).to(r).unsqueeze(-1), out=q)
    scale = alpha.abs().amax(dim=1) + beta.amax(dim=1)
    broken = beta[:, -1] <= _BREAKDOWN_EPS * eps * scale
    if bool(broken.any()):
        beta[broken, -1] = 0.0
        rows = broken.to(q.device)
        q[rows] = _restart(old, rows, gen)


def _check_args(v0: Tensor, k: int, which: str, tol: float) -> None:
    if v0.ndim not in (1, 2) or v0.shape[-1] == 0:
        raise ValueError(f"v0 must have shape (n,) or (K, n), got {tuple(v0.shape)}")
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    if not 1 <= k <= v0.shape[-1]:
        raise ValueError(f"need 1 <= k <= n = {v0.shape[-1]}, got k = {k}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if not v0.is_floating_point():
        raise ValueError(f"v0 must be floating point, got {v0.dtype}")
    if bool((v0.norm(dim=-1) == 0).any()):
        raise ValueError("v0 has a zero row")


def lanczos(
    matvec: Callable[[Tensor], Tensor],
    v0: Tensor,
    *,
    k: int = 1,
    which: Which = "LA",
    tol: float = 1e-3,
    min_iter: int = 10,
    max_iter: int = 200,
    return_vectors: bool = False,
    gen: torch.Generator | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
) -> LanczosResult:
    r"""Extreme eigenpairs of a symmetric operator (one problem or K in lock-step).

    Args:
        matvec: :math:`v \mapsto A v`; (n,) → (n,) for a 1-d ``v0``, (K, n) →
            (K, n) for a 2-d ``v0``. Must not modify its input.
        v0: Start vector(s), shape (n,) or (K, n); need not be normalised. Its
            dtype and device are used throughout.
        k: Number of wanted eigenpairs.
        which: ``"LA"`` largest algebraic (sharpness), ``"SA"`` smallest algebraic,
            ``"LM"`` largest magnitude.
        tol: Relative residual target ‖A y − θ y‖ ≤ tol·|θ|.
        min_iter: Minimum number of steps before the residual stop may fire
            (clipped to n).
        max_iter: Maximum number of steps (clipped to n); hitting it without
            convergence is reported in ``converged``.
        return_vectors: Also return the Ritz vectors.
        gen: CPU generator for restart vectors after a breakdown (default: a
            generator seeded with 0, so results stay deterministic).
        callback: Called after every step with (m, wanted Ritz values of shape
            (K, k)); for convergence studies (costs one small eigensolve per step).

    Returns:
        The :class:`LanczosResult`; leading dimension K only for a 2-d ``v0``.

    Raises:
        ValueError: On bad shapes, ``which``, ``k`` or ``tol``.
    """
    _check_args(v0, k, which, tol)
    single = v0.ndim == 1
    V = v0.unsqueeze(0) if single else v0
    op = (lambda x: matvec(x[0]).unsqueeze(0)) if single else matvec
    K, n = V.shape
    max_iter = max(k, min(max_iter, n))
    min_iter = max(1, min(min_iter, max_iter))
    gen = gen if gen is not None else torch.Generator().manual_seed(0)
    eps = torch.finfo(V.dtype).eps
    cap = min(max_iter, max(2 * min_iter, 16))
    Q = _Basis(K, n, cap, V)
    alpha = torch.zeros(K, max_iter, dtype=torch.float64)
    beta = torch.zeros(K, max_iter, dtype=torch.float64)
    Q.slot().copy_(V / V.norm(dim=-1, keepdim=True))
    for j in range(max_iter):
        a, r, rnorm = _step(op, Q.view(), beta[:, j - 1] if j > 0 else None)
        alpha[:, j] = a.double().cpu()
        beta[:, j] = rnorm.double().cpu()
        m = j + 1
        if m >= min_iter or m == max_iter or callback is not None:
            theta, S, est, anorm = _ritz(alpha[:, :m], beta[:, :m], k, which)
            bound = tol * theta.abs() + _ROUNDOFF_EPS * eps * anorm
            if callback is not None:
                callback(m, theta)
            if m == max_iter or (m >= min_iter and bool((est <= bound).all())):
                break
        _next_vector(r, Q, alpha[:, :m], beta[:, :m], gen)
    return _finish(op, Q.view(), theta, S, est, bound, m, return_vectors, single)


def _finish(op, Q, theta, S, est, bound, m, return_vectors, single) -> LanczosResult:
    S_dev = S.to(device=Q.device, dtype=Q.dtype)
    Y = torch.bmm(S_dev.transpose(1, 2), Q).transpose(1, 2)  # (K, n, k)
    Y = Y / Y.norm(dim=1, keepdim=True)
    theta_dev = theta.to(device=Q.device, dtype=Q.dtype)
    k = Y.shape[2]
    res = (
        torch.stack(
            [
                (op(Y[:, :, i]) - theta_dev[:, i : i + 1] * Y[:, :, i]).norm(dim=1)
                for i in range(k)
            ],
            dim=1,
        )
        .double()
        .cpu()
    )
    converged = res <= bound
    lead = 0 if single else slice(None)
    return LanczosResult(
        eigenvalues=theta[lead],
        eigenvectors=Y[lead] if return_vectors else None,
        residuals=res[lead],
        n_matvecs=m + k,
        converged=converged[lead],
        residual_estimates=est[lead],
    )
