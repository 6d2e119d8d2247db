r"""Shape claims on the trained gap: three regimes located, and collapse on b/b_c.

**Regimes** (paper §4 and Appendix C: "for very small b the gap plateaus"; "for
batch sizes in the range [10, 100] the gap appears to scale as 1/b^0.7. Meanwhile,
for batch sizes in [100, 1000], the gap scales as 1/b"): a continuous three-segment
power law (:func:`eoss.analysis.stats.segmented.fit_segmented`, breakpoints with
profile-F intervals) is fitted to the sweep's plateau gap over every b. Each
segment's exponent is judged against its regime's (0, 0.7, 1) by the policy's
exponent rule (TOST, margin m by default), and the bends are *located*, not
assumed: their estimates and intervals are reported as multiples of the paper's
bends, b ≈ 10 and b ≈ 100. Rule: supported if all three segments are equivalent to
their regime's exponent and both breakpoint intervals are closed (the data bound
them); not supported if some segment is not equivalent; inconclusive otherwise.
Where the bends fall does not enter the verdict (the shape is the claim; the
location is a setting effect, reported).

**Collapse** (a test offered by issue 12, not a statement of the paper): if the
trained gap is the static curve's shape in the variable b/b_c, with b_c the static
curve's bend, the two curves bend at the same b. Both are fitted with two segments;
with :math:`r = \log(b_t / b_c)` and its SE from the two profile intervals (each
interval's log half-width / z, combined in quadrature), the collapse is supported
when r is TOST-equivalent to 0 within ±log(``bend_factor``) (a factor 2 by default),
not supported when the 95 % interval of r lies outside that band.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.table import ClaimRow, fmt, not_measured, row
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.stats.compare import GapCurve
from eoss.analysis.stats.equivalence import tost
from eoss.analysis.stats.segmented import SegmentedFit, fit_segmented
from eoss.analysis.study.study import Study

# The paper's regimes (exponent of gap ∝ b^-α) and the bends between them.
PAPER_REGIMES = (("plateau", 0.0), ("b^-0.7", 0.7), ("b^-1", 1.0))
PAPER_BENDS = (10.0, 100.0)


def _segmented(curve: GapCurve, k: int) -> SegmentedFit | str:
    try:
        return fit_segmented(curve.batch_size, curve.gap, se=curve.gap_se, n_segments=k)
    except ValueError as exc:
        return str(exc)


def _bend_text(fit: SegmentedFit, paper: tuple[float, ...]) -> str:
    parts = []
    for b, (lo, hi), (o_lo, o_hi), ref in zip(
        fit.breakpoints, fit.breakpoint_ci, fit.breakpoint_ci_open, paper, strict=True
    ):
        flag = " (open)" if o_lo or o_hi else ""
        parts.append(
            f"bend at b = {fmt(b)} [{fmt(lo)}, {fmt(hi)}]{flag} = {fmt(b / ref, 2)}× "
            f"the paper's b ≈ {ref:g}"
        )
    return "; ".join(parts)


def regime_verdict(fit: SegmentedFit, policy: ClaimPolicy) -> tuple[Verdict, str]:
    """The shape verdict of a three-segment fit (module docstring).

    Args:
        fit: A 3-segment fit.
        policy: The rules.

    Returns:
        (verdict, per-segment text).
    """
    df = None if fit.scale == "fixed" else float(fit.df_resid)
    verdicts, texts = [], []
    for (name, a0), a, se, ci in zip(
        PAPER_REGIMES, fit.exponents, fit.exponent_se, fit.exponent_ci, strict=True
    ):
        v, eq = policy.exponent_verdict(a, se, df, ci, a0, {})
        verdicts.append(v)
        p = "" if eq is None else f", TOST p = {fmt(eq.p_tost, 2)}"
        texts.append(f"{name}: α = {fmt(a)} [{fmt(ci[0])}, {fmt(ci[1])}]{p} → {v}")
    located = not any(o for pair in fit.breakpoint_ci_open for o in pair)
    if any(v is Verdict.NOT_SUPPORTED for v in verdicts):
        verdict = Verdict.NOT_SUPPORTED
    elif all(v is Verdict.SUPPORTED for v in verdicts) and located:
        verdict = Verdict.SUPPORTED
    else:
        verdict = Verdict.INCONCLUSIVE
    if not located:
        texts.append("a bend is not bounded by the data (open interval)")
    return verdict, "; ".join(texts)


def trained_gap_regimes(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """Plateau → b^-0.7 → b^-1, bends located (module docstring).

    Args:
        study: The study.
        policy: The rules.

    Returns:
        One row per sweep.
    """
    key = "trained_gap_regimes"
    rule = (
        "shape rule: 3-segment continuous power law; each segment's α judged against "
        "(0, 0.7, 1) by "
        + policy.exponent_rule_text(0.7, {}).split(":")[0]
        + f" (margin {policy.margin:g}); supported iff all three pass and both bends "
        "have closed profile-F intervals; not supported if any segment fails "
        "(the bend intervals cover ≈ 92 %, not 95 %, in simulations of this shape: "
        "analysis/stats/segmented.py)"
    )
    rows = []
    for s in study.sweeps:
        fit = _segmented(s.curve(), 3)
        if isinstance(fit, str):
            rows.append(row(key, s.label, "—", Verdict.NOT_MEASURED, rule, fit))
            continue
        verdict, text = regime_verdict(fit, policy)
        rows.append(
            row(
                key,
                s.label,
                text,
                verdict,
                rule,
                _bend_text(fit, PAPER_BENDS),
                estimate=fit.breakpoints[0],
                ci=fit.breakpoint_ci[0],
                units="first bend (b)",
            )
        )
    return rows or [not_measured(key)]


def _log_se(fit: SegmentedFit, alpha: float) -> float:
    lo, hi = fit.breakpoint_ci[0]
    z = float(stats.norm.ppf(1 - alpha / 2))
    return float((np.log(hi) - np.log(lo)) / (2 * z))


def gap_collapse(study: Study, policy: ClaimPolicy = DEFAULT_POLICY) -> list[ClaimRow]:
    """Trained gap vs b/b_c: does it bend where the static curve does?

    Args:
        study: The study.
        policy: The rules.

    Returns:
        One row per (static curve, sweep) pair.
    """
    key = "gap_collapse"
    m = float(np.log(policy.bend_factor))
    rule = (
        f"collapse rule: r = log(b_trained / b_c), 2-segment bends; TOST |r| ≤ "
        f"log {policy.bend_factor:g} (90% CI inside) → supported; 95% CI outside → "
        "not supported; else inconclusive"
    )
    sweeps = {s.key: s for s in study.sweeps}
    rows = []
    for label, skey, _ in study.comparisons:
        static = _segmented(study.static_fits[label].curve, 2)
        trained = _segmented(sweeps[skey].curve(), 2)
        src = f"static {label} vs {sweeps[skey].label}"
        bad = [f for f in (static, trained) if isinstance(f, str)]
        if bad or any(o for f in (static, trained) for o in f.breakpoint_ci_open[0]):
            why = bad[0] if bad else "a bend is not bounded by the data"
            rows.append(row(key, src, "—", Verdict.NOT_MEASURED, rule, why))
            continue
        r = float(np.log(trained.breakpoints[0] / static.breakpoints[0]))
        se = float(np.hypot(_log_se(static, 0.05), _log_se(trained, 0.05)))
        eq = tost(r, se, None, 0.0, m, policy.alpha)
        verdict = {
            "equivalent": Verdict.SUPPORTED,
            "not equivalent": Verdict.NOT_SUPPORTED,
        }.get(eq.outcome, Verdict.INCONCLUSIVE)
        measured = (
            f"b_c = {fmt(static.breakpoints[0])}, trained bend = "
            f"{fmt(trained.breakpoints[0])}; ratio {fmt(np.exp(r))} "
            f"[{fmt(np.exp(eq.ci95[0]))}, {fmt(np.exp(eq.ci95[1]))}]"
        )
        rows.append(
            row(
                key,
                src,
                measured,
                verdict,
                rule,
                f"TOST p = ({fmt(eq.p_lower, 2)}, {fmt(eq.p_upper, 2)})",
                estimate=float(np.exp(r)),
                ci=(float(np.exp(eq.ci95[0])), float(np.exp(eq.ci95[1]))),
                units="trained bend / static bend",
            )
        )
    return rows or [not_measured(key)]
