r"""Monte-Carlo MiniBS − FullBS gap of random Hessian sums versus batch size.

Model. Per-sample matrices :math:`M_i` come from a family of
:mod:`eoss.toy_models.random_matrix.families`. Sampling settings:

* ``without``: a dataset of ``n`` samples is drawn once; each mini-batch is a
  uniformly random ``b``-subset (no repeats inside a batch; batches are
  independent of each other). Needs ``b <= n``.
* ``with``: the same dataset; each batch is ``b`` i.i.d. uniform indices.
* ``online``: every batch is ``b`` fresh samples; FullBS is
  :math:`\lambda_{\max}(\mathbb E M_i)` of the population. ``n`` is then only the
  size of the reference sample used for the Bernstein parameters.

Estimators for each ``b``, over ``K`` batches :math:`B_1..B_K`:

.. math::

    \widehat{\mathrm{MiniBS}} = \frac1K \sum_k \lambda_{\max}(H_{B_k}),\quad
    \widehat{\mathrm{gap}} = \widehat{\mathrm{MiniBS}} - \mathrm{FullBS},\quad
    \widehat{\mathrm{gap}}_{cv} = \frac1K \sum_k
        \big[\lambda_{\max}(H_{B_k}) - v^\top H_{B_k} v\big],

with :math:`v` the top eigenvector of :math:`H` (or of the population mean).
Since :math:`\mathbb E_B H_B = H` in every setting,
:math:`\mathbb E\, v^\top H_B v = \lambda_{\max}(H)` and both estimators are
unbiased for the gap; the control variate removes the fluctuation of
:math:`H_B` along :math:`v`, which dominates :math:`\lambda_{\max}(H_B)` when the
top eigenvalue is an outlier. Standard errors are ``std(ddof=1)/sqrt(K)``,
conditional on the dataset (FullBS is then a constant, so ``gap_se ==
minibs_se``).

FullBS is evaluated by the same solver path as a batch of size ``n``, so for
``without`` sampling at ``b = n`` every batch equals the dataset and the gap is
exactly 0 on the direct paths (to the Lanczos tolerance otherwise).
Randomness: one generator argument; the dataset and each batch size get their
own child streams, so adding a batch size never changes the other rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoss.toy_models.random_matrix.batch_spectra import (
    CHUNK_BYTES,
    LANCZOS_STEPS,
    BatchTops,
    PreparedSample,
    batch_tops,
)
from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.families import (
    HessianFamily,
)
from eoss.toy_models.random_matrix.full_batch import full_batch_top
from eoss.toy_models.random_matrix.gap_config import GapConfig
from eoss.toy_models.random_matrix.sampling import draw_batches


@dataclass(frozen=True)
class GapEstimate:
    """Estimates at one batch size (the keys of docs/records.md).

    Attributes:
        batch_size: b.
        n_batches: K.
        minibs: Mean of λ_max(H_B) over the batches.
        minibs_se: Its standard error.
        fullbs: λ_max(H) (or of the population mean).
        gap: minibs − fullbs.
        gap_se: Standard error of the gap (= minibs_se).
        gap_cv: Control-variate gap, mean of λ_max(H_B) − vᵀH_B v.
        gap_cv_se: Its standard error.
        path: Solver path used.
        residual_max: Largest Lanczos residual (None on direct paths).
        n_matvecs: Mean operator applications per batch (None on direct paths).
        seconds: Wall time of this batch size.
        lambda_max: Array of shape (K,), λ_max(H_B) per batch.
        quad: Array of shape (K,), vᵀH_B v per batch.
    """

    batch_size: int
    n_batches: int
    minibs: float
    minibs_se: float
    fullbs: float
    gap: float
    gap_se: float
    gap_cv: float
    gap_cv_se: float
    path: str
    residual_max: float | None
    n_matvecs: float | None
    seconds: float
    lambda_max: NDArray[np.float64] = field(repr=False)  # (K,)
    quad: NDArray[np.float64] = field(repr=False)  # (K,)

    @classmethod
    def from_batches(
        cls, b: int, tops: BatchTops, quad: NDArray, fullbs: float, seconds: float
    ) -> GapEstimate:
        """Reduce per-batch values to means and standard errors.

        Args:
            b: Batch size.
            tops: λ_max(H_B) per batch and the path.
            quad: vᵀH_B v per batch, shape (K,).
            fullbs: λ_max(H).
            seconds: Wall time spent.

        Returns:
            The estimate.
        """
        lam = tops.values
        # Shifted data (by FullBS; by the first value for the control variate):
        # no cancellation, and identical batches give a gap of exactly 0.
        gap, se = _mean_se(lam - fullbs)
        diff = lam - quad
        gap_cv, cv_se = _mean_se(diff - diff[0])
        return cls(
            batch_size=b,
            n_batches=lam.shape[0],
            minibs=fullbs + gap,
            minibs_se=se,
            fullbs=fullbs,
            gap=gap,
            gap_se=se,
            gap_cv=float(diff[0]) + gap_cv,
            gap_cv_se=cv_se,
            path=tops.path,
            residual_max=None
            if tops.residuals is None
            else float(tops.residuals.max()),
            n_matvecs=None if tops.n_matvecs is None else float(tops.n_matvecs.mean()),
            seconds=seconds,
            lambda_max=lam,
            quad=quad,
        )

    def row(self) -> dict[str, Any]:
        """The record row (docs/records.md gap-table columns).

        Returns:
            JSON-safe dict without the per-batch arrays.
        """
        skip = {"lambda_max", "quad"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def _mean_se(x: NDArray[np.float64]) -> tuple[float, float]:
    """Mean and standard error std(ddof=1)/sqrt(K) of K values."""
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.shape[0]))


@dataclass(frozen=True)
class GapSimulation:
    """A simulated gap curve.

    Attributes:
        config: What was simulated.
        fullbs: λ_max(H) (dataset) or of the population mean (``online``).
        top_vector: Array of shape (m,), the matching unit top eigenvector.
        fullbs_residual: ‖Hv − λv‖ of the full-batch eigenpair.
        fullbs_path: How FullBS was computed.
        estimates: One estimate per batch size, in config order.
        sample: The dataset (``online``: the reference sample).
        seconds: Total wall time.
    """

    config: GapConfig
    fullbs: float
    top_vector: NDArray[np.float64] = field(repr=False)  # (m,)
    fullbs_residual: float = 0.0
    fullbs_path: str = ""
    estimates: tuple[GapEstimate, ...] = ()
    sample: FactorSample | None = field(default=None, repr=False)
    seconds: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        """Record rows, one per batch size.

        Returns:
            List of JSON-safe dicts.
        """
        return [e.row() for e in self.estimates]


def _child(seed: int, b: int) -> np.random.Generator:
    return np.random.default_rng([seed, b])


def simulate_gap(
    config: GapConfig,
    rng: np.random.Generator,
    *,
    on_row: Callable[[GapEstimate], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> GapSimulation:
    """Simulate MiniBS, FullBS and the gap for every batch size of ``config``.

    Args:
        config: The simulation.
        rng: The only source of randomness (same state → identical numbers).
        on_row: Called with each estimate as soon as it is done.
        progress: Called with short status messages.

    Returns:
        The gap curve with the dataset and the full-batch eigenpair.
    """
    t_start = time.perf_counter()
    say = progress or (lambda msg: None)
    family = config.build_family()
    data_seed, batch_seed = (int(x) for x in rng.integers(0, 2**63, size=2))
    data_rng = np.random.default_rng(data_seed)
    sample = family.sample(config.n, data_rng)
    if config.sampling == "online":
        fullbs, v = family.population_top()
        resid, fpath, data = 0.0, "population (exact)", None
    else:
        say(f"dataset n={config.n} m={config.dim}: Gram and full-batch eigenpair")
        data = PreparedSample.build(sample)
        fullbs, v, resid, fpath = full_batch_top(
            data, config.path, config.tol, data_rng
        )
    run = _Run(config, family, data, v, fullbs, fpath)
    estimates = []
    for j, b in enumerate(config.batch_sizes):
        est = run.estimate(b, _child(batch_seed, b))
        estimates.append(est)
        say(
            f"b={b} ({j + 1}/{len(config.batch_sizes)}) gap={est.gap:.4g}"
            f"±{est.gap_se:.2g} cv={est.gap_cv:.4g}±{est.gap_cv_se:.2g} "
            f"[{est.path}, {est.seconds:.2f}s]"
        )
        if on_row is not None:
            on_row(est)
    seconds = time.perf_counter() - t_start
    return GapSimulation(
        config, fullbs, v, resid, fpath, tuple(estimates), sample, seconds
    )


class _Run:
    """One batch size at a time; learns the Lanczos step count for the cost model."""

    def __init__(self, config, family, data, v, fullbs, fpath) -> None:
        self.config, self.family, self.data = config, family, data
        self.v, self.fullbs, self.fpath = v, fullbs, fpath
        self.q = None if data is None else data.sample.quadratic_forms(v)
        self.steps = float(LANCZOS_STEPS)

    def estimate(self, b: int, rng: np.random.Generator) -> GapEstimate:
        cfg, t0 = self.config, time.perf_counter()
        if self.data is None:
            tops, quad = _online_batches(self.family, b, cfg, self.v, rng, self.steps)
        else:
            batches = draw_batches(cfg.n, b, cfg.n_batches, cfg.sampling, rng)
            whole = cfg.sampling == "without" and b == cfg.n
            tops = batch_tops(
                self.data,
                batches,
                path=self.fpath if whole else cfg.path,  # b = n: FullBS's own path
                warm=self.v,
                tol=cfg.tol,
                rng=rng,
                steps=self.steps,
            )
            quad = self.q[batches].mean(axis=1)
        seconds = time.perf_counter() - t0
        est = GapEstimate.from_batches(b, tops, quad, self.fullbs, seconds)
        self.steps = est.n_matvecs or self.steps
        return est


def _online_batches(
    family: HessianFamily,
    b: int,
    config: GapConfig,
    v: NDArray[np.float64],
    rng: np.random.Generator,
    steps: float,
) -> tuple[BatchTops, NDArray[np.float64]]:
    """Fresh samples for every batch, in chunks that fit CHUNK_BYTES."""
    K, r, m = config.n_batches, family.rank, family.dim
    step = max(1, CHUNK_BYTES // (8 * b * r * m))
    vals, quads, res, its, path, ok = [], [], [], [], "", True
    for i in range(0, K, step):
        kc = min(step, K - i)
        fresh = family.sample_batches(kc, b, rng)
        data = PreparedSample.build(fresh, with_gram=False)
        batches = np.arange(kc * b).reshape(kc, b)
        tops = batch_tops(
            data,
            batches,
            path=config.path,
            warm=v,
            tol=config.tol,
            rng=rng,
            shared=False,
            steps=steps,
        )
        vals.append(tops.values)
        quads.append(fresh.quadratic_forms(v).reshape(kc, b).mean(axis=1))
        res.append(tops.residuals)
        its.append(tops.n_matvecs)
        path, ok = tops.path, ok and tops.converged
    lanczos = res[0] is not None
    tops = BatchTops(
        np.concatenate(vals),
        path,
        np.concatenate(res) if lanczos else None,
        np.concatenate(its) if lanczos else None,
        ok,
    )
    return tops, np.concatenate(quads)
