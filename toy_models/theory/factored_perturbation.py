r"""The second-order gap law :math:`\phi_b C/b`, computed from factors.

:mod:`eoss.toy_models.theory.perturbation` derives, for a simple top eigenvalue
:math:`\lambda_1` of the mean :math:`M` (eigenpairs :math:`(\lambda_j, u_j)`),

.. math::

    \mathrm{gap}(b) \approx \frac{\phi_b\, C}{b},\qquad
    C = \mathbb E_i \sum_{j\ge2}\frac{(u_j^\top M_i u_1)^2}{\lambda_1-\lambda_j},

with :math:`\phi_b = 1` with replacement (and online) and
:math:`\phi_b = (n-b)/(n-1)` without replacement. That module takes dense
:math:`(n, m, m)` stacks; this one needs only :math:`M_i u_1 = F_i^\top S_i F_i
u_1`, an :math:`(n, m)` array, and one eigendecomposition of the
:math:`m\times m` mean (so it is skipped above :data:`MAX_DIM`). For ``online``
sampling the mean is the diagonal population mean and the expectation is
estimated on the reference sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.families import GaussianFamily

MAX_DIM = 2048  # one m x m eigh: ~1 s at m = 2048 on 2 cores


@dataclass(frozen=True)
class PerturbationLaw:
    """Coefficient of the second-order law and the spectral gap it needs.

    Attributes:
        coefficient: C.
        top_eigenvalue: λ_1 of the mean.
        spectral_gap: δ = λ_1 − λ_2 of the mean.
        n: Dataset size (for φ_b; 0 for a population).
    """

    coefficient: float
    top_eigenvalue: float
    spectral_gap: float
    n: int

    def gap(self, b: ArrayLike, *, without: bool) -> NDArray[np.float64]:
        """Predicted gap φ_b C / b.

        Args:
            b: Batch sizes.
            without: Sampling without replacement (φ_b = (n − b)/(n − 1)).

        Returns:
            The prediction at each b.
        """
        bb = np.asarray(b, dtype=np.float64)
        phi = (self.n - bb) / (self.n - 1) if without and self.n > 1 else 1.0
        return phi * self.coefficient / bb


def perturbation_law(
    sample: FactorSample, *, center_diag: NDArray[np.float64] | None = None
) -> PerturbationLaw | None:
    """C of the second-order law for uniform draws from ``sample``.

    Args:
        sample: The per-sample matrices (the dataset, or an online reference
            sample).
        center_diag: Array of shape (m,), a diagonal population mean (online),
            or None for the dataset mean.

    Returns:
        The law, or None when m > MAX_DIM or the top eigenvalue is degenerate
        (then the gap is not C/b: the first-order term survives, ~1/sqrt(b)).
    """
    m = sample.dim
    if m > MAX_DIM:
        return None
    if center_diag is None:
        w, U = np.linalg.eigh(sample.mean_matrix())
    else:
        order = np.argsort(center_diag, kind="stable")
        w, U = center_diag[order], np.eye(m)[:, order]
    delta = float(w[-1] - w[-2]) if m > 1 else np.inf
    if delta <= 1e3 * np.finfo(float).eps * max(1.0, float(np.abs(w).max())):
        return None
    u1 = U[:, -1]
    F = sample.factors
    S = np.ones(F.shape[:2]) if sample.signs is None else sample.signs
    Mu1 = np.einsum("nrm,nr->nm", F, S * (F @ u1))  # (n, m): M_i u_1
    proj = Mu1 @ U[:, :-1]  # (n, m-1): u_j^T M_i u_1, j >= 2
    C = float(np.mean(proj**2, axis=0) @ (1.0 / (w[-1] - w[:-1])))
    return PerturbationLaw(C, float(w[-1]), delta, sample.n)


def gaussian_population_law(family: GaussianFamily) -> PerturbationLaw | None:
    r"""Exact population C of a Gaussian family (for ``online`` sampling).

    With rows :math:`N(0, \Sigma/r)`, :math:`\Sigma = \operatorname{diag}(s)`,
    Isserlis gives :math:`\mathbb E (M_i)_{j1}^2 = s_j s_1 / r` for
    :math:`j \ne 1`, and the residual adds :math:`\rho^2 \mathbb E h_j^2 h_1^2 =
    \rho^2/m^2`, so :math:`C = \sum_{j\ne1} (s_j s_1/r + \rho^2/m^2)/(s_1 - s_j)`.

    Args:
        family: The family (its top scale must be strictly largest).

    Returns:
        The law (n = inf, so φ_b = 1), or None for a degenerate top.
    """
    s, r, m = family.scales, family.gaussian_rank, family.dim
    k = int(np.argmax(s))
    rest = np.delete(s, k)
    if m == 1 or s[k] - rest.max() <= 1e3 * np.finfo(float).eps * s[k]:
        return None
    terms = (rest * s[k] / r + family.residual**2 / m**2) / (s[k] - rest)
    return PerturbationLaw(float(terms.sum()), float(s[k]), float(s[k] - rest.max()), 0)
