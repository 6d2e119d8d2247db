r"""Spread of a positive level across groups, S = max_g μ_g / min_g μ_g, with intervals.

The groups are batch sizes and the level a plateau (MiniBS, FullBS in units of 2/η).
S ≥ 1, and S = 1 exactly when the level does not depend on the group.

**Pooling replicates** (:func:`pool_replicates`). A group's k runs give levels
:math:`x_i` with batch-means SEs :math:`s_i` on :math:`\nu_i` = n_blocks − 1 df.
The group mean is :math:`\bar x`; its SE is the larger of the propagated
:math:`s_w = \sqrt{\sum_i s_i^2}/k` (Welch–Satterthwaite df
:math:`(\sum_i s_i^2)^2 / \sum_i (s_i^4/\nu_i)`) and, for k ≥ 2, the between-run
:math:`s_b = \mathrm{sd}(x)/\sqrt{k}` (k − 1 df), with the df of the one chosen
(the rule of :func:`eoss.analysis.study.sweeps.combine`, which has no df).

**Interval: simultaneous bounds, not the delta method or a bootstrap.** With a
family of K ≥ m levels, each group gets the Bonferroni interval

.. math::

    I_g = \bar x_g \pm t_{1-\alpha/(2K)}(\nu_g)\, s_g ,

so that with probability ≥ 1 − α *every* μ_g lies in its I_g, whatever the
dependence between them. On that event :math:`\max_g \mu_g \in [\max_g lo_g,
\max_g hi_g]` and :math:`\min_g \mu_g \in [\min_g lo_g, \min_g hi_g]`, hence

.. math::

    S \in \Big[\max\big(1, \tfrac{\max_g lo_g}{\min_g hi_g}\big),\;
              \tfrac{\max_g hi_g}{\min_g lo_g}\Big]

(upper end +∞ when some lo_g ≤ 0). The coverage is ≥ 1 − α by construction,
also when levels tie. The delta method on log S = log x̄_max − log x̄_min
conditions on *which* groups are the extremes; when levels are nearly equal
(MiniBS across b, the case of interest) the noise picks them, S̄ is biased up and
the interval excludes S = 1 far more often than α. A bootstrap over runs has 1–3
runs per group to resample. The price of the box is conservatism (Bonferroni, and
the worst corner of the box).

Two spreads computed on one family (K = m_1 + m_2, every level of both) bound any
function of both at once; :func:`log_spread_difference` gives
:math:`\log S_1 - \log S_2 \in [\log lo(S_1) - \log hi(S_2), \log hi(S_1) - \log
lo(S_2)]`, again with joint coverage ≥ 1 − α.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from eoss.analysis.stats.batch_means import Level
from eoss.analysis.stats.mean import mean_se


@dataclass(frozen=True)
class GroupMean:
    """A group's pooled level (module docstring).

    Attributes:
        mean: Mean of the runs' levels.
        se: Its standard error (the larger of within and between).
        df: Degrees of freedom of ``se`` (None: normal reference).
        n_runs: Runs pooled.
    """

    mean: float
    se: float
    df: float | None
    n_runs: int


@dataclass(frozen=True)
class Spread:
    """S = max_g x̄_g / min_g x̄_g with a simultaneous interval.

    Attributes:
        estimate: max x̄ / min x̄ (NaN when min x̄ ≤ 0).
        ci: (lower, upper) bound of S, coverage ≥ 1 − alpha jointly with every
            other statement on the same family.
        i_min: Index of the group with the smallest mean.
        i_max: Index of the group with the largest mean.
        bounds: The simultaneous interval of each group, shape (m, 2).
        family: K, the number of levels the Bonferroni correction covers.
        alpha: 1 − the joint coverage.
    """

    estimate: float
    ci: tuple[float, float]
    i_min: int
    i_max: int
    bounds: NDArray[np.float64]  # (m, 2)
    family: int
    alpha: float


def _welch_df(ses: NDArray, dfs: NDArray) -> float | None:
    if np.any(~np.isfinite(dfs)):
        return None
    if len(ses) == 1:
        return float(dfs[0])
    num = float(np.sum(ses**2)) ** 2
    den = float(np.sum(ses**4 / dfs))
    return num / den if den > 0 else None


def pool_replicates(levels: Sequence[Level]) -> GroupMean | None:
    """Pool the runs' levels of one group (module docstring).

    Args:
        levels: One batch-means level per run (k ≥ 1).

    Returns:
        The pooled level, or None when no SE is available (a single run with
        fewer than 2 blocks, or no levels).
    """
    if not levels:
        return None
    k = len(levels)
    ses = np.array([lv.se for lv in levels], dtype=float)
    dfs = np.array([lv.n_blocks - 1 for lv in levels], dtype=float)
    mean, between = mean_se([lv.mean for lv in levels])
    usable = np.all(np.isfinite(ses)) and np.all(dfs > 0)
    within = float(np.sqrt(np.sum(ses**2)) / k) if usable else float("nan")
    if np.isfinite(between) and not between <= within:  # NaN within loses
        return GroupMean(mean, between, float(k - 1), k)
    if np.isfinite(within):
        return GroupMean(mean, within, _welch_df(ses, dfs), k)
    return None


def _quantile(p: float, df: float | None) -> float:
    return float(stats.norm.ppf(p) if df is None else stats.t.ppf(p, df))


def spread(
    groups: Sequence[GroupMean], *, alpha: float = 0.05, family: int | None = None
) -> Spread:
    """The spread max/min of the group means with its simultaneous interval.

    Args:
        groups: The groups' pooled levels (m ≥ 2).
        alpha: 1 − joint coverage.
        family: K ≥ m, the number of levels the Bonferroni correction covers
            (default m; pass the total when several spreads are combined).

    Returns:
        The spread.

    Raises:
        ValueError: With fewer than 2 groups, K < m, or alpha outside (0, 1).
    """
    m = len(groups)
    k = m if family is None else int(family)
    if m < 2 or k < m or not 0 < alpha < 1:
        raise ValueError(f"need m ≥ 2 groups, family ≥ m, alpha in (0, 1): {m}, {k}")
    mean = np.array([g.mean for g in groups])
    half = np.array([_quantile(1 - alpha / (2 * k), g.df) * g.se for g in groups])
    lo, hi = mean - half, mean + half
    i_min, i_max = int(np.argmin(mean)), int(np.argmax(mean))
    nan = float("nan")
    est = float(mean[i_max] / mean[i_min]) if mean[i_min] > 0 else nan
    if hi.min() <= 0:  # some level is certainly ≤ 0: no ratio of positive levels
        ci = (nan, nan)
    else:
        lower = max(1.0, float(lo.max() / hi.min())) if lo.max() > 0 else 1.0
        upper = float(hi.max() / lo.min()) if lo.min() > 0 else float("inf")
        ci = (lower, upper)
    return Spread(est, ci, i_min, i_max, np.column_stack([lo, hi]), k, alpha)


def log_spread_difference(
    top: Spread, bottom: Spread
) -> tuple[float, tuple[float, float]]:
    """The difference log S_top − log S_bottom of two spreads on one family.

    Args:
        top: First spread.
        bottom: Second spread (same ``family`` and ``alpha``, covering both).

    Returns:
        (estimate, (lower, upper)); NaN where a spread is undefined, ±inf where a
        bound is unbounded.

    Raises:
        ValueError: If the two spreads were not computed on one family.
    """
    if top.family != bottom.family or top.alpha != bottom.alpha:
        raise ValueError("the two spreads must share one Bonferroni family")
    if top.family < len(top.bounds) + len(bottom.bounds):
        raise ValueError(
            f"family {top.family} does not cover the "
            f"{len(top.bounds) + len(bottom.bounds)} levels of both spreads"
        )
    nan = float("nan")
    vals = (top.estimate, bottom.estimate, *top.ci, *bottom.ci)
    if not all(v > 0 for v in vals):  # NaN compares False
        return nan, (nan, nan)
    est = float(np.log(top.estimate) - np.log(bottom.estimate))
    lower = float(np.log(top.ci[0]) - np.log(bottom.ci[1]))
    upper = float(np.log(top.ci[1]) - np.log(bottom.ci[0]))
    return est, (lower, upper)
