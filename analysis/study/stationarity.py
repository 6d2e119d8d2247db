r"""Stationarity of a run phase: has the trajectory stopped drifting?

A plateau level is only a plateau if the run has stopped moving. For a phase of
steps [s, e), the *tail* is its last ``tail`` fraction (default 20 %) of steps,
:math:`t \ge s + (1 - \text{tail})(e - s)`. On the tail, the drift
:math:`D = \hat\beta L` (slope × window length, HAC standard error:
:func:`eoss.analysis.stats.drift.trend_drift`) of

* batch sharpness / (2/η) (MiniBS / (2/η) when batch sharpness is not recorded), and
* FullBS / (2/η)

* MiniBS / (2/η) as well, where batch sharpness is the first series (the gap and
  the EoSS band are MiniBS levels),

is computed, and the stationarity rule of
:mod:`eoss.empirical.training.stationarity` applied: under ``rule="point"`` (the
default) the phase is *stationary* when :math:`|D| \le \tau` for every series,
τ = ``drift_tol`` = 0.05 (5 % of 2/η across the tail), *not stationary* when one
exceeds it; under ``rule="equivalence"`` each drift's 90 % interval
:math:`D \pm t_{0.95,n-2} SE` must lie inside ±τ (TOST at 5 %), one lying wholly
outside is drifting, anything else is undetermined; *undetermined* also when a
series has fewer than 3 tail measurements. Whatever the rule, the verdict under
the other one is kept too (:attr:`Stationarity.other`), so a report can say how
many point-rule "stationary" runs the strict rule can actually show flat.

The tail window and the verdict are
:mod:`eoss.empirical.training.stationarity`'s (:func:`tail_start`,
:func:`is_stationary`), the rule a run trained with ``stop.until_stationary``
applies to stop, so training and analysis agree. (Runs trained before MiniBS
joined the rule stopped on batch sharpness and FullBS alone; the analysis applies
the full rule to their records.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from eoss.analysis.stats.drift import Drift, trend_drift
from eoss.empirical.training.stationarity import RULES, is_stationary, tail_start

__all__ = ["RULES", "Stationarity", "is_stationary", "stationarity", "tail_start"]


@dataclass(frozen=True)
class Stationarity:
    """Tail drifts of a phase and the stationarity verdict (module docstring).

    Attributes:
        tail: (first, last) step of the tail window (phase steps, inclusive).
        tol: τ, in units of 2/η.
        sharpness_series: "batch_sharpness" or "minibs" (the first series tested).
        sharpness: Its drift (units of 2/η), or None (too few points).
        fullbs: FullBS drift (units of 2/η), or None.
        stationary: True / False, or None when undetermined.
        minibs: MiniBS drift (units of 2/η) when batch sharpness is the first
            series (then part of the rule), else None.
        rule_kind: The rule of ``stationary``: "point" or "equivalence".
        other: The verdict under the other rule (True / False / None).
    """

    tail: tuple[int, int]
    tol: float
    sharpness_series: str
    sharpness: Drift | None
    fullbs: Drift | None
    stationary: bool | None
    minibs: Drift | None = None
    rule_kind: str = "point"
    other: bool | None = None

    @property
    def rule(self) -> str:
        """The rule, with τ."""
        series = "batch sharpness, FullBS and MiniBS (drift = OLS slope × window)"
        if self.rule_kind == "equivalence":
            return (
                "stationary: the 90% interval (HAC SE) of every drift within "
                f"±{self.tol:g}·2/η over the last 20% of steps (TOST at 5%) for "
                f"{series}"
            )
        return (
            f"stationary: |drift| ≤ {self.tol:g}·2/η over the last 20% of steps for "
            f"{series}, HAC SE reported"
        )

    @property
    def state(self) -> str:
        """``"stationary"``, ``"drifting"`` or ``"undetermined"`` under the rule."""
        return _STATE[self.stationary]

    @property
    def other_state(self) -> str:
        """The state under the other rule (e.g. the equivalence rule's)."""
        return _STATE[self.other]

    def text(self) -> str:
        """``bs +0.01 ± 0.02, FullBS +0.12 ± 0.03`` (units of 2/η).

        Returns:
            One line.
        """

        def one(name: str, d: Drift | None) -> str:
            if d is None:
                return f"{name} —"
            if not math.isfinite(d.se):  # a Newey–West SE needs >= 4 points
                return f"{name} {d.drift:+.3f} (SE n/a: {d.n} points)"
            return f"{name} {d.drift:+.3f} ± {d.se:.2g}"

        name = "bs" if self.sharpness_series == "batch_sharpness" else "MiniBS"
        text = f"{one(name, self.sharpness)}, {one('FullBS', self.fullbs)}"
        if self.minibs is not None:
            text += f", {one('MiniBS', self.minibs)}"
        other = next(r for r in RULES if r != self.rule_kind)
        return f"{text} ({other} rule: {self.other_state})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict.

        Returns:
            Plain data.
        """
        return {
            "tail": list(self.tail),
            "tol": self.tol,
            "sharpness_series": self.sharpness_series,
            "sharpness": None if self.sharpness is None else self.sharpness.to_dict(),
            "fullbs": None if self.fullbs is None else self.fullbs.to_dict(),
            "stationary": self.stationary,
            "minibs": None if self.minibs is None else self.minibs.to_dict(),
            "rule": self.rule_kind,
            "other": self.other,
        }


_STATE = {True: "stationary", False: "drifting", None: "undetermined"}


def stationarity(
    tail: tuple[int, int],
    sharpness: tuple[str, NDArray, NDArray],
    fullbs: tuple[NDArray, NDArray],
    tol: float,
    minibs: tuple[NDArray, NDArray] | None = None,
    rule: str = "point",
) -> Stationarity:
    """Apply the stationarity rule to a phase's tail (module docstring).

    Args:
        tail: (first, last) step of the tail.
        sharpness: (series name, steps, values / (2/η)) of the sharpness series.
        fullbs: (steps, FullBS / (2/η)).
        tol: τ.
        minibs: (steps, MiniBS / (2/η)), in the rule when ``sharpness`` is batch
            sharpness (ignored when it is MiniBS already).
        rule: "point" or "equivalence" (module docstring).

    Returns:
        The drifts and the verdicts under ``rule`` and under the other rule.

    Raises:
        ValueError: For an unknown rule.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    name, s_steps, s_vals = sharpness
    d_s = trend_drift(s_steps, s_vals)
    d_f = trend_drift(*fullbs)
    d_m = None if minibs is None or name == "minibs" else trend_drift(*minibs)
    tested = (d_s, d_f) if minibs is None or name == "minibs" else (d_s, d_f, d_m)
    other = next(r for r in RULES if r != rule)
    verdict = is_stationary(tested, tol, rule)
    alt = is_stationary(tested, tol, other)
    return Stationarity(tail, tol, name, d_s, d_f, verdict, d_m, rule, alt)
