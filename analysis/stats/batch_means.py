"""Batch means: the level of an autocorrelated series with an honest interval.

Consecutive measurements along a training trajectory are correlated, so the naive
standard error sd/√m is too small. The m values (time order, NaNs dropped) are cut
into B = ⌊m / ⌊√m⌋⌋ consecutive blocks of ⌊√m⌋ values (the earliest remainder is
dropped — it is the part closest to the transient), and

    level = mean of the block means,  SE = sd(block means, ddof=1) / √B,

with a Student-t interval on B − 1 degrees of freedom. Block size ⌊√m⌋ is the
standard choice that makes the batch-means variance estimator consistent when the
autocorrelation decays fast enough (Flegal & Jones 2010, Ann. Stat. 38:1034).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from eoss.analysis.stats.mean import mean_se


@dataclass(frozen=True)
class Level:
    """A plateau level estimated by batch means.

    Attributes:
        mean: Mean over the used measurements (= mean of the block means).
        se: Batch-means standard error (NaN with fewer than 2 blocks).
        ci: Student-t interval with n_blocks − 1 df (NaN bounds if undefined).
        n: Measurements used.
        n_blocks: Number of blocks B.
        lag1: Lag-1 autocorrelation of the measurements (None if n < 3).
    """

    mean: float
    se: float
    ci: tuple[float, float]
    n: int
    n_blocks: int
    lag1: float | None

    def scaled(self, factor: float) -> Level:
        """The same level multiplied by ``factor`` (> 0), e.g. η/2 for units of 2/η.

        Args:
            factor: Positive scale.

        Returns:
            The scaled level.
        """
        lo, hi = self.ci
        return replace(
            self,
            mean=self.mean * factor,
            se=self.se * factor,
            ci=(lo * factor, hi * factor),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict.

        Returns:
            The fields (ci as a list).
        """
        d = asdict(self)
        d["ci"] = list(self.ci)
        return d


def block_level(values: NDArray, *, alpha: float = 0.05) -> Level | None:
    """Batch-means level of a series (see the module docstring).

    Args:
        values: Measurements in time order, shape (m,); NaNs are dropped.
        alpha: Significance level of the interval.

    Returns:
        The level, or None without finite values.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return None
    size = max(int(np.sqrt(len(x))), 1)
    n_blocks = len(x) // size
    used = x[len(x) - n_blocks * size :]
    means = used.reshape(n_blocks, size).mean(axis=1)
    mean, se = mean_se(means)
    lag1 = None
    if len(x) >= 3 and np.std(x) > 0:
        lag1 = float(np.corrcoef(x[:-1], x[1:])[0, 1])
    if n_blocks < 2:
        return Level(mean, float("nan"), (float("nan"),) * 2, len(used), n_blocks, lag1)
    q = float(stats.t.ppf(1 - alpha / 2, n_blocks - 1))
    return Level(mean, se, (mean - q * se, mean + q * se), len(used), n_blocks, lag1)
