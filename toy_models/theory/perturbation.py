r"""Second-order perturbation law of the gap: :math:`\mathrm{gap}(b) \approx C/b`.

Let :math:`H = \frac1N\sum_i M_i` have a simple top eigenvalue :math:`\lambda_1`
(eigenvector :math:`u_1`, other eigenpairs :math:`(\lambda_j, u_j)`, spectral
gap :math:`\delta = \lambda_1 - \lambda_2`) and :math:`\Delta = H_B - H`. Rayleigh-
Schrödinger perturbation theory gives

.. math::

    \lambda_{\max}(H + \Delta) = \lambda_1 + u_1^\top\Delta u_1
      + \sum_{j \ge 2} \frac{(u_j^\top \Delta u_1)^2}{\lambda_1 - \lambda_j}
      + O(\|\Delta\|^3/\delta^2).

The first-order term has mean zero, and for a mean of :math:`b` draws
:math:`\mathbb E(u_j^\top\Delta u_1)^2 = \frac{\phi_b}{b}\,\overline{(u_j^\top D_i
u_1)^2}` with :math:`D_i = M_i - H`, :math:`\phi_b = 1` with replacement and
:math:`\phi_b = (N - b)/(N - 1)` without. Hence

.. math::

    \mathrm{MiniBS}_b - \mathrm{FullBS} \approx \frac{\phi_b\,C}{b},\qquad
    C = \frac1N\sum_i \sum_{j\ge2}\frac{(u_j^\top D_i u_1)^2}{\lambda_1-\lambda_j},

valid once :math:`\|\Delta\| \ll \delta`, i.e. roughly
:math:`b \gg 2\sigma^2\log(2d)/\delta^2` by matrix Bernstein. So a :math:`1/b`
law of the gap at large :math:`b` is a *perturbative* fact (with this constant),
not a consequence of matrix Bernstein, whose bound decays only like
:math:`1/\sqrt b` there. If the top eigenvalue is degenerate (or
:math:`\delta \to 0`), the first-order term no longer averages out
(:math:`\mathbb E\lambda_{\max}` of the top block of :math:`\Delta`) and the gap
decays like :math:`1/\sqrt b` instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eoss.toy_models.theory.bernstein import bernstein_parameters


@dataclass(frozen=True)
class PerturbativeGap:
    r"""The second-order gap law of a finite population of symmetric matrices.

    Attributes:
        coefficient: :math:`C` in gap ≈ φ_b C / b.
        top_eigenvalue: :math:`\lambda_1` of the population mean H.
        spectral_gap: :math:`\delta = \lambda_1 - \lambda_2` of H.
        validity_batch_size: :math:`2\sigma^2\log(2d)/\delta^2`; the law needs
            ``b`` well above it.
        n: Population size N.
    """

    coefficient: float
    top_eigenvalue: float
    spectral_gap: float
    validity_batch_size: float
    n: int

    def gap(self, b: int | np.ndarray, *, replace: bool = True) -> float | np.ndarray:
        """Predicted gap φ_b C / b.

        Args:
            b: Batch size(s) >= 1 (<= N without replacement).
            replace: Sampling with (φ_b = 1) or without replacement.

        Returns:
            The prediction, a float for scalar ``b``.

        Raises:
            ValueError: If ``b`` is out of range.
        """
        arr = np.asarray(b, dtype=np.float64)
        if np.any(arr < 1) or (not replace and np.any(arr > self.n)):
            raise ValueError(f"b must be in [1, {self.n}] without replacement")
        phi = 1.0 if replace or self.n == 1 else (self.n - arr) / (self.n - 1)
        out = phi * self.coefficient / arr
        return float(out) if out.ndim == 0 else out


def perturbative_gap(mats: np.ndarray) -> PerturbativeGap:
    """Second-order coefficient of the gap for uniform sampling from ``mats``.

    Args:
        mats: Array of shape (N, d, d), symmetric (e.g. per-sample Hessians).

    Returns:
        The :class:`PerturbativeGap`.

    Raises:
        ValueError: If ``mats`` is malformed, or the top eigenvalue of the mean
            is degenerate to rounding (then the law is 1/sqrt(b), not C/b).
    """
    sigma2, _ = bernstein_parameters(mats)  # validates shape, symmetry, finiteness
    A = np.asarray(mats, dtype=np.float64)
    H = A.mean(axis=0)
    w, U = np.linalg.eigh(H)
    delta = float(w[-1] - w[-2]) if w.size > 1 else math.inf
    if delta <= 1e3 * np.finfo(float).eps * max(1.0, abs(w).max()):
        raise ValueError("top eigenvalue of the mean is degenerate: no C/b law")
    u1 = U[:, -1]
    proj = np.einsum("dj,nde,e->nj", U[:, :-1], A - H, u1)  # (N, d-1)
    C = float(np.mean(proj**2, axis=0) @ (1.0 / (w[-1] - w[:-1])))
    dim = H.shape[0]
    valid = 2 * sigma2 * math.log(2 * dim) / delta**2 if math.isfinite(delta) else 0.0
    return PerturbativeGap(C, float(w[-1]), delta, valid, A.shape[0])
