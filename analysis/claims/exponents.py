"""Claim rows on a power-law exponent, judged under a :class:`ClaimPolicy`.

Every row states the rule it applied (TOST with its margin, or the point null),
its two one-sided p-values under TOST, and the curve's local-slope profile
(:mod:`eoss.analysis.stats.local_slopes`) so a reader sees where the curve bends,
not only the window's single exponent.
"""

from __future__ import annotations

from eoss.analysis.claims.policy import ClaimPolicy
from eoss.analysis.claims.table import ClaimRow, fmt, fmt_fit, row
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.stats.local_slopes import SlopeProfile
from eoss.analysis.stats.powerlaw import PowerLawFit

ALPHA = "α (gap ∝ b^-α)"


def fit_df(fit: PowerLawFit) -> float | None:
    """Degrees of freedom of a fit's exponent (None for normal-based "fixed").

    Args:
        fit: The fit.

    Returns:
        n − 2, or None.
    """
    return None if fit.scale == "fixed" else float(fit.df_resid)


def profile_note(profile: SlopeProfile | None) -> str:
    """``local slopes (95% CI): b 4→8: …`` or "".

    Args:
        profile: The curve's local-slope profile.

    Returns:
        Text.
    """
    if profile is None or len(profile.exponent) == 0:
        return ""
    return "local slopes (95% CI): " + profile.text()


def exponent_row(
    key: str,
    source: str,
    fit: PowerLawFit | str,
    claimed: float,
    rivals: dict[str, float],
    policy: ClaimPolicy,
    *,
    where: str,
    notes: tuple[str, ...] = (),
    profile: SlopeProfile | None = None,
) -> ClaimRow:
    """A row on "gap ∝ b^-claimed" from a fit (or the reason there is none).

    Args:
        key: Claim key.
        source: Data source.
        fit: The fit, or why it could not be made.
        claimed: α₀.
        rivals: Rival exponents (used by the point rule).
        policy: The rules.
        where: The window, in words.
        notes: Extra notes (exclusions, corrections).
        profile: The whole curve's local-slope profile.

    Returns:
        The row.
    """
    rule = policy.exponent_rule_text(claimed, rivals)
    extra = [n for n in (*notes, profile_note(profile)) if n]
    if isinstance(fit, str):
        note = "; ".join([f"{where}: {fit}", *extra])
        return row(key, source, "—", Verdict.NOT_MEASURED, rule, note)
    verdict, eq = policy.exponent_verdict(
        fit.exponent, fit.exponent_se, fit_df(fit), fit.exponent_ci, claimed, rivals
    )
    measured = fmt_fit(fit)
    if eq is not None:
        lo, hi = eq.ci90
        measured += (
            f"; 90% CI [{fmt(lo)}, {fmt(hi)}], TOST p = "
            f"({fmt(eq.p_lower, 2)}, {fmt(eq.p_upper, 2)})"
        )
    note = [where]
    if fit.n_excluded:
        note.append(f"excluded {dict(sorted(fit.n_excluded.items()))}")
    return row(
        key,
        source,
        measured,
        verdict,
        rule,
        "; ".join(note + extra),
        estimate=fit.exponent,
        ci=fit.exponent_ci,
        units=ALPHA,
    )
