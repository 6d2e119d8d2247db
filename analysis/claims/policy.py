"""The rules the claim evaluators apply: :class:`ClaimPolicy`.

Every evaluator of :mod:`eoss.analysis.claims.evaluate` takes a policy. The default
is the equivalence rule for exponents (TOST, margin 0.1) and stationary runs only;
``ClaimPolicy(exponent_rule="point")`` restores the strict point-null rule of
:func:`eoss.analysis.stats.exponent_verdict.exponent_verdict`. The rule applied is
printed in every row's ``criterion``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.stats.equivalence import Equivalence, rule_text, tost
from eoss.analysis.stats.exponent_verdict import exponent_verdict

POINT_RULE = (
    "point-null rule: claimed α in the 95% CI and every rival ({rivals}) outside → "
    "supported; claimed α outside → not supported; else inconclusive"
)
_OUTCOME = {
    "equivalent": Verdict.SUPPORTED,
    "not equivalent": Verdict.NOT_SUPPORTED,
    "inconclusive": Verdict.INCONCLUSIVE,
}


@dataclass(frozen=True)
class ClaimPolicy:
    """How exponents are judged and which runs count.

    Attributes:
        exponent_rule: "tost" (equivalence within ``margin``; default) or "point"
            (the strict point null with rivals).
        margin: m of the equivalence rule: |α − α₀| ≤ m counts as α₀ (0.1).
        alpha: Level of each one-sided test (0.05: 90 % CI inside the band).
        include_nonstationary: Use runs that reached 2/η but still drift in the
            scaling fits (default False: they are excluded and counted).
        bend_factor: Collapse rule: bends coincide when the ratio of two
            breakpoints is equivalent to 1 within this factor (2: ratio in
            [1/2, 2]).
        spread_margin: Spread rule (:mod:`eoss.analysis.claims.plateau_spread`):
            the FullBS spread across b counts as larger than the MiniBS spread
            when log S_F − log S_M is shown to exceed this (0.1: by more than a
            factor e^0.1 ≈ 1.1), and as not larger when shown to be below it.
    """

    exponent_rule: Literal["tost", "point"] = "tost"
    margin: float = 0.1
    alpha: float = 0.05
    include_nonstationary: bool = False
    bend_factor: float = 2.0
    spread_margin: float = 0.1

    def __post_init__(self) -> None:
        if self.exponent_rule not in ("tost", "point"):
            raise ValueError(f"exponent_rule must be tost or point: {self}")
        if not self.margin > 0 or not 0 < self.alpha < 0.5:
            raise ValueError(f"need margin > 0 and alpha in (0, 0.5): {self}")
        if not self.bend_factor > 1:
            raise ValueError(f"bend_factor must be > 1, got {self.bend_factor}")
        if not self.spread_margin >= 0:
            raise ValueError(f"spread_margin must be ≥ 0, got {self.spread_margin}")

    def exponent_rule_text(self, claimed: float, rivals: dict[str, float]) -> str:
        """The exponent rule applied to a claimed α, in words.

        Args:
            claimed: α₀.
            rivals: Rival exponents (point rule only).

        Returns:
            The rule line.
        """
        if self.exponent_rule == "point":
            return POINT_RULE.format(
                rivals=", ".join(f"α = {v:g}" for v in rivals.values()) or "none"
            )
        return rule_text(claimed, self.margin, self.alpha)

    def equivalence(
        self, estimate: float, se: float, df: float | None, claimed: float
    ) -> Equivalence:
        """TOST of an exponent against α₀ at this policy's margin.

        Args:
            estimate: α̂.
            se: Its SE.
            df: Degrees of freedom (None: normal).
            claimed: α₀.

        Returns:
            The equivalence result.
        """
        return tost(estimate, se, df, claimed, self.margin, self.alpha)

    def exponent_verdict(
        self,
        estimate: float,
        se: float,
        df: float | None,
        ci95: tuple[float, float],
        claimed: float,
        rivals: dict[str, float],
    ) -> tuple[Verdict, Equivalence | None]:
        """The verdict on "α = claimed" under this policy.

        Args:
            estimate: α̂.
            se: Its SE.
            df: Degrees of freedom (None: normal).
            ci95: Its 95 % interval (point rule).
            claimed: α₀.
            rivals: Rival exponents (point rule).

        Returns:
            (verdict, the TOST result or None under the point rule).
        """
        if self.exponent_rule == "point":
            return Verdict(exponent_verdict(ci95, claimed, rivals)), None
        eq = self.equivalence(estimate, se, df, claimed)
        return _OUTCOME[eq.outcome], eq


DEFAULT_POLICY = ClaimPolicy()
