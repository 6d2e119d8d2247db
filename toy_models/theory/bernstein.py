r"""Matrix Bernstein bounds for the mini-batch Hessian deviation.

Setting. Draw :math:`b` per-sample matrices :math:`M_1, \dots, M_b` (Hermitian,
:math:`d \times d`) i.i.d. with mean :math:`M = \mathbb E M_i`, and put

.. math::

    Z_b = \frac1b \sum_{i=1}^b (M_i - M),\qquad
    \sigma^2 = \| \mathbb E (M_i - M)^2 \|,\qquad
    \|M_i - M\| \le L \text{ a.s.}

Applied to :math:`S_i = (M_i - M)/b` (so :math:`\|S_i\| \le L/b` and
:math:`\|\sum_i \mathbb E S_i^2\| = \sigma^2/b`), matrix Bernstein
(Tropp 2015, *An Introduction to Matrix Concentration Inequalities*, Thm 6.1.1
for the norm, with :math:`d_1 + d_2 = 2d`; Thm 6.6.1 for :math:`\lambda_{\max}`,
which only needs :math:`\lambda_{\max}(M_i - M) \le L`) gives

.. math::

    \mathbb E \|Z_b\| \le \sqrt{\frac{2\sigma^2 \log(2d)}{b}}
        + \frac{L \log(2d)}{3b},\qquad
    \mathbb E \lambda_{\max}(Z_b) \le \sqrt{\frac{2\sigma^2 \log d}{b}}
        + \frac{L \log d}{3b},

and the tails :math:`\mathbb P\{\|Z_b\| \ge t\} \le 2d\,
\exp\!\big(-\tfrac{b t^2/2}{\sigma^2 + L t/3}\big)` (:math:`d` instead of
:math:`2d` for :math:`\lambda_{\max}`).

Why this caps the EoSS gap. With :math:`M_i` the per-sample Hessians and
:math:`H_B` the mini-batch Hessian, Weyl's inequality gives
:math:`\lambda_{\max}(H_B) \le \lambda_{\max}(H) + \lambda_{\max}(H_B - H)`
draw by draw, and convexity of :math:`\lambda_{\max}` (Jensen) gives
:math:`\mathbb E\lambda_{\max}(H_B) \ge \lambda_{\max}(H)`, so

.. math::

    0 \le \mathrm{MiniBS}_b - \mathrm{FullBS}
      \le \mathbb E \lambda_{\max}(H_B - H)
      \le \sqrt{2\sigma^2 \log d / b} + L \log d / (3b).

Sampling *without* replacement is covered: Gross & Nesme (2010,
arXiv:1001.2738) show that the trace moment generating function of a sum drawn
without replacement is dominated by the one drawn with replacement, and both
Bernstein bounds above are proved from that mgf (Tropp 2015, Prop. 3.2.2), so
they hold verbatim (and are then loose by a finite-population factor: the
deviation is exactly 0 at b = N).

The two terms cross at :math:`b^* = L^2 \log(\cdot) / (18\sigma^2)`: below it
the bound is :math:`\approx L \log d / (3b)` (a :math:`1/b` law), above it
:math:`\approx \sqrt{2\sigma^2 \log d / b}` (a :math:`1/\sqrt b` law). A
``gap ∝ 1/b`` statement is therefore a statement about a bound in one regime,
not an equality for the gap.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Kind = Literal["norm", "lambda_max"]
EPS = np.finfo(np.float64).eps


def _check_params(sigma2: float, L: float, dim: int) -> None:
    if not (np.isfinite(sigma2) and sigma2 >= 0):
        raise ValueError(f"sigma2 must be finite and >= 0, got {sigma2}")
    if not (np.isfinite(L) and L >= 0):
        raise ValueError(f"L must be finite and >= 0, got {L}")
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim}")


def _as_batch(b: int | ArrayLike) -> tuple[NDArray[np.float64], bool]:
    arr = np.asarray(b, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 1):
        raise ValueError(f"batch size b must be >= 1, got {b}")
    return arr, arr.ndim == 0


def _log_factor(dim: int, kind: Kind) -> float:
    if kind == "norm":
        return math.log(2 * dim)
    if kind == "lambda_max":
        return math.log(dim)
    raise ValueError(f"kind must be 'norm' or 'lambda_max', got {kind!r}")


def _bound(sigma2: float, L: float, dim: int, b, kind: Kind):
    _check_params(sigma2, L, dim)
    arr, scalar = _as_batch(b)
    ell = _log_factor(int(dim), kind)
    out = np.sqrt(2.0 * sigma2 * ell / arr) + L * ell / (3.0 * arr)
    return float(out) if scalar else out


def expected_norm_bound(
    sigma2: float, L: float, dim: int, b: int | np.ndarray
) -> float | np.ndarray:
    r"""Bound on :math:`\mathbb E\|\frac1b\sum_{i=1}^b (M_i - M)\|`.

    For i.i.d. Hermitian :math:`d\times d` matrices :math:`M_i` with
    :math:`\mathbb E M_i = M`, :math:`\|M_i - M\| \le L` a.s. and
    :math:`\sigma^2 = \|\mathbb E (M_i - M)^2\|` (matrix Bernstein, Tropp 2015,
    Thm 6.1.1 with :math:`d_1 + d_2 = 2d`):
    :math:`\sqrt{2\sigma^2\log(2d)/b} + L\log(2d)/(3b)`. Also valid for
    sampling without replacement from a finite set (Gross & Nesme 2010).

    Args:
        sigma2: Matrix variance :math:`\sigma^2 \ge 0` of one summand.
        L: Almost-sure bound on :math:`\|M_i - M\|`.
        dim: Matrix dimension :math:`d \ge 1`.
        b: Batch size(s) :math:`\ge 1`; scalar or array (vectorised).

    Returns:
        The bound, a float for scalar ``b`` or an array shaped like ``b``.

    Raises:
        ValueError: On negative or non-finite parameters, ``dim < 1`` or ``b < 1``.
    """
    return _bound(sigma2, L, dim, b, "norm")


def expected_lambda_max_bound(
    sigma2: float, L: float, dim: int, b: int | np.ndarray
) -> float | np.ndarray:
    r"""Bound on :math:`\mathbb E\lambda_{\max}(\frac1b\sum_{i=1}^b (M_i - M))`.

    Matrix Bernstein, Hermitian case (Tropp 2015, Thm 6.6.1), which only needs
    the one-sided :math:`\lambda_{\max}(M_i - M) \le L`:
    :math:`\sqrt{2\sigma^2\log d/b} + L\log d/(3b)`. By Weyl it caps the gap
    :math:`\mathbb E\lambda_{\max}(H_B) - \lambda_{\max}(H)`. For ``dim = 1`` it
    is 0, which is exact: a centred scalar has mean 0.

    Args:
        sigma2: Matrix variance :math:`\sigma^2 \ge 0` of one summand.
        L: Almost-sure bound on :math:`\lambda_{\max}(M_i - M)` (or the norm).
        dim: Matrix dimension :math:`d \ge 1`.
        b: Batch size(s) :math:`\ge 1`; scalar or array (vectorised).

    Returns:
        The bound, a float for scalar ``b`` or an array shaped like ``b``.

    Raises:
        ValueError: On negative or non-finite parameters, ``dim < 1`` or ``b < 1``.
    """
    return _bound(sigma2, L, dim, b, "lambda_max")


def tail_bound(
    t: float | np.ndarray,
    sigma2: float,
    L: float,
    dim: int,
    b: int,
    *,
    kind: Kind = "norm",
) -> float | np.ndarray:
    r"""Bernstein tail :math:`\mathbb P\{\|Z_b\| \ge t\}` (or :math:`\lambda_{\max}`).

    :math:`\min\{1,\ D \exp(-\tfrac{b t^2/2}{\sigma^2 + L t/3})\}` with
    :math:`D = 2d` for ``kind="norm"`` (Tropp 2015, Thm 6.1.1) and :math:`D = d`
    for ``kind="lambda_max"`` (Thm 6.6.1).

    Args:
        t: Threshold(s) :math:`t \ge 0`.
        sigma2: Matrix variance of one summand.
        L: Almost-sure bound on one centred summand.
        dim: Matrix dimension.
        b: Batch size.
        kind: ``"norm"`` or ``"lambda_max"``.

    Returns:
        The probability bound, shaped like ``t``.

    Raises:
        ValueError: On invalid parameters or negative ``t``.
    """
    _check_params(sigma2, L, dim)
    bb, _ = _as_batch(b)
    tt = np.asarray(t, dtype=np.float64)
    if np.any(tt < 0):
        raise ValueError("t must be >= 0")
    _log_factor(int(dim), kind)  # validates kind
    prefactor = 2 * dim if kind == "norm" else dim
    denom = sigma2 + L * tt / 3.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # denom == 0 only when sigma2 = L = 0: then Z_b = 0 and P{. >= t} = 0.
        expo = np.where(tt > 0, bb * tt**2 / 2.0 / denom, 0.0)
    out = np.minimum(1.0, prefactor * np.exp(-expo))
    return float(out) if out.ndim == 0 else out


def crossover_batch_size(
    sigma2: float, L: float, dim: int, *, kind: Kind = "norm"
) -> float:
    r"""Batch size where the two Bernstein terms are equal.

    :math:`\sqrt{2\sigma^2\ell/b} = L\ell/(3b) \iff b^* = L^2\ell/(18\sigma^2)`,
    :math:`\ell = \log(2d)` (norm) or :math:`\log d` (:math:`\lambda_{\max}`).
    For :math:`b \ll b^*` the bound decays like :math:`1/b`, for
    :math:`b \gg b^*` like :math:`1/\sqrt b`.

    Args:
        sigma2: Matrix variance of one summand.
        L: Almost-sure bound on one centred summand.
        dim: Matrix dimension.
        kind: ``"norm"`` or ``"lambda_max"``.

    Returns:
        :math:`b^*` (``inf`` when ``sigma2 == 0`` and ``L > 0``; 0 when ``L == 0``).

    Raises:
        ValueError: On invalid parameters.
    """
    _check_params(sigma2, L, dim)
    ell = _log_factor(int(dim), kind)
    if L == 0 or ell == 0:
        return 0.0
    if sigma2 == 0:
        return math.inf
    return L**2 * ell / (18.0 * sigma2)


def bernstein_parameters(mats: np.ndarray) -> tuple[float, float]:
    r"""Bernstein parameters :math:`(\sigma^2, L)` of a set of symmetric matrices.

    With :math:`M = \frac1n\sum_i M_i` and :math:`D_i = M_i - M`:
    :math:`\sigma^2 = \|\frac1n\sum_i D_i^2\|` and :math:`L = \max_i \|D_i\|`.
    When ``mats`` is the whole population that batches are drawn from uniformly
    (e.g. all N per-sample Hessians), these are the exact parameters of one
    draw. When ``mats`` are i.i.d. samples from a larger distribution they are
    plug-in estimates, and ``L`` can only underestimate the a.s. bound.

    Args:
        mats: Array of shape (n, d, d), symmetric matrices.

    Returns:
        ``(sigma2, L)`` as floats.

    Raises:
        ValueError: If ``mats`` is not (n, d, d) with n >= 1, is not symmetric
            or is not finite.
    """
    A = np.asarray(mats, dtype=np.float64)
    if A.ndim != 3 or A.shape[1] != A.shape[2] or A.shape[0] < 1:
        raise ValueError(f"mats must have shape (n, d, d), got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("mats must be finite")
    scale = max(1.0, float(np.max(np.abs(A))))
    # Symmetry up to a few ulps of the entries (sums of float64 products).
    if np.max(np.abs(A - A.transpose(0, 2, 1))) > 64 * np.finfo(float).eps * scale:
        raise ValueError("mats must be symmetric")
    D = A - A.mean(axis=0)
    D = 0.5 * (D + D.transpose(0, 2, 1))
    sq = np.einsum("nij,njk->ik", D, D) / A.shape[0]
    sigma2 = float(np.linalg.eigvalsh(0.5 * (sq + sq.T))[-1])
    eig = np.linalg.eigvalsh(D)  # (n, d) ascending
    L = float(np.max(np.maximum(np.abs(eig[:, 0]), np.abs(eig[:, -1]))))
    return max(sigma2, 0.0), L








