r"""Per-sample matrices held by their factors, :math:`M_i = F_i^\top S_i F_i`.

Keeping the factors :math:`F_i \in \mathbb R^{r \times m}` (and the row signs
:math:`s_i`) instead of :math:`m \times m` matrices is what makes the gap
simulation fast: a batch sum has rank at most :math:`br`, and its nonzero
spectrum is that of a :math:`br \times br` Gram matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, eq=False)
class FactorSample:
    r"""``n`` per-sample matrices :math:`M_i = F_i^\top \mathrm{diag}(s_i) F_i`.

    Attributes:
        factors: Array of shape (n, r, m), the rows of each :math:`F_i`.
        signs: Array of shape (n, r) with entries in {+1, -1}, or None when
            every :math:`M_i` is positive semi-definite (all signs +1).
    """

    factors: NDArray[np.float64]  # (n, r, m)
    signs: NDArray[np.float64] | None = None  # (n, r)

    def __post_init__(self) -> None:
        if self.factors.ndim != 3 or min(self.factors.shape) < 1:
            raise ValueError(f"factors must be (n, r, m), got {self.factors.shape}")
        if self.signs is not None and self.signs.shape != self.factors.shape[:2]:
            raise ValueError(
                f"signs must be {self.factors.shape[:2]}, got {self.signs.shape}"
            )

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.factors.shape[0])

    @property
    def rank(self) -> int:
        """Rows per sample (r)."""
        return int(self.factors.shape[1])

    @property
    def dim(self) -> int:
        """Matrix dimension (m)."""
        return int(self.factors.shape[2])

    @property
    def is_psd(self) -> bool:
        """True when every :math:`M_i` is positive semi-definite."""
        return self.signs is None or bool(np.all(self.signs > 0))

    def rows(self, batches: NDArray[np.int64]) -> NDArray[np.float64]:
        """Stacked factor rows of index batches.

        Args:
            batches: Array of shape (k, b), sample indices.

        Returns:
            Array of shape (k, b * r, m).
        """
        k, b = batches.shape
        return self.factors[batches].reshape(k, b * self.rank, self.dim)

    def row_signs(self, batches: NDArray[np.int64]) -> NDArray[np.float64] | None:
        """Signs of the stacked rows of index batches.

        Args:
            batches: Array of shape (k, b), sample indices.

        Returns:
            Array of shape (k, b * r), or None for a PSD sample.
        """
        if self.signs is None:
            return None
        return self.signs[batches].reshape(batches.shape[0], -1)

    def quadratic_forms(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        r""":math:`v^\top M_i v = \sum_c s_{ic} (F_{ic} \cdot v)^2` for every sample.

        Args:
            v: Array of shape (m,).

        Returns:
            Array of shape (n,).
        """
        proj = (self.factors @ v) ** 2  # (n, r)
        if self.signs is not None:
            proj = proj * self.signs
        return proj.sum(axis=1)

    def matrices(self) -> NDArray[np.float64]:
        """The dense per-sample matrices (for checks on small cases).

        Returns:
            Array of shape (n, m, m).
        """
        F = self.factors
        S = np.ones(F.shape[:2]) if self.signs is None else self.signs
        return np.einsum("nri,nr,nrj->nij", F, S, F)

    def mean_matrix(self) -> NDArray[np.float64]:
        r""":math:`H = \frac1n \sum_i M_i`, formed densely.

        Returns:
            Array of shape (m, m).
        """
        flat = self.factors.reshape(-1, self.dim)
        if self.signs is None:
            return flat.T @ flat / self.n
        return (flat.T * self.signs.reshape(-1)) @ flat / self.n
