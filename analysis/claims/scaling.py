"""Claims about how the gap scales with b: static, trained, random-matrix.

Each function takes a :class:`eoss.analysis.study.study.Study` and returns claim rows
(:mod:`eoss.analysis.claims.table`), one per data source (sweep, table). The
symbolic claims are in :mod:`eoss.analysis.claims.symbolic`.
Windows are those of :mod:`eoss.analysis.study.gap_fits`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from eoss.analysis.claims.exponents import exponent_row
from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.table import (
    ClaimRow,
    fmt,
    fmt_fit,
    interval,
    not_measured,
    ordering_verdict,
    row,
    welch_difference,
)
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.stats.powerlaw import weighted_fit
from eoss.analysis.study.gap_fits import LARGE, MID, SMALL, CurveFits, try_fit
from eoss.analysis.study.study import Study, sampling_of


def _exponent_row(
    key: str,
    source: str,
    cf: CurveFits,
    window: str,
    claimed: float,
    rivals: dict[str, float],
    policy: ClaimPolicy,
    extra: str = "",
) -> ClaimRow:
    fit = cf.fits.get(window, f"window {window} not fitted")
    notes = (extra, _unconverged(cf))
    return exponent_row(
        key,
        source,
        fit,
        claimed,
        rivals,
        policy,
        where=f"window {window}",
        notes=notes,
        profile=cf.profile,
    )


def _unconverged(cf: CurveFits) -> str:
    k = cf.n_unconverged
    return f"{k} unconverged point(s) dropped" if k else ""


def fullbs_lower_small_b(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """FullBS plateau increases with b (WLS slope of FullBS/(2/η) on log b > 0).

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`).

    Returns:
        One row per sweep.
    """
    rows = []
    rule = "ordering rule: WLS slope of FullBS/(2/η) on log b > 0 (one-sided 5%)"
    for s in study.sweeps:
        ok = np.isfinite(s.fullbs) & np.isfinite(s.fullbs_se) & (s.fullbs_se > 0)
        if ok.sum() < 3:
            rows.append(
                row(
                    "fullbs_lower_small_b",
                    s.label,
                    "—",
                    Verdict.NOT_MEASURED,
                    rule,
                    "fewer than 3 batch sizes at EoSS",
                )
            )
            continue
        u = np.log(s.batch_size[ok])
        res = weighted_fit(
            s.fullbs[ok],
            np.column_stack([np.ones_like(u), u]),
            1 / s.fullbs_se[ok] ** 2,
            "residual",
        )
        slope, se = float(res.params[1]), float(res.bse[1])
        bs = ", ".join(f"{b:g}" for b in s.batch_size[ok])
        measured = f"slope {fmt(slope)} ± {fmt(se, 2)} per unit log b (b = {bs})"
        rows.append(
            row(
                "fullbs_lower_small_b",
                s.label,
                measured,
                ordering_verdict(slope, se, res.df_resid),
                rule,
                estimate=slope,
                ci=interval(slope, se, res.df_resid),
                units="FullBS/(2/η) per unit log b",
            )
        )
    return rows or [not_measured("fullbs_lower_small_b")]


def static_gap(study: Study, policy: ClaimPolicy = DEFAULT_POLICY) -> list[ClaimRow]:
    """Static gap ∝ b^-1 (window ``far_fpc`` / ``far`` / ``all``, see :mod:`study`).

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`).

    Returns:
        One row per static curve.
    """
    rows = [
        _exponent_row(
            "static_gap_b_minus_1",
            label,
            cf,
            _b_minus_1_window(cf),
            1.0,
            {"b^-0.7": 0.7, "b^-1/2": 0.5},
            policy,
            _raw_far(cf),
        )
        for label, cf in sorted(study.static_fits.items())
    ]
    return rows or [not_measured("static_gap_b_minus_1")]


def _b_minus_1_window(cf: CurveFits) -> str:
    """far_fpc when fitted (without replacement, n known), else far, else all."""
    if "far_fpc" in cf.fits:
        return "far_fpc"
    return "far" if cf.n else "all"


def _raw_far(cf: CurveFits) -> str:
    raw = cf.fit("far")
    if "far_fpc" not in cf.fits or raw is None:
        return ""
    lo, hi = raw.exponent_ci
    return (
        f"gap divided by φ_b = (n − b)/(n − 1); uncorrected α = {fmt(raw.exponent)} "
        f"[{fmt(lo)}, {fmt(hi)}]"
    )


def trained_gap(study: Study, policy: ClaimPolicy = DEFAULT_POLICY) -> list[ClaimRow]:
    """Trained plateau gap ∝ b^-0.7 on [10, 100] and ∝ b^-1 on [100, 1000].

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`).

    Returns:
        Two rows per sweep (or not-measured rows).
    """
    rows = []
    for key, window, rivals in (
        ("trained_gap_b_minus_0_7", MID, {"b^-1": LARGE.paper_exponent}),
        ("trained_gap_b_minus_1", LARGE, {"b^-0.7": MID.paper_exponent}),
    ):
        these = [
            _exponent_row(
                key,
                s.label,
                study.sweep_fits[s.key],
                window.name,
                window.paper_exponent,
                rivals,
                policy,
                _excluded(s.excluded),
            )
            for s in study.sweeps
        ]
        rows += these or [not_measured(key)]
    return rows


def _excluded(excluded: dict[str, str]) -> str:
    """``dropped 3 runs not at a stationary EoSS plateau (non_stationary: 2, …)``."""
    if not excluded:
        return ""
    counts: dict[str, int] = {}
    for status in excluded.values():
        counts[status] = counts.get(status, 0) + 1
    by = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    return f"dropped {len(excluded)} run(s) not at a stationary EoSS plateau ({by})"


def gap_plateau_small_b(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """For b < 10 the trained gap is independent of b: α ≈ 0 on b ∈ [1, 8].

    Paper (Appendix C.2): "A distinct scaling regime emerges for very small batch
    sizes (< 10) [...] the gap appears largely independent of the batch size".
    Under the default (TOST) policy the window's fitted exponent (WLS on every
    stationary run at b ∈ [1, 8], t on n − 2 df) must be equivalent to 0 within
    the policy's margin; fewer than 3 runs or fewer than 2 batch sizes there are
    inconclusive, and so is an interval too wide to decide. Under the strict
    ("point") policy the old ordering rule applies: α(b ∈ [10, 100]) −
    α(b ∈ [1, 8]) > 0 (Welch, one-sided 5 %), which says the gap decays more
    slowly at small b, not that it is flat.

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`).

    Returns:
        One row per sweep.
    """
    if policy.exponent_rule == "point":
        return _small_b_ordering(study)
    key, window = "gap_plateau_small_b", f"window {SMALL.name} = b ∈ [1, 8] (b < 10)"
    rows = []
    for s in study.sweeps:
        cf = study.sweep_fits[s.key]
        fit = cf.fits.get(SMALL.name, "not fitted")
        notes = (_excluded(s.excluded), _unconverged(cf))
        kw = {"where": window, "notes": notes, "profile": cf.profile}
        r = exponent_row(key, s.label, fit, 0.0, {}, policy, **kw)
        if isinstance(fit, str):  # too few stationary runs or batch sizes below 10
            need = "needs ≥ 3 stationary runs at ≥ 2 batch sizes below 10"
            r = replace(r, verdict=Verdict.INCONCLUSIVE, note=f"{need}; {r.note}")
        rows.append(r)
    return rows or [not_measured(key)]


def _small_b_ordering(study: Study) -> list[ClaimRow]:
    """The strict policy's rule: the small-b exponent is below the [10, 100] one."""
    rows = []
    rule = "ordering rule: α(b ∈ [10, 100]) − α(b ∈ [1, 8]) > 0 (Welch, one-sided 5%)"
    for s in study.sweeps:
        cf = study.sweep_fits[s.key]
        small, mid = cf.fit(SMALL.name), cf.fit(MID.name)
        if small is None or mid is None:
            rows.append(
                row(
                    "gap_plateau_small_b",
                    s.label,
                    "—",
                    Verdict.NOT_MEASURED,
                    rule,
                    "needs ≥ 3 batch sizes in [1, 8] and in [10, 100]",
                )
            )
            continue
        diff, se, df = welch_difference(small, mid)
        measured = f"small b: {fmt_fit(small)}; mid: α = {fmt(mid.exponent)}"
        rows.append(
            row(
                "gap_plateau_small_b",
                s.label,
                measured,
                ordering_verdict(diff, se, df),
                rule,
                estimate=diff,
                ci=interval(diff, se, df),
                units="α(b ∈ [10, 100]) − α(b ∈ [1, 8])",
            )
        )
    return rows or [not_measured("gap_plateau_small_b")]


def _near_row(source: str, cf: CurveFits) -> ClaimRow | None:
    near, far = cf.fit("near"), cf.fit("far")
    if near is None or far is None:
        return None
    diff, se, df = welch_difference(far, near)
    rule = "ordering rule: α(b ∈ [n/4, n)) − α(b ∈ [1, n/16]) > 0 (Welch, one-sided 5%)"
    measured = f"near n: {fmt_fit(near)}; far: α = {fmt(far.exponent)}"
    dropped = near.n_excluded or "none"
    note = f"n = {cf.n}; gaps ≤ 0 near n are excluded and counted ({dropped})"
    return row(
        "steeper_near_n",
        source,
        measured,
        ordering_verdict(diff, se, df),
        rule,
        note,
        estimate=diff,
        ci=interval(diff, se, df),
        units="α(b ∈ [n/4, n)) − α(b ∈ [1, n/16])",
    )


def steeper_near_n(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """Faster decay for b ≥ n/4 than for b ≤ n/16, on every curve with n known.

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`).

    Returns:
        One row per curve that has enough points near n.
    """
    sources: list[tuple[str, CurveFits]] = [
        (s.label, study.sweep_fits[s.key]) for s in study.sweeps
    ]
    sources += [(f"static {k}", v) for k, v in sorted(study.static_fits.items())]
    tables = {study.inputs.relative(t.path): t for t in study.inputs.simulate}
    for label, cf in sorted(study.simulate_fits.items()):
        if sampling_of(tables[label]) in (None, "without"):
            sources.append((f"simulation {label}", cf))
    rows = [r for r in (_near_row(src, cf) for src, cf in sources) if r is not None]
    return rows or [not_measured("steeper_near_n")]


def random_matrix(study: Study, policy: ClaimPolicy = DEFAULT_POLICY) -> list[ClaimRow]:
    """Simulated gap ∝ b^-1 for small b, and ∝ b^-1/2 at large b (with / online).

    Without replacement the b^-1 claim uses the ``far_fpc`` window (b ≤ n/16,
    finite-population factor divided out). With replacement or online there is no
    finite-population effect, but matrix Bernstein predicts a 1/√b regime at large
    b, so the b^-1 claim uses b < b_max/16 and the b^-1/2 claim the largest four
    octaves, b ∈ [b_max/16, b_max].

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`).

    Returns:
        Rows per simulation table.
    """
    tables = {study.inputs.relative(t.path): t for t in study.inputs.simulate}
    rows, sqrt_rows = [], []
    for label, cf in sorted(study.simulate_fits.items()):
        if sampling_of(tables[label]) not in ("with", "online"):
            key, rivals = "random_matrix_b_minus_1", {"b^-1/2": 0.5}
            window = _b_minus_1_window(cf)
            rows.append(
                _exponent_row(key, label, cf, window, 1.0, rivals, policy, _raw_far(cf))
            )
            continue
        top = float(np.nanmax(cf.curve.batch_size))
        low = (0.0, np.nextafter(top / 16, 0))
        rows.append(
            _window_row("random_matrix_b_minus_1", label, cf, low, 1.0, 0.5, policy)
        )
        sqrt_rows.append(
            _window_row(
                "random_matrix_sqrt_large_b",
                label,
                cf,
                (top / 16, top),
                0.5,
                1.0,
                policy,
            )
        )
    return (rows or [not_measured("random_matrix_b_minus_1")]) + (
        sqrt_rows or [not_measured("random_matrix_sqrt_large_b")]
    )


def _window_row(
    key: str,
    label: str,
    cf: CurveFits,
    window: tuple[float, float],
    claimed: float,
    rival: float,
    policy: ClaimPolicy,
) -> ClaimRow:
    """Exponent row for an ad-hoc b window (not one of the named ones)."""
    lo, hi = window
    where = f"b ∈ [{lo:g}, {hi:g}]" if lo > 0 else f"b < {np.nextafter(hi, np.inf):g}"
    return exponent_row(
        key,
        label,
        try_fit(cf.curve, window),
        claimed,
        {"rival": rival},
        policy,
        where=where,
        notes=(_unconverged(cf),),
        profile=cf.profile,
    )
