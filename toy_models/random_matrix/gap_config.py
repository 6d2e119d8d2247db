"""What one random-matrix gap simulation computes: family, sizes, sampling, paths."""

from __future__ import annotations

from dataclasses import dataclass

from eoss.toy_models.random_matrix.families import (
    FAMILY_NAMES,
    HessianFamily,
    make_family,
)
from eoss.toy_models.random_matrix.path_costs import PATH_CHOICES
from eoss.toy_models.random_matrix.sampling import SAMPLINGS, Sampling


@dataclass(frozen=True)
class GapConfig:
    """What to simulate (all fields JSON-safe; validated on construction).

    Attributes:
        family: One of :data:`eoss.toy_models.random_matrix.families.FAMILY_NAMES`.
        dim: Matrix dimension m.
        n: Dataset size (``online``: reference sample size).
        sampling: ``without``, ``with`` or ``online``.
        batch_sizes: Batch sizes b (each >= 1; <= n for ``without``).
        n_batches: Batches K per batch size (>= 2, for a standard error).
        spike: ℓ of the spiked covariance (``spiked``, ``block``).
        power: Exponent s of ``powerlaw``.
        rank: Rows per sample (None: family default).
        residual: Indefinite residual strength ρ (Gaussian families).
        weight_shape: Gamma shape of ``orthogonal`` weights (None: equal).
        path: Solver path request (see :data:`batch_spectra.PATH_CHOICES`).
        tol: Relative residual tolerance of the Lanczos paths.
    """

    family: str = "spiked"
    dim: int = 200
    n: int = 1024
    sampling: Sampling = "without"
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
    n_batches: int = 400
    spike: float = 10.0
    power: float = 1.0
    rank: int | None = None
    residual: float = 0.0
    weight_shape: float | None = 1.0
    path: str = "auto"
    tol: float = 1e-8

    def __post_init__(self) -> None:
        if self.family not in FAMILY_NAMES:
            raise ValueError(
                f"unknown family {self.family!r}; choose from {', '.join(FAMILY_NAMES)}"
            )
        if self.sampling not in SAMPLINGS:
            raise ValueError(
                f"sampling must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}"
            )
        for name in ("dim", "n"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_batches < 2:
            raise ValueError(f"n_batches must be >= 2, got {self.n_batches}")
        self._check_batch_sizes()
        if self.path not in PATH_CHOICES:
            raise ValueError(f"path must be one of {', '.join(PATH_CHOICES)}")
        if not 0 < self.tol < 1:
            raise ValueError(f"tol must be in (0, 1), got {self.tol}")
        if self.rank is not None and self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if self.family == "orthogonal" and self.n > self.dim:
            raise ValueError(f"orthogonal family needs n <= dim, got n={self.n}")
        self.build_family()  # validates the family parameters

    def _check_batch_sizes(self) -> None:
        if len(self.batch_sizes) == 0:
            raise ValueError("batch_sizes is empty")
        bad = [b for b in self.batch_sizes if b < 1]
        if bad:
            raise ValueError(f"batch sizes must be positive, got {bad}")
        if self.sampling == "without" and max(self.batch_sizes) > self.n:
            raise ValueError(
                f"batch size {max(self.batch_sizes)} > n={self.n} is impossible "
                "without replacement"
            )
        online = self.sampling == "online"
        if self.family == "orthogonal" and online and max(self.batch_sizes) > self.dim:
            raise ValueError("orthogonal online batches need b <= dim")

    def build_family(self) -> HessianFamily:
        """The family these parameters describe.

        Returns:
            The family object.
        """
        return make_family(
            self.family,
            self.dim,
            spike=self.spike,
            power=self.power,
            rank=self.rank,
            residual=self.residual,
            weight_shape=self.weight_shape,
        )
