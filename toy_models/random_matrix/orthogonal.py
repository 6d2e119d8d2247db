r"""The orthogonal family: each sample's matrix in its own direction.

:math:`M_i = a_i e_{k_i} e_{k_i}^\top` with distinct directions :math:`k_i`: the
diagonal-network case generalised. MiniBS and FullBS have closed forms
(:func:`orthogonal_minibs`, :func:`orthogonal_fullbs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

from eoss.toy_models.random_matrix.factor_sample import FactorSample


@dataclass(frozen=True)
class OrthogonalFamily:
    r"""Each sample's matrix in its own direction: :math:`a_i e_{k_i} e_{k_i}^\top`.

    A draw of ``n <= dim`` samples uses ``n`` distinct random coordinates, so
    :math:`\mathbb E M_i = (\mathbb E a) I/m = I/m`. Weights are
    :math:`\mathrm{Gamma}(\kappa, 1/\kappa)` (mean 1, variance :math:`1/\kappa`),
    or all 1 when ``weight_shape`` is None.

    Attributes:
        dim: Matrix dimension m.
        weight_shape: Gamma shape κ > 0, or None for equal weights.
    """

    dim: int
    weight_shape: float | None = 1.0
    name: str = "orthogonal"

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if self.weight_shape is not None and not self.weight_shape > 0:
            raise ValueError(f"weight_shape must be > 0, got {self.weight_shape}")

    @property
    def rank(self) -> int:
        """One row per sample."""
        return 1

    def weights(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """Draw ``n`` weights :math:`a_i`.

        Args:
            n: Number of weights.
            rng: Random generator.

        Returns:
            Array of shape (n,).
        """
        if self.weight_shape is None:
            return np.ones(n)
        kappa = self.weight_shape
        return rng.gamma(kappa, 1.0 / kappa, size=n)

    def sample(self, n: int, rng: np.random.Generator) -> FactorSample:
        r"""Draw ``n`` samples in ``n`` distinct random directions.

        Args:
            n: Number of samples, at most ``dim``.
            rng: Random generator.

        Returns:
            Factors :math:`\sqrt{a_i} e_{k_i}`, shape (n, 1, m).

        Raises:
            ValueError: If ``n > dim`` (directions would have to repeat).
        """
        if n > self.dim:
            raise ValueError(
                f"orthogonal family: n={n} samples need n <= dim={self.dim}"
            )
        a = self.weights(n, rng)
        dirs = rng.permutation(self.dim)[:n]
        F = np.zeros((n, 1, self.dim))
        F[np.arange(n), 0, dirs] = np.sqrt(a)
        return FactorSample(F)

    def sample_batches(self, k: int, b: int, rng: np.random.Generator) -> FactorSample:
        """Draw ``k`` fresh batches, directions distinct within each batch.

        Args:
            k: Number of batches.
            b: Batch size (<= dim).
            rng: Random generator.

        Returns:
            Factors of shape (k b, 1, m), batch after batch.
        """
        return FactorSample(
            np.concatenate([self.sample(b, rng).factors for _ in range(k)])
        )

    def population_diagonal(self) -> NDArray[np.float64]:
        """The diagonal of :math:`E M_i = I/m` (mean weight 1).

        Returns:
            Array of shape (m,).
        """
        return np.full(self.dim, 1.0 / self.dim)

    def population_top(self) -> tuple[float, NDArray[np.float64]]:
        r""":math:`\lambda_{\max}(I/m) = 1/m`; every unit vector is a top vector.

        Returns:
            ``(1/m, e_0)``.
        """
        v = np.zeros(self.dim)
        v[0] = 1.0
        return 1.0 / self.dim, v

    def parameters(self) -> dict[str, float | int | str | None]:
        """JSON-safe description.

        Returns:
            The parameters.
        """
        return {"family": self.name, "dim": self.dim, "weight_shape": self.weight_shape}


def orthogonal_weights(sample: FactorSample) -> NDArray[np.float64]:
    r"""The weights :math:`a_i = \|F_i\|^2` of an orthogonal-family sample.

    Args:
        sample: A draw of :class:`OrthogonalFamily`.

    Returns:
        Array of shape (n,).
    """
    return np.einsum("nrm,nrm->n", sample.factors, sample.factors)


def orthogonal_fullbs(a: NDArray[np.float64]) -> float:
    r"""FullBS of ``n`` orthogonal samples: :math:`\max_i a_i / n`.

    Args:
        a: Weights, shape (n,).

    Returns:
        :math:`\lambda_{\max}(H)`.
    """
    return float(np.max(a)) / a.shape[0]


def orthogonal_minibs(a: NDArray[np.float64], b: int) -> float:
    r"""Exact MiniBS of orthogonal samples, batches without replacement.

    :math:`H_B` is diagonal with entries :math:`a_i/b`, :math:`i \in B`, so
    :math:`\lambda_{\max}(H_B) = \max_{i\in B} a_i / b`. With the weights sorted
    ascending, :math:`a_{(k)}` is the batch maximum with probability
    :math:`\binom{k-1}{b-1}/\binom{n}{b}`:

    .. math:: \mathrm{MiniBS}_b = \frac1b \sum_{k=b}^{n}
        \frac{\binom{k-1}{b-1}}{\binom{n}{b}}\, a_{(k)} .

    With equal weights the gap is exactly :math:`a (1/b - 1/n)`.

    Args:
        a: Weights, shape (n,).
        b: Batch size, 1 <= b <= n.

    Returns:
        :math:`\mathbb E_B \lambda_{\max}(H_B)`.

    Raises:
        ValueError: If ``b`` is outside [1, n].
    """
    n = a.shape[0]
    if not 1 <= b <= n:
        raise ValueError(f"need 1 <= b <= n={n}, got b={b}")
    srt = np.sort(a)
    k = np.arange(b, n + 1, dtype=np.float64)
    # P(max = a_(k)) = C(k-1, b-1) / C(n, b), via log-gamma: no overflow.
    logp = (gammaln(k) - gammaln(b) - gammaln(k - b + 1)) - (
        gammaln(n + 1) - gammaln(b + 1) - gammaln(n - b + 1)
    )
    return float(np.sum(np.exp(logp) * srt[b - 1 :])) / b
