r"""Per-sample Hessian families for the random-matrix gap simulation.

Every sample :math:`i` carries a symmetric :math:`m \times m` matrix held by its
factor :math:`F_i \in \mathbb R^{r \times m}` and row signs
:math:`s_i \in \{\pm 1\}^r`:

.. math::

    M_i = F_i^\top \operatorname{diag}(s_i) F_i ,\qquad
    H_B = \frac1b \sum_{i \in B} M_i ,\qquad H = \frac1n \sum_{i=1}^n M_i .

Keeping the factors (instead of :math:`m \times m` matrices) is what makes the
simulation fast: :math:`H_B` has rank at most :math:`br`, and its nonzero
spectrum is that of a :math:`br \times br` Gram matrix.

Families (all with :math:`\mathbb E M_i = \Sigma`, diagonal):

* ``isotropic``: rows :math:`\sim N(0, I_m/(mr))`, so :math:`\Sigma = I_m/m`
  and :math:`\operatorname{tr}\Sigma = 1`.
* ``spiked``: :math:`\Sigma = \operatorname{diag}(\ell, 1, \dots, 1)/m`.
* ``powerlaw``: :math:`\Sigma_{kk} \propto k^{-s}`, normalised to
  :math:`\operatorname{tr}\Sigma = 1` (so :math:`\mathbb E\|g\|^2 = 1` as for
  ``isotropic``).
* ``block``: rank-:math:`C` Gauss--Newton blocks :math:`J^\top J`, the rows of
  :math:`J \in \mathbb R^{C \times m}` i.i.d. :math:`N(0, \Sigma_\ell / C)` with
  the spiked :math:`\Sigma_\ell` (``spike=1`` gives isotropic rows). Every
  Gaussian family accepts a rank; ``block`` only changes the default to 10.
* ``orthogonal``: :math:`M_i = a_i e_{k_i} e_{k_i}^\top` with distinct
  directions :math:`k_i` (a random subset of the coordinates, so ``n <= dim``)
  and weights :math:`a_i \sim \mathrm{Gamma}(\kappa, 1/\kappa)` (mean 1;
  ``weight_shape=None`` gives :math:`a_i = 1`). This is the diagonal-network
  case generalised; MiniBS and FullBS have the closed forms
  :func:`orthogonal_minibs` and :func:`orthogonal_fullbs`.

Optional indefinite residual (Gaussian families): ``residual = rho > 0`` adds
:math:`\rho\,\varepsilon_i h_i h_i^\top` with :math:`\varepsilon_i = \pm 1`
fair coins and :math:`h_i \sim N(0, I_m/m)`, a zero-mean stand-in for the
:math:`\sum_c r_c \nabla^2 f_c` term of a network Hessian. It is stored as one
extra factor row with sign :math:`\varepsilon_i`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.orthogonal import OrthogonalFamily

FAMILY_NAMES = ("isotropic", "spiked", "powerlaw", "block", "orthogonal")
BLOCK_DEFAULT_RANK = 10


class HessianFamily(Protocol):
    """A distribution over per-sample matrices :math:`M_i` (see module docstring)."""

    name: str
    dim: int

    @property
    def rank(self) -> int:
        """Factor rows per sample."""
        ...

    def sample(self, n: int, rng: np.random.Generator) -> FactorSample:
        """Draw ``n`` i.i.d. samples."""
        ...

    def sample_batches(self, k: int, b: int, rng: np.random.Generator) -> FactorSample:
        """Draw ``k`` fresh batches of ``b`` samples, stacked batch after batch."""
        ...

    def population_top(self) -> tuple[float, NDArray[np.float64]]:
        r""":math:`\lambda_{\max}(\mathbb E M_i)` and a unit top eigenvector."""
        ...

    def population_diagonal(self) -> NDArray[np.float64]:
        r"""The diagonal of :math:`\mathbb E M_i` (diagonal for every family here)."""
        ...

    def parameters(self) -> dict[str, float | int | str | None]:
        """JSON-safe description of the family."""
        ...


@dataclass(frozen=True, eq=False)
class GaussianFamily:
    r"""Rank-:math:`r` factors with rows i.i.d. :math:`N(0, \Sigma/r)`, diagonal Σ.

    :math:`\mathbb E M_i = \Sigma = \operatorname{diag}(\text{scales})` for any
    rank. With ``residual = rho > 0`` each sample gets one more row
    :math:`\sqrt\rho\, h_i`, :math:`h_i \sim N(0, I_m/m)`, with a random sign.

    Attributes:
        name: Family name for records.
        scales: Array of shape (m,), the diagonal of Σ.
        gaussian_rank: Number of Gaussian rows r (>= 1).
        residual: Strength ρ >= 0 of the indefinite residual term.
        params: Extra parameters to record (spike, power).
    """

    name: str
    scales: NDArray[np.float64] = field(repr=False)  # (m,)
    gaussian_rank: int = 1
    residual: float = 0.0
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scales.ndim != 1 or np.any(self.scales < 0):
            raise ValueError("scales must be a 1-d array of non-negative numbers")
        if self.gaussian_rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.gaussian_rank}")
        if not (math.isfinite(self.residual) and self.residual >= 0):
            raise ValueError(f"residual must be >= 0, got {self.residual}")

    @property
    def dim(self) -> int:
        """Matrix dimension m."""
        return int(self.scales.shape[0])

    @property
    def rank(self) -> int:
        """Factor rows per sample (r, plus one with a residual)."""
        return self.gaussian_rank + (1 if self.residual > 0 else 0)

    def sample(self, n: int, rng: np.random.Generator) -> FactorSample:
        """Draw ``n`` i.i.d. samples.

        Args:
            n: Number of samples (>= 1).
            rng: Random generator.

        Returns:
            The samples' factors (and signs when ``residual > 0``).
        """
        r, m = self.gaussian_rank, self.dim
        F = rng.standard_normal((n, r, m)) * np.sqrt(self.scales / r)
        if self.residual <= 0:
            return FactorSample(F)
        h = rng.standard_normal((n, 1, m)) * math.sqrt(self.residual / m)
        eps = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        signs = np.concatenate([np.ones((n, r)), eps[:, None]], axis=1)
        return FactorSample(np.concatenate([F, h], axis=1), signs)

    def sample_batches(self, k: int, b: int, rng: np.random.Generator) -> FactorSample:
        """Draw ``k`` fresh batches of ``b`` i.i.d. samples (one sample of k b).

        Args:
            k: Number of batches.
            b: Batch size.
            rng: Random generator.

        Returns:
            Factors of shape (k b, r, m), batch after batch.
        """
        return self.sample(k * b, rng)

    def population_diagonal(self) -> NDArray[np.float64]:
        r"""The diagonal of :math:`\mathbb E M_i = \Sigma`.

        Returns:
            Array of shape (m,).
        """
        return self.scales.copy()

    def population_top(self) -> tuple[float, NDArray[np.float64]]:
        r"""Top eigenpair of :math:`\Sigma` (the residual has mean zero).

        Returns:
            ``(lambda_max, v)`` with ``v`` a coordinate vector of shape (m,).
        """
        k = int(np.argmax(self.scales))
        v = np.zeros(self.dim)
        v[k] = 1.0
        return float(self.scales[k]), v

    def variance_norm(self) -> float:
        r"""Exact :math:`\sigma^2 = \|\mathbb E (M_i - \Sigma)^2\|`.

        For rows :math:`j \sim N(0, \Sigma/r)`, Isserlis gives
        :math:`\mathbb E (F^\top F)^2 = \operatorname{tr}(\Sigma)\Sigma/r
        + (r+1)\Sigma^2/r`; the residual adds
        :math:`\rho^2(1/m + 2/m^2) I` and no cross term (its sign has mean 0).
        So :math:`\mathbb E(M_i - \Sigma)^2 = (\operatorname{tr}(\Sigma)\Sigma
        + \Sigma^2)/r + \rho^2(1/m + 2/m^2) I`, a diagonal matrix.

        Returns:
            :math:`\sigma^2`.
        """
        s, r, m = self.scales, self.gaussian_rank, self.dim
        diag = (s.sum() * s + s**2) / r + self.residual**2 * (1 / m + 2 / m**2)
        return float(diag.max())

    def parameters(self) -> dict[str, float | int | str | None]:
        """JSON-safe description (name, dim, rank, residual, extra params).

        Returns:
            The parameters.
        """
        return {
            "family": self.name,
            "dim": self.dim,
            "rank": self.gaussian_rank,
            "residual": self.residual,
            **self.params,
        }


def make_family(
    name: str,
    dim: int,
    *,
    spike: float = 10.0,
    power: float = 1.0,
    rank: int | None = None,
    residual: float = 0.0,
    weight_shape: float | None = 1.0,
) -> HessianFamily:
    """Build a family by name.

    Args:
        name: One of :data:`FAMILY_NAMES`.
        dim: Matrix dimension m (>= 1).
        spike: ℓ for ``spiked`` and ``block`` (>= 0).
        power: Exponent s of ``powerlaw`` (Σ_kk ∝ k^-s).
        rank: Gaussian rows per sample (default 1, ``block``: 10).
        residual: Indefinite residual strength ρ (Gaussian families).
        weight_shape: Gamma shape of ``orthogonal`` weights (None: equal).

    Returns:
        The family.

    Raises:
        ValueError: On an unknown name or invalid parameters.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if name == "orthogonal":
        if (rank or 1) != 1 or residual != 0:
            raise ValueError("orthogonal family: rank and residual are not supported")
        return OrthogonalFamily(dim, weight_shape)
    if name not in FAMILY_NAMES:
        raise ValueError(
            f"unknown family {name!r}; choose from {', '.join(FAMILY_NAMES)}"
        )
    if not (math.isfinite(spike) and spike >= 0):
        raise ValueError(f"spike must be >= 0, got {spike}")
    r = rank if rank is not None else (BLOCK_DEFAULT_RANK if name == "block" else 1)
    params: dict[str, float] = {}
    if name == "isotropic":
        scales = np.full(dim, 1.0 / dim)
    elif name in ("spiked", "block"):
        scales = np.full(dim, 1.0 / dim)
        scales[0] = spike / dim
        params["spike"] = spike
    else:
        if not math.isfinite(power):
            raise ValueError(f"power must be finite, got {power}")
        raw = np.arange(1, dim + 1, dtype=np.float64) ** (-power)
        scales = raw / raw.sum()
        params["power"] = power
    return GaussianFamily(name, scales, r, residual, params)
