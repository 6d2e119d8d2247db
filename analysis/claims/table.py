"""The claims table: each claim of the paper → measured value with interval → verdict.

Verdicts are :class:`~eoss.analysis.claims.verdict.Verdict` members (their values
are :data:`VERDICTS`). Every claim in :data:`CLAIMS` gets at least one
row; a claim the inputs cannot speak to gets a ``"not measured"`` row saying what
would measure it. Rows are produced per data source (run, sweep, table), so a claim
can be supported by one source and not by another; nothing is averaged away.

Decision rules (each row repeats its rule in ``criterion``):

* **Band rules** (levels in units of 2/η with 95 % batch-means intervals): supported
  if every interval lies inside the band, not supported if some interval lies
  entirely outside it, inconclusive otherwise.
* **Exponent rules** (chosen by :class:`eoss.analysis.claims.policy.ClaimPolicy`):
  by default equivalence (TOST, :mod:`eoss.analysis.stats.equivalence`) with margin
  m = 0.1: supported if the 90 % interval lies inside [α₀ − m, α₀ + m], not
  supported if the 95 % interval lies entirely outside it, inconclusive otherwise;
  optionally the strict point null
  (:func:`eoss.analysis.stats.exponent_verdict.exponent_verdict`).
* **Shape rules** (:mod:`eoss.analysis.claims.regimes`): segmented fits with
  located breakpoints, each segment judged by the exponent rule.
* **Ordering rules** (one exponent or slope larger than another): one-sided test at
  5 %; supported if significant in the claimed direction, not supported if
  significant in the opposite direction, inconclusive otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.stats.powerlaw import PowerLawFit

VERDICTS = tuple(v.value for v in Verdict)

# key → (claim text, what measures it)
CLAIMS: dict[str, tuple[str, str]] = {
    "minibs_band": (
        "After progressive sharpening, MiniBS hovers in [2/η, 4/η]",
        "training runs that reach EoSS (minibs table)",
    ),
    "batch_sharpness_at_threshold": (
        "Batch sharpness stabilises at 2/η (paper v3+ wording)",
        "training runs with batch_sharpness in the minibs table",
    ),
    "fullbs_below_minibs": (
        "FullBS < MiniBS always",
        "training runs with both minibs and fullbs tables, or static gap curves",
    ),
    "minibs_flat_fullbs_varies": (
        "Across b the MiniBS plateau varies by at most a factor 2 (as its band "
        "[2/η, 2 × 2/η] allows) while the FullBS plateau varies more (paper: by "
        "an order of magnitude, 0.1 × 2/η to 2/η; that part reported, not judged)",
        "a sweep with stationary plateaus at ≥ 3 batch sizes",
    ),
    "fullbs_lower_small_b": (
        "FullBS (at the plateau) is lower for smaller b",
        "a sweep over ≥ 3 batch sizes at one η",
    ),
    "static_gap_b_minus_1": (
        "Static gap (frozen network) ∝ b^-1",
        "eoss static-gap curves",
    ),
    "trained_gap_b_minus_0_7": (
        "Trained plateau gap ∝ b^-0.7 for b in [10, 100]",
        "a sweep with ≥ 3 batch sizes in [10, 100] reaching EoSS",
    ),
    "trained_gap_b_minus_1": (
        "Trained plateau gap ∝ b^-1 for b in [100, 1000]",
        "a sweep with ≥ 3 batch sizes in [100, 1000] reaching EoSS",
    ),
    "trained_gap_regimes": (
        "Trained gap has three regimes: plateau at very small b, b^-0.7 for "
        "typical b, b^-1 for large b (bends near b ≈ 10 and b ≈ 100)",
        "a sweep with > 6 runs at EoSS spanning the regimes",
    ),
    "gap_collapse": (
        "(offered test, not a paper claim) The trained gap bends where the static "
        "curve does: it collapses in b/b_c, b_c the static curve's bend",
        "a static curve and a sweep, each with ≥ 5 points",
    ),
    "gap_plateau_small_b": (
        "For very small b (< 10) the gap is largely independent of b (a plateau)",
        "a sweep with ≥ 3 stationary runs at ≥ 2 batch sizes in [1, 8] (and, "
        "under the point rule, ≥ 3 in [10, 100])",
    ),
    "steeper_near_n": (
        "The gap decays faster near b ≈ n",
        "gap curves with the data-set size n recorded and ≥ 3 points in [n/4, n)",
    ),
    "lr_down": (
        "Lowering η mid-run: MiniBS re-equilibrates in the EoSS band of the new "
        "2/η (rises with it)",
        "runs with an η decrease (schedule)",
    ),
    "lr_up": (
        "Raising η mid-run: MiniBS re-equilibrates in the EoSS band of the new "
        "2/η (falls with it)",
        "runs with an η increase (schedule)",
    ),
    "batch_size_up": (
        "Raising b mid-run: MiniBS stays in the EoSS band of 2/η",
        "runs with a batch-size increase (schedule)",
    ),
    "noise_full_covariance_only": (
        "Only full-covariance noise reproduces EoSS (not diagonal, not isotropic)",
        "noise-injected GD runs with noise.kind gaussian, diagonal and isotropic",
    ),
    "ntk_tracks_minibs": (
        "MiniBS tracks the averaged mini-batch NTK λ_max",
        "training runs with an ntk table",
    ),
    "random_matrix_b_minus_1": (
        "Random-matrix gap ∝ b^-1 (b ≪ n)",
        "eoss simulate gap curves",
    ),
    "random_matrix_sqrt_large_b": (
        "Random-matrix gap ∝ b^-1/2 at large b (with replacement / online)",
        "eoss simulate gap curves sampled with replacement or online",
    ),
    "symbolic": (
        "Appendix F / Lemma 4.1 / EoS-threshold statements (symbolic)",
        "eoss derive all --json",
    ),
}


# What kind of evidence a claim's rows rest on (headline counts are per kind).
KINDS = ("network", "random-matrix", "symbolic")


def claim_kind(key: str) -> str:
    """The kind of a claim: "random-matrix", "symbolic" or "network".

    Args:
        key: Claim key.

    Returns:
        One of :data:`KINDS`.
    """
    if key.startswith("random_matrix"):
        return "random-matrix"
    return "symbolic" if key == "symbolic" else "network"


@dataclass(frozen=True)
class ClaimRow:
    """One row of the claims table.

    Attributes:
        key: Claim key (see :data:`CLAIMS`).
        claim: The claim's text.
        source: The data the row is about.
        measured: The measured value(s) with interval(s), as text.
        verdict: The :class:`Verdict` (its text is accepted and converted).
        criterion: The decision rule applied.
        note: Anything the reader must know (exclusions, caveats).
        estimate: The row's primary number, when it has one (None otherwise).
        ci: Its 95 % interval (None when there is no estimate or no interval).
        units: What ``estimate`` is measured in ("" without an estimate).
        kind: "network", "random-matrix" or "symbolic" (from the key when "").
    """

    key: str
    claim: str
    source: str
    measured: str
    verdict: Verdict
    criterion: str
    note: str = ""
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    units: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        if not self.kind:
            object.__setattr__(self, "kind", claim_kind(self.key))
        if self.kind not in KINDS:
            raise ValueError(f"bad claim kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON- and CSV-ready).

        Returns:
            The fields, with ``verdict`` as its text and ``ci`` split into
            ``ci_lo`` / ``ci_hi`` (None when absent).
        """
        out = asdict(self)
        lo, hi = (None, None) if self.ci is None else self.ci
        del out["ci"], out["units"], out["kind"]
        return out | {
            "verdict": self.verdict.value,
            "ci_lo": lo,
            "ci_hi": hi,
            "units": self.units,
            "kind": self.kind,
        }


def row(
    key: str,
    source: str,
    measured: str,
    verdict: Verdict | str,
    criterion: str,
    note: str = "",
    *,
    estimate: float | None = None,
    ci: tuple[float, float] | None = None,
    units: str = "",
) -> ClaimRow:
    """Build a row for claim ``key`` (its text from :data:`CLAIMS`).

    Args:
        key: Claim key.
        source: Data source.
        measured: Measured value text.
        verdict: Verdict (a member or its text).
        criterion: Rule.
        note: Note.
        estimate: The primary number, if the row has one.
        ci: Its 95 % interval.
        units: Units of ``estimate``.

    Returns:
        The row.

    Raises:
        ValueError: On an unknown key or verdict.
    """
    if key not in CLAIMS or verdict not in VERDICTS:
        raise ValueError(f"bad claim row {key!r} / {verdict!r}")
    return ClaimRow(
        key,
        CLAIMS[key][0],
        source,
        measured,
        Verdict(verdict),
        criterion,
        note,
        None if estimate is None else float(estimate),
        None if ci is None else (float(ci[0]), float(ci[1])),
        units,
    )


def not_measured(key: str, why: str = "") -> ClaimRow:
    """The row for a claim the inputs cannot speak to.

    Args:
        key: Claim key.
        why: Extra reason (default: what would measure it).

    Returns:
        The row.
    """
    need = CLAIMS[key][1]
    return row(key, "—", "—", Verdict.NOT_MEASURED, "—", why or f"needs {need}")


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits ("nan" for non-finite).

    Args:
        x: Value.
        digits: Significant digits.

    Returns:
        Text.
    """
    return f"{x:.{digits}g}" if np.isfinite(x) else "nan"


def fmt_level(level: Level) -> str:
    """``mean [lo, hi]``.

    Args:
        level: A level.

    Returns:
        Text.
    """
    return f"{fmt(level.mean)} [{fmt(level.ci[0])}, {fmt(level.ci[1])}]"


def fmt_fit(fit: PowerLawFit) -> str:
    """``α = a [lo, hi] (k points, b ∈ [x0, x1])``.

    Args:
        fit: A power-law fit.

    Returns:
        Text.
    """
    lo, hi = fit.exponent_ci
    x0, x1 = fit.x_range
    alpha = f"α = {fmt(fit.exponent)} [{fmt(lo)}, {fmt(hi)}]"
    return f"{alpha} ({fit.n_used} points, b ∈ [{x0:g}, {x1:g}])"


def band_verdict(levels: Iterable[Level], lo: float, hi: float) -> Verdict:
    """Band rule: all intervals inside → supported; one outside → not supported.

    Args:
        levels: Levels with intervals (NaN intervals count as not inside).
        lo: Band lower edge.
        hi: Band upper edge.

    Returns:
        The verdict.
    """
    levels = list(levels)
    if any(lv.ci[1] < lo or lv.ci[0] > hi for lv in levels):
        return Verdict.NOT_SUPPORTED
    if levels and all(lo <= lv.ci[0] and lv.ci[1] <= hi for lv in levels):
        return Verdict.SUPPORTED
    return Verdict.INCONCLUSIVE


def ordering_verdict(diff: float, se: float, df: float | None = None) -> Verdict:
    """Ordering rule on a difference claimed to be positive (one-sided, 5 %).

    Args:
        diff: Estimated difference (claimed > 0).
        se: Its standard error.
        df: Degrees of freedom (None: normal reference).

    Returns:
        The verdict.
    """
    if not (np.isfinite(diff) and np.isfinite(se)) or se <= 0:
        return Verdict.INCONCLUSIVE
    t = diff / se
    p_pos = stats.norm.sf(t) if df is None else stats.t.sf(t, df)
    p_neg = stats.norm.cdf(t) if df is None else stats.t.cdf(t, df)
    if p_pos < 0.05:
        return Verdict.SUPPORTED
    return Verdict.NOT_SUPPORTED if p_neg < 0.05 else Verdict.INCONCLUSIVE


def interval(
    estimate: float, se: float, df: float | None = None
) -> tuple[float, float]:
    """Two-sided 95 % interval ``estimate ± q·se`` (q from t(df), or normal).

    Args:
        estimate: The estimate.
        se: Its standard error.
        df: Degrees of freedom (None or infinite: normal reference).

    Returns:
        (lower, upper); NaN bounds when ``se`` or ``df`` is not usable.
    """
    if df is None or df == float("inf"):
        q = float(stats.norm.ppf(0.975))
    else:
        q = float(stats.t.ppf(0.975, df)) if df > 0 else float("nan")
    return estimate - q * se, estimate + q * se


def welch_difference(a: PowerLawFit, b: PowerLawFit) -> tuple[float, float, float]:
    """α_b − α_a, its SE and Welch–Satterthwaite df from two separate fits.

    Args:
        a: First fit.
        b: Second fit.

    Returns:
        (difference, se, df).
    """
    va, vb = a.exponent_se**2, b.exponent_se**2
    se = float(np.sqrt(va + vb))
    denom = va**2 / max(a.df_resid, 1) + vb**2 / max(b.df_resid, 1)
    df = float((va + vb) ** 2 / denom) if denom > 0 else float("inf")
    return b.exponent - a.exponent, se, df
