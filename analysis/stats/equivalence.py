r"""Equivalence (TOST) of an estimate to a claimed value within a stated margin.

A claim such as "gap ∝ b^-0.7" is a statement that the exponent is *close to* 0.7,
not that it equals 0.7 to every digit; a point null rejects a curve of the right
shape as soon as the data are precise enough. The equivalence test asks the
question the claim poses. With estimate :math:`\hat\theta`, standard error
:math:`s`, reference distribution t(df) (normal when df is None), claimed value
:math:`\theta_0` and margin :math:`m > 0`, the two one-sided tests are

.. math::

    H_0^-: \theta \le \theta_0 - m, \quad
    p_- = P\!\left(T \ge \frac{\hat\theta - (\theta_0 - m)}{s}\right); \qquad
    H_0^+: \theta \ge \theta_0 + m, \quad
    p_+ = P\!\left(T \le \frac{\hat\theta - (\theta_0 + m)}{s}\right).

**Rule** (Schuirmann 1987; at level a = 0.05):

* ``"equivalent"``: both one-sided tests reject at a, i.e. max(p₋, p₊) < a, which is
  the same as the 1 − 2a (90 %) interval lying inside [θ₀ − m, θ₀ + m];
* ``"not equivalent"``: the 1 − a (95 %) interval lies entirely outside the band
  (the data exclude every value within the margin);
* ``"inconclusive"``: otherwise (the interval straddles an edge of the band).

>>> e = tost(0.85, 0.02, 10, 1.0, 0.2)
>>> e.outcome, round(e.ci90[1], 3) < 1.2
('equivalent', True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

Outcome = Literal["equivalent", "not equivalent", "inconclusive"]


def rule_text(null: float, margin: float, alpha: float = 0.05) -> str:
    """The TOST rule in words, with its numbers.

    Args:
        null: Claimed value θ₀.
        margin: Margin m.
        alpha: Level a of each one-sided test.

    Returns:
        One line, e.g. "TOST |α − 0.7| ≤ 0.1: 90% CI ⊂ [0.6, 0.8] → supported; …".
    """
    lo, hi = null - margin, null + margin
    c_in, c_out = 100 * (1 - 2 * alpha), 100 * (1 - alpha)
    return (
        f"TOST |α − {null:g}| ≤ {margin:g}: {c_in:.0f}% CI ⊂ [{lo:g}, {hi:g}] "
        f"(both one-sided p < {alpha:g}) → supported; {c_out:.0f}% CI entirely "
        "outside it → not supported; else inconclusive"
    )


@dataclass(frozen=True)
class Equivalence:
    r"""The two one-sided tests of :math:`|\theta - \theta_0| \le m`.

    Attributes:
        null: θ₀.
        margin: m.
        estimate: θ̂.
        se: s.
        df: Degrees of freedom of the t reference (None: normal).
        alpha: Level of each one-sided test.
        p_lower: p₋, of H0: θ ≤ θ₀ − m.
        p_upper: p₊, of H0: θ ≥ θ₀ + m.
        ci90: The 1 − 2·alpha interval (inside the band ⇔ equivalent).
        ci95: The 1 − alpha interval (outside the band ⇔ not equivalent).
        outcome: "equivalent", "not equivalent" or "inconclusive".
    """

    null: float
    margin: float
    estimate: float
    se: float
    df: float | None
    alpha: float
    p_lower: float
    p_upper: float
    ci90: tuple[float, float]
    ci95: tuple[float, float]
    outcome: Outcome

    @property
    def p_tost(self) -> float:
        """The TOST p-value max(p₋, p₊)."""
        return max(self.p_lower, self.p_upper)

    @property
    def rule(self) -> str:
        """The rule applied (:func:`rule_text`)."""
        return rule_text(self.null, self.margin, self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (intervals as lists, plus ``p_tost`` and ``rule``).

        Returns:
            Plain data.
        """
        out = asdict(self)
        out.update(ci90=list(self.ci90), ci95=list(self.ci95))
        return out | {"p_tost": self.p_tost, "rule": self.rule}


def _quantile(p: float, df: float | None) -> float:
    return float(stats.norm.ppf(p) if df is None else stats.t.ppf(p, df))


def _sf(t: float, df: float | None) -> float:
    return float(stats.norm.sf(t) if df is None else stats.t.sf(t, df))


def tost(
    estimate: float,
    se: float,
    df: float | None,
    null: float,
    margin: float,
    alpha: float = 0.05,
) -> Equivalence:
    """Two one-sided tests of equivalence of ``estimate`` to ``null`` within ``margin``.

    Args:
        estimate: θ̂.
        se: Its standard error (> 0; NaN or 0 gives an inconclusive result with
            NaN p-values, except that a noiseless estimate is decided exactly).
        df: Degrees of freedom (None or inf: normal reference).
        null: θ₀.
        margin: m > 0.
        alpha: Level of each one-sided test (0.05: 90 % / 95 % intervals).

    Returns:
        The tests and the outcome (module docstring).

    Raises:
        ValueError: On a margin ≤ 0 or alpha outside (0, 0.5).
    """
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if df is not None and not np.isfinite(df):
        df = None
    lo, hi = null - margin, null + margin
    nan = float("nan")
    if (
        not (np.isfinite(estimate) and np.isfinite(se))
        or se < 0
        or (df is not None and df <= 0)
    ):
        return Equivalence(
            null,
            margin,
            estimate,
            se,
            df,
            alpha,
            nan,
            nan,
            (nan, nan),
            (nan, nan),
            "inconclusive",
        )
    if se == 0:  # noiseless: the estimate is the truth
        inside = lo < estimate < hi
        p = 0.0 if inside else 1.0
        outcome: Outcome = "equivalent" if inside else "not equivalent"
        pt = (estimate, estimate)
        return Equivalence(null, margin, estimate, se, df, alpha, p, p, pt, pt, outcome)
    p_lower = _sf((estimate - lo) / se, df)
    p_upper = _sf((hi - estimate) / se, df)
    q90, q95 = _quantile(1 - alpha, df), _quantile(1 - alpha / 2, df)
    ci90 = (estimate - q90 * se, estimate + q90 * se)
    ci95 = (estimate - q95 * se, estimate + q95 * se)
    if max(p_lower, p_upper) < alpha:
        outcome = "equivalent"
    elif ci95[1] < lo or ci95[0] > hi:
        outcome = "not equivalent"
    else:
        outcome = "inconclusive"
    return Equivalence(
        null, margin, estimate, se, df, alpha, p_lower, p_upper, ci90, ci95, outcome
    )
