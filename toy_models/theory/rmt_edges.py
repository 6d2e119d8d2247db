r"""Random-matrix predictions for the gap: Marchenko--Pastur edge and BBP outlier.

Random-matrix deterministic equivalents. For the Gaussian families a batch of
``b`` samples with ``r`` rows each is a sample covariance of :math:`c = br`
vectors :math:`x \sim N(0, \Sigma)` (rows :math:`N(0,\Sigma/r)`, so
:math:`H_B = \frac1c\sum_{k=1}^{c} x_k x_k^\top`). With
:math:`\Sigma = \frac1m\operatorname{diag}(\ell, 1, \dots, 1)` and aspect
ratio :math:`\gamma = m/c`:

* isotropic (:math:`\ell = 1`), Marchenko--Pastur: :math:`H_B = \frac1m S`
  with :math:`S = \frac1c\sum x x^\top`, :math:`x \sim N(0, I_m)`, whose top
  edge is :math:`(1+\sqrt\gamma)^2` for either :math:`\gamma < 1` or
  :math:`\gamma > 1` (the nonzero spectra of :math:`XX^\top` and
  :math:`X^\top X` agree), so :math:`\lambda_+ = \frac1m(1+\sqrt{m/c})^2`.
* spiked, Baik--Ben Arous--Péché: if :math:`\ell > 1+\sqrt\gamma` the top
  eigenvalue separates from the bulk and tends to
  :math:`\frac{\ell}{m}\big(1 + \frac{\gamma}{\ell-1}\big)
  = \frac{\ell}{m} + \frac{\ell}{(\ell-1)\,c}`; otherwise it sticks to
  :math:`\lambda_+`.

Consequences (``without`` sampling, FullBS at :math:`c = nr`):
isotropic :math:`\mathrm{gap} \approx (\frac1b - \frac1n)\frac1r
+ \frac{2}{\sqrt{mr}}(\frac1{\sqrt b} - \frac1{\sqrt n})`, a :math:`1/b` law for
:math:`br \ll m/4` and a :math:`1/\sqrt b` law above it; spiked (above the BBP
threshold) :math:`\mathrm{gap} \approx \frac{\ell}{(\ell-1)r}(\frac1b -
\frac1n)`, a pure :math:`1/b` law that steepens to :math:`-\infty` slope as
:math:`b \to n`. ``online`` drops the :math:`1/n` terms and uses the population
top (:math:`1/m`, :math:`\ell/m`). ``with`` sampling resamples the dataset,
whose mean has an MP-shaped spectrum rather than :math:`\Sigma`: no formula is
given here (the second-order law of :mod:`eoss.toy_models.theory.factored_perturbation`
covers it for an outlier top eigenvalue).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from eoss.toy_models.random_matrix.families import BLOCK_DEFAULT_RANK
from eoss.toy_models.random_matrix.gap_config import GapConfig

# Mean of the GOE Tracy-Widom law F_1 (Tracy & Widom 1996; value from
# Bornemann 2010, Math. Comp. 79, Table 5).
TW1_MEAN = -1.2065335745820


def mp_top_edge(dim: int, count: ArrayLike) -> NDArray[np.float64]:
    r"""Marchenko--Pastur top edge :math:`\frac1m(1+\sqrt{m/c})^2`.

    Args:
        dim: Dimension m.
        count: Number of rank-one terms c (= b r), scalar or array.

    Returns:
        The edge of the spectrum of :math:`\frac1c\sum_{k\le c} x_k x_k^\top /m`.
    """
    c = np.asarray(count, dtype=np.float64)
    return (1.0 + np.sqrt(dim / c)) ** 2 / dim


def tracy_widom_mean_top(dim: int, count: ArrayLike) -> NDArray[np.float64]:
    r"""Finite-size mean of :math:`\lambda_{\max}` for the isotropic family.

    Johnstone (2001): for :math:`X \in \mathbb R^{c\times m}` with i.i.d.
    :math:`N(0,1)` entries, :math:`\lambda_{\max}(X^\top X) \approx \mu +
    \sigma\,TW_1` with :math:`\mu = (\sqrt{c-1}+\sqrt m)^2`,
    :math:`\sigma = (\sqrt{c-1}+\sqrt m)(1/\sqrt{c-1}+1/\sqrt m)^{1/3}`; here
    :math:`H_B = X^\top X/(mc)`, so the mean is :math:`(\mu + \sigma\,
    \mathbb E TW_1)/(mc)`. Needs :math:`c \ge 2`.

    Args:
        dim: Dimension m.
        count: Number of rank-one terms c >= 2.

    Returns:
        The approximate :math:`\mathbb E\lambda_{\max}(H_B)`.
    """
    c = np.asarray(count, dtype=np.float64)
    a, s = np.sqrt(c - 1.0), math.sqrt(dim)
    mu = (a + s) ** 2
    sigma = (a + s) * (1.0 / a + 1.0 / s) ** (1.0 / 3.0)
    return (mu + TW1_MEAN * sigma) / (dim * c)


def bbp_top(dim: int, spike: float, count: ArrayLike) -> NDArray[np.float64]:
    r"""BBP limit of :math:`\lambda_{\max}` for the spiked covariance.

    :math:`\Sigma = \mathrm{diag}(\ell, 1, \dots, 1)/m` (see the module docstring).

    Args:
        dim: Dimension m.
        spike: ℓ.
        count: Number of rank-one terms c.

    Returns:
        :math:`\frac{\ell}{m}(1+\frac{\gamma}{\ell-1})` where
        :math:`\ell > 1+\sqrt\gamma`, else :math:`\frac1m(1+\sqrt\gamma)^2`.
    """
    c = np.asarray(count, dtype=np.float64)
    gamma = dim / c
    with np.errstate(divide="ignore", invalid="ignore"):
        outlier = spike / dim * (1.0 + gamma / (spike - 1.0))
    return np.where(spike > 1.0 + np.sqrt(gamma), outlier, mp_top_edge(dim, c))


def rmt_gap(config: GapConfig, b: ArrayLike) -> tuple[NDArray[np.float64], str] | None:
    """Deterministic-equivalent (or exact) gap curve, when one is known.

    Args:
        config: The simulation (family, sizes, sampling).
        b: Batch sizes.

    Returns:
        ``(gap, label)`` or None (``powerlaw``, ``orthogonal``, indefinite
        residual, or ``with`` sampling).
    """
    bb = np.asarray(b, dtype=np.float64)
    fam, m, n = config.family, config.dim, config.n
    if config.residual > 0 or fam in ("powerlaw", "orthogonal"):
        return None
    if config.sampling == "with":  # repeats: resampling an MP-shaped H, no formula
        return None
    r = (
        config.rank
        if config.rank is not None
        else (BLOCK_DEFAULT_RANK if fam == "block" else 1)
    )
    ell = 1.0 if fam == "isotropic" else config.spike

    def top(c):
        return bbp_top(m, ell, c)

    if config.sampling == "online":
        return top(bb * r) - max(ell, 1.0) / m, "BBP/Marchenko-Pastur"
    return top(bb * r) - top(float(n * r)), "BBP/Marchenko-Pastur"
