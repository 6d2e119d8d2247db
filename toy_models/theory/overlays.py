r"""Theory overlays for a simulated gap curve: Bernstein cap, RMT/exact, slopes.

* :func:`bernstein_fit` computes the matrix-Bernstein parameters
  :math:`\sigma^2` and :math:`L` of the per-sample matrices from their factors
  and :class:`BernsteinFit` evaluates the cap of
  :mod:`eoss.toy_models.theory.bernstein` on the gap.
* :mod:`eoss.toy_models.theory.rmt_edges` gives Marchenko--Pastur / BBP predictions;
  :func:`orthogonal_gap` the exact curve of the orthogonal family;
  :mod:`eoss.toy_models.theory.factored_perturbation` the second-order law
  :math:`\phi_b C/b`.
* :func:`windowed_slopes` fits local log-log slopes with standard errors.

:func:`gap_theory` bundles all of them for one simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, stats

from eoss.toy_models.random_matrix.batch_spectra import PreparedSample, batch_tops
from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.families import GaussianFamily
from eoss.toy_models.random_matrix.orthogonal import orthogonal_minibs
from eoss.toy_models.random_matrix.simulation import GapSimulation
from eoss.toy_models.random_matrix.top_eigenvalue import lanczos_top_pair
from eoss.toy_models.theory.bernstein import (
    crossover_batch_size,
    expected_lambda_max_bound,
)
from eoss.toy_models.theory.factored_perturbation import (
    PerturbationLaw,
    gaussian_population_law,
    perturbation_law,
)
from eoss.toy_models.theory.rmt_edges import rmt_gap


def orthogonal_gap(sim: GapSimulation) -> NDArray[np.float64] | None:
    """Exact gap of the orthogonal family (``without`` and ``online``).

    Args:
        sim: A simulation of the orthogonal family.

    Returns:
        The exact gap at each batch size, or None for ``with`` sampling.
    """
    cfg = sim.config
    bs = [e.batch_size for e in sim.estimates]
    if cfg.sampling == "without":
        a = np.einsum("nrm,nrm->n", sim.sample.factors, sim.sample.factors)
        return np.array([orthogonal_minibs(a, b) for b in bs]) - sim.fullbs
    if cfg.sampling != "online":
        return None
    return np.array([_expected_max_gamma(cfg.weight_shape, b) / b for b in bs]) - (
        1.0 / cfg.dim
    )


def _expected_max_gamma(kappa: float | None, b: int) -> float:
    """E max of b i.i.d. Gamma(kappa, 1/kappa) weights (1 when kappa is None)."""
    if kappa is None:
        return 1.0
    dist = stats.gamma(kappa, scale=1.0 / kappa)
    val, _ = integrate.quad(lambda x: -np.expm1(b * dist.logcdf(x)), 0, np.inf)
    return float(val)


@dataclass(frozen=True)
class BernsteinFit:
    r"""Matrix-Bernstein parameters of a set of per-sample matrices.

    Attributes:
        sigma2: :math:`\|\frac1n\sum_i (M_i - M)^2\|`.
        L: Upper bound on :math:`\max_i \lambda_{\max}(M_i - M)` (Weyl:
            :math:`\max_i\lambda_{\max}(M_i) - \lambda_{\min}(M)`).
        dim: Dimension m.
        center: ``dataset mean`` or ``population mean``.
        crossover_b: Batch size where the 1/b and 1/√b terms are equal.
    """

    sigma2: float
    L: float
    dim: int
    center: str
    crossover_b: float

    def gap_bound(self, b: ArrayLike) -> NDArray[np.float64]:
        r"""Bernstein cap on the gap, :math:`\sqrt{2\sigma^2\log d/b} + L\log d/(3b)`.

        Args:
            b: Batch sizes.

        Returns:
            The bound at each b.
        """
        bb = np.asarray(b, dtype=np.float64)
        return np.asarray(expected_lambda_max_bound(self.sigma2, self.L, self.dim, bb))


def bernstein_fit(
    sample: FactorSample,
    rng: np.random.Generator,
    *,
    center_diag: NDArray[np.float64] | None = None,
) -> BernsteinFit:
    r"""σ² and L of the sample's matrices from their factors (no m×m per sample).

    :math:`V = \frac1n\sum_i (M_i - M)^2 = \frac1n\sum_i M_i^2 - HM - MH + M^2`,
    with :math:`M_i^2 = F_i^\top S_i (F_iF_i^\top) S_i F_i`; :math:`\sigma^2 =
    \lambda_{\max}(V)` by Lanczos (V is PSD). :math:`M = H` (the dataset mean)
    when ``center_diag`` is None, else :math:`\operatorname{diag}(\text{center})`.

    Args:
        sample: The per-sample matrices.
        rng: Generator for the Lanczos start vectors.
        center_diag: Array of shape (m,), a diagonal population mean, or None.

    Returns:
        The fitted parameters.
    """
    n, m, r = sample.n, sample.dim, sample.rank
    F = sample.factors.reshape(n * r, m)
    S = np.ones(n * r) if sample.signs is None else sample.signs.reshape(-1)
    K = np.einsum("nam,nbm->nab", sample.factors, sample.factors)  # (n, r, r)
    SKS = K * S.reshape(n, r, 1) * S.reshape(n, 1, r)

    def h(x):
        return F.T @ (S * (F @ x)) / n

    def center(x):
        return h(x) if center_diag is None else center_diag * x

    def v(x):
        y = np.einsum("nab,nb->na", SKS, (F @ x).reshape(n, r)).reshape(-1)
        return F.T @ y / n - h(center(x)) - center(h(x)) + center(center(x))

    # sigma^2 only scales a bound: 1e-6 relative accuracy is plenty.
    top = lanczos_top_pair(v, m, rng.standard_normal(m), tol=1e-6)
    sigma2 = max(top.value, 0.0)
    data = PreparedSample.build(sample, with_gram=False)
    per = batch_tops(data, np.arange(n)[:, None], rng=rng)  # lambda_max(M_i)
    L = float(per.values.max()) - _lambda_min(sample, h, center_diag, rng)
    which = "dataset mean" if center_diag is None else "population mean"
    b_star = crossover_batch_size(sigma2, L, m, kind="lambda_max")
    return BernsteinFit(sigma2, L, m, which, b_star)


def _lambda_min(sample, h, center_diag, rng) -> float:
    """λ_min of the centre (0 is a valid lower bound for a PSD dataset mean)."""
    if center_diag is not None:
        return float(np.min(center_diag))
    if sample.is_psd:
        return 0.0
    m = sample.dim
    return -lanczos_top_pair(lambda x: -h(x), m, rng.standard_normal(m)).value


@dataclass(frozen=True)
class LocalSlopes:
    """Log-log slopes of y(b) in sliding windows of consecutive batch sizes.

    Attributes:
        b_lo: Array of shape (w,), first b of each window.
        b_hi: Array of shape (w,), last b of each window.
        b_center: Array of shape (w,), geometric mean of the window's b.
        slope: Array of shape (w,), d log y / d log b (NaN if some y <= 0).
        slope_se: Array of shape (w,), its standard error.
    """

    b_lo: NDArray[np.float64]
    b_hi: NDArray[np.float64]
    b_center: NDArray[np.float64]
    slope: NDArray[np.float64]
    slope_se: NDArray[np.float64]

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready columns.

        Returns:
            Mapping field → list.
        """
        return {k: v.tolist() for k, v in self.__dict__.items()}


def windowed_slopes(
    b: ArrayLike, y: ArrayLike, y_se: ArrayLike | None = None, *, window: int = 3
) -> LocalSlopes:
    r"""Weighted least-squares slope of :math:`\log y` on :math:`\log b` per window.

    With standard errors, :math:`\operatorname{sd}(\log y) \approx
    \mathrm{se}/y` (delta method), weights :math:`w = (y/\mathrm{se})^2` and
    :math:`\mathrm{SE(slope)} = (\sum w (x-\bar x_w)^2)^{-1/2}`; without them,
    ordinary least squares with the residual-based SE (needs ``window >= 3``).

    Args:
        b: Batch sizes, increasing.
        y: Values (gap estimates).
        y_se: Their standard errors, or None.
        window: Points per window (>= 2).

    Returns:
        The slopes of every window of consecutive points.

    Raises:
        ValueError: If ``window`` is < 2 or larger than the number of points.
    """
    x, z = np.log(np.asarray(b, float)), np.asarray(y, float)
    se = None if y_se is None else np.asarray(y_se, float)
    if not 2 <= window <= x.size:
        raise ValueError(f"window must be in [2, {x.size}], got {window}")
    out = []
    for i in range(x.size - window + 1):
        sl = slice(i, i + window)
        out.append(_window_fit(x[sl], z[sl], None if se is None else se[sl]))
    lo, hi = np.exp(x[: x.size - window + 1]), np.exp(x[window - 1 :])
    slope, slope_se = (np.array(v) for v in zip(*out, strict=True))
    return LocalSlopes(lo, hi, np.sqrt(lo * hi), slope, slope_se)


def _window_fit(x, z, se) -> tuple[float, float]:
    if np.any(~np.isfinite(z)) or np.any(z <= 0):
        return math.nan, math.nan
    lz = np.log(z)
    if se is not None and np.all(se > 0):
        w = (z / se) ** 2
        xm = np.sum(w * x) / np.sum(w)
        sxx = np.sum(w * (x - xm) ** 2)
        slope = float(np.sum(w * (x - xm) * lz) / sxx)
        return slope, float(1.0 / math.sqrt(sxx))
    xm = x.mean()
    sxx = np.sum((x - xm) ** 2)
    slope = float(np.sum((x - xm) * lz) / sxx)
    if x.size < 3:
        return slope, math.nan
    resid = lz - lz.mean() - slope * (x - xm)
    return slope, float(math.sqrt(np.sum(resid**2) / (x.size - 2) / sxx))


def reference_curve(
    b: ArrayLike, anchor_b: float, anchor_y: float, exponent: float
) -> NDArray[np.float64]:
    """Power law :math:`y_0 (b/b_0)^{-p}` through an anchor point.

    Args:
        b: Batch sizes.
        anchor_b: b_0.
        anchor_y: y_0.
        exponent: p (1 for 1/b, 0.5 for 1/√b).

    Returns:
        The reference values.
    """
    return anchor_y * (np.asarray(b, float) / anchor_b) ** (-exponent)


@dataclass(frozen=True)
class GapTheory:
    """All overlays of one simulation.

    Attributes:
        batch_sizes: Array of shape (B,).
        bernstein: The fitted Bernstein parameters.
        bernstein_bound: Array of shape (B,), the Bernstein cap on the gap.
        rmt_gap: Array of shape (B,), RMT/exact gap prediction, or None.
        rmt_label: What ``rmt_gap`` is.
        slopes_gap: Windowed slopes of the naive gap.
        slopes_gap_cv: Windowed slopes of the control-variate gap.
        perturbation: The second-order law, or None (degenerate top, m too big).
        perturbation_gap: Array of shape (B,), its φ_b C / b, or None.
    """

    batch_sizes: NDArray[np.float64]
    bernstein: BernsteinFit
    bernstein_bound: NDArray[np.float64]
    rmt_gap: NDArray[np.float64] | None
    rmt_label: str
    slopes_gap: LocalSlopes
    slopes_gap_cv: LocalSlopes
    perturbation: PerturbationLaw | None = None
    perturbation_gap: NDArray[np.float64] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description.

        Returns:
            Nested dict of lists and numbers.
        """
        fit = self.bernstein
        return {
            "batch_sizes": self.batch_sizes.tolist(),
            "bernstein": {**fit.__dict__, "bound": self.bernstein_bound.tolist()},
            "rmt": None
            if self.rmt_gap is None
            else {"label": self.rmt_label, "gap": self.rmt_gap.tolist()},
            "slopes": {
                "gap": self.slopes_gap.to_dict(),
                "gap_cv": self.slopes_gap_cv.to_dict(),
            },
            "perturbation": None
            if self.perturbation is None
            else {**self.perturbation.__dict__, "gap": self.perturbation_gap.tolist()},
        }


def gap_theory(
    sim: GapSimulation, rng: np.random.Generator, *, window: int = 3
) -> GapTheory:
    """Bernstein bound, RMT/exact prediction and local slopes for ``sim``.

    Args:
        sim: A finished simulation.
        rng: Generator for the Lanczos start vectors of the Bernstein fit.
        window: Points per slope window.

    Returns:
        The overlays.
    """
    cfg = sim.config
    bs = np.array([e.batch_size for e in sim.estimates], dtype=np.float64)
    center = None
    if cfg.sampling == "online":
        center = cfg.build_family().population_diagonal()
    fit = bernstein_fit(sim.sample, rng, center_diag=center)
    if cfg.family == "orthogonal":
        exact = orthogonal_gap(sim)
        rmt = None if exact is None else (exact, "exact (order statistics)")
    else:
        rmt = rmt_gap(cfg, bs)
    slopes = _slopes(sim, window)
    family = cfg.build_family()
    if center is not None and isinstance(family, GaussianFamily):
        law = gaussian_population_law(family)  # exact, no reference-sample noise
    else:
        law = perturbation_law(sim.sample, center_diag=center)
    return GapTheory(
        bs,
        fit,
        fit.gap_bound(bs),
        None if rmt is None else rmt[0],
        "" if rmt is None else rmt[1],
        slopes[0],
        slopes[1],
        law,
        None if law is None else law.gap(bs, without=cfg.sampling == "without"),
    )


def _slopes(sim: GapSimulation, window: int) -> list[LocalSlopes]:
    """Windowed slopes of the naive and control-variate gaps."""
    cfg = sim.config
    # Without replacement, b = n is the dataset itself: the gap is 0 by
    # construction (its control-variate value is round-off), so no slope there.
    ests = [
        e
        for e in sim.estimates
        if not (cfg.sampling == "without" and e.batch_size == cfg.n)
    ]
    slopes = [_empty_slopes(), _empty_slopes()]
    if len(ests) >= 2:
        slopes = [
            windowed_slopes(
                [e.batch_size for e in ests],
                [getattr(e, key) for e in ests],
                [getattr(e, key + "_se") for e in ests],
                window=min(max(window, 2), len(ests)),
            )
            for key in ("gap", "gap_cv")
        ]
    return slopes


def _empty_slopes() -> LocalSlopes:
    e = np.zeros(0)
    return LocalSlopes(e, e, e, e, e)
