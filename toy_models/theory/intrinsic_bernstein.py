r"""Matrix Bernstein with intrinsic dimension (Tropp 2015, Thm 7.3.1).

With :math:`V = \mathbb E Z_b^2 = \Sigma / b`, :math:`\Sigma = \mathbb E(M_i - M)^2`,
the dimension :math:`d` in :mod:`eoss.toy_models.theory.bernstein` can be replaced by
:math:`4\,\mathrm{intdim}(\Sigma)`, :math:`\mathrm{intdim}(A) = \mathrm{tr}A/\|A\|
\in [1, d]`, which is much smaller when per-sample Hessians concentrate on a few
directions of a large parameter space.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate


def intrinsic_dimension(V: np.ndarray) -> float:
    r"""Intrinsic dimension :math:`\mathrm{intdim}(V) = \mathrm{tr} V / \|V\|`.

    Args:
        V: Symmetric positive-semidefinite array of shape (d, d), not zero.

    Returns:
        A number in :math:`[1, d]`.

    Raises:
        ValueError: If ``V`` is not square or is zero.
    """
    V = np.asarray(V, dtype=np.float64)
    if V.ndim != 2 or V.shape[0] != V.shape[1]:
        raise ValueError(f"V must be square, got shape {V.shape}")
    top = float(np.linalg.eigvalsh(0.5 * (V + V.T))[-1])
    if top <= 0:
        raise ValueError("V must be a nonzero positive-semidefinite matrix")
    return float(np.trace(V)) / top


def expected_lambda_max_bound_intrinsic(
    variance: np.ndarray, L: float, b: int | np.ndarray
) -> float | np.ndarray:
    r"""Intrinsic-dimension bound on :math:`\mathbb E\lambda_{\max}(Z_b)`.

    Tropp 2015, Thm 7.3.1: with :math:`V_b = \mathbb E Z_b^2 = \Sigma/b`
    (:math:`\Sigma = \mathbb E (M_i - M)^2`, the ``variance`` argument),
    :math:`v = \|V_b\|`, :math:`\delta = \mathrm{intdim}(\Sigma)` and
    :math:`\lambda_{\max}(M_i - M) \le L`,
    :math:`\mathbb P\{\lambda_{\max}(Z_b) \ge t\} \le 4\delta\exp(-\tfrac{t^2/2}
    {v + L t/(3b)})` for :math:`t \ge \sqrt v + L/(3b)`. Tropp states the
    expectation only up to a constant; here it is made explicit by integrating
    the tail: :math:`\mathbb E\lambda_{\max} \le \int_0^\infty \min(1,
    \text{tail}(t))\,dt` (tail := 1 below the threshold). It replaces
    :math:`\log d` by :math:`\log(4\delta)`, which wins when the per-sample
    Hessians have a few dominant directions in a large dimension.

    Args:
        variance: :math:`\Sigma`, array of shape (d, d), PSD and nonzero.
        L: Almost-sure bound on :math:`\lambda_{\max}(M_i - M)`.
        b: Batch size(s) :math:`\ge 1`; scalar or array.

    Returns:
        The bound, a float for scalar ``b`` or an array shaped like ``b``.

    Raises:
        ValueError: On invalid ``variance``, ``L`` or ``b``.
    """
    delta = intrinsic_dimension(variance)
    if not (np.isfinite(L) and L >= 0):
        raise ValueError(f"L must be finite and >= 0, got {L}")
    s2 = float(np.linalg.eigvalsh(0.5 * (variance + np.transpose(variance)))[-1])
    arr = np.asarray(b, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 1):
        raise ValueError(f"batch size b must be >= 1, got {b}")
    scalar = arr.ndim == 0
    out = np.array([_integrate_tail(s2 / bb, L / bb, delta) for bb in arr.ravel()])
    out = out.reshape(arr.shape)
    return float(out) if scalar else out


def _integrate_tail(v: float, Lb: float, delta: float) -> float:
    ell = math.log(4.0 * delta)  # > 0 since delta >= 1
    t0 = math.sqrt(v) + Lb / 3.0
    # t1 solves 4 delta exp(-(t^2/2)/(v + Lb t/3)) = 1.
    t1 = Lb * ell / 3.0 + math.sqrt((Lb * ell / 3.0) ** 2 + 2.0 * v * ell)
    start = max(t0, t1)

    def tail(t: float) -> float:
        return 4.0 * delta * math.exp(-(t * t / 2.0) / (v + Lb * t / 3.0))

    rest, _ = integrate.quad(tail, start, np.inf, epsabs=0.0, epsrel=1e-10)
    return start + rest
