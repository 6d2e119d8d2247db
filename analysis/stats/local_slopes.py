r"""Local-slope profile of a gap curve: exponents between neighbouring batch sizes.

A single power law over a window hides *where* a curve bends; the profile shows it.
With the distinct batch sizes :math:`b_1 < \dots < b_m` of a curve and, at each,
the mean log gap :math:`\bar v_j` over its replicates (seeds) with standard error
:math:`s_j`, the local exponent between neighbours is

.. math::

    \alpha_{j+1/2} = -\frac{\bar v_{j+1} - \bar v_j}{\log b_{j+1} - \log b_j},
    \qquad
    \operatorname{SE}(\alpha_{j+1/2}) =
        \frac{\sqrt{s_j^2 + s_{j+1}^2}}{\log b_{j+1} - \log b_j},

(neighbouring points are independent measurements), located at the geometric
mean :math:`\sqrt{b_j b_{j+1}}`, with a normal 95 % interval.

The SE :math:`s_j` of a mean log gap is the larger of the propagated point SEs
(delta method, :math:`\sqrt{\sum_i (se_i/y_i)^2}/k`) and, with k ≥ 2 replicates,
their between-replicate standard error :math:`\mathrm{sd}(\log y)/\sqrt{k}` (the
seed-to-seed scatter is real variation that point SEs alone understate). Points
are filtered by :func:`eoss.analysis.stats.log_data.prepare_log_data`, and every
exclusion is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from eoss.analysis.stats.log_data import prepare_log_data


@dataclass(frozen=True)
class SlopeProfile:
    """Local exponents between neighbouring batch sizes (module docstring).

    Attributes:
        b_lo: Smaller b of each pair, shape (m − 1,).
        b_hi: Larger b of each pair, shape (m − 1,).
        exponent: Local α (gap ∝ b^-α), shape (m − 1,).
        se: Its standard error (NaN when no point of the pair has an SE).
        ci: 95 % normal intervals, shape (m − 1, 2).
        n_replicates: Replicates at each distinct b, shape (m,).
        n_excluded: Reason → points dropped before the profile.
    """

    b_lo: NDArray[np.float64]
    b_hi: NDArray[np.float64]
    exponent: NDArray[np.float64]
    se: NDArray[np.float64]
    ci: NDArray[np.float64]
    n_replicates: NDArray[np.int64]
    n_excluded: dict[str, int]

    @property
    def b_mid(self) -> NDArray[np.float64]:
        """Geometric mean √(b_lo b_hi) of each pair."""
        return np.sqrt(self.b_lo * self.b_hi)

    def text(self, digits: int = 2) -> str:
        """``b 4→8: 0.05 [-0.1, 0.2]; …``.

        Args:
            digits: Decimals.

        Returns:
            One line.
        """

        def f(x: float) -> str:
            return f"{round(float(x), digits) + 0.0:.{digits}f}"  # no "-0.00"

        return "; ".join(
            f"b {lo:g}→{hi:g}: {f(a)} [{f(c[0])}, {f(c[1])}]"
            for lo, hi, a, c in zip(
                self.b_lo, self.b_hi, self.exponent, self.ci, strict=True
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict.

        Returns:
            Lists per pair, and the exclusion counts.
        """
        return {
            "b_lo": self.b_lo.tolist(),
            "b_hi": self.b_hi.tolist(),
            "exponent": self.exponent.tolist(),
            "se": self.se.tolist(),
            "ci": self.ci.tolist(),
            "n_replicates": self.n_replicates.tolist(),
            "n_excluded": dict(sorted(self.n_excluded.items())),
        }


def _mean_log(v: NDArray, s: NDArray | None) -> tuple[float, float]:
    """Mean log gap and its SE (module docstring) for one batch size."""
    k = len(v)
    within = float("nan") if s is None else float(np.sqrt(np.sum(s**2)) / k)
    if k < 2:
        return float(v[0]), within
    between = float(np.std(v, ddof=1) / np.sqrt(k))
    return float(v.mean()), float(np.nanmax([within, between]))


def local_slopes(
    x: ArrayLike, y: ArrayLike, *, se: ArrayLike | None = None, alpha: float = 0.05
) -> SlopeProfile:
    """The local-slope profile of y against x on log-log axes.

    Args:
        x: Batch sizes, shape (n,) (replicates repeat a value).
        y: Gaps, shape (n,).
        se: Standard errors of y, shape (n,), or None (then only replicates give
            SEs; a b without replicates has a NaN SE).
        alpha: Significance level of the intervals.

    Returns:
        The profile (empty arrays with fewer than 2 distinct b).
    """
    data = prepare_log_data(x, y, se)
    rel = None if data.se is None else data.se / data.y  # SE of log y
    bs = np.unique(data.x)
    means, ses, counts = [], [], []
    for b in bs:
        m = data.x == b
        mv, sv = _mean_log(data.v[m], None if rel is None else rel[m])
        means.append(mv)
        ses.append(sv)
        counts.append(int(m.sum()))
    v, s, u = np.array(means), np.array(ses), np.log(bs)
    du = np.diff(u)
    alpha_loc = -np.diff(v) / du
    se_loc = np.sqrt(s[:-1] ** 2 + s[1:] ** 2) / du
    q = float(stats.norm.ppf(1 - alpha / 2))
    ci = np.column_stack([alpha_loc - q * se_loc, alpha_loc + q * se_loc])
    return SlopeProfile(
        bs[:-1].astype(float),
        bs[1:].astype(float),
        alpha_loc,
        se_loc,
        ci.reshape(-1, 2),
        np.array(counts, dtype=np.int64),
        dict(data.n_excluded),
    )
