"""The report's Markdown: claims table, run and sweep tables, fits, figures, provenance.

Pure text generation from a :class:`eoss.analysis.study.study.Study`, its claim rows
and figure
references. Everything is sorted and no time stamps are written, so the same inputs
give the same text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from eoss.analysis.claims.table import KINDS, ClaimRow, fmt
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.report.figure_ref import FigureRef
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.stats.compare import ExponentComparison
from eoss.analysis.stats.powerlaw import PowerLawFit
from eoss.analysis.study.plateau import PhaseDetection
from eoss.analysis.study.study import CurveFits, Study
from eoss.analysis.study.sweeps import Sweep

# A sympy-printed expression: operands joined by operators, with at least one
# ``**`` (no spaces around it, as sympy prints it), e.g. ``2*a1**2 + 2*b1**2``.
_TOKEN = r"[\w()]+(?:\.[\w()]+)*"
_FORMULA = re.compile(rf"{_TOKEN}(?:(?:\*\*|\s*[-+*/]\s*){_TOKEN})+")


def code_formulas(text: str) -> str:
    """Wrap sympy expressions (``a1**2 + b1**2``) in backticks, outside code spans.

    Markdown would read their ``**`` as bold (``a1<strong>2 + b1</strong>2``).

    Args:
        text: Markdown text.

    Returns:
        The text with each expression as inline code.
    """
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = _FORMULA.sub(
            lambda m: f"`{m.group(0)}`" if "**" in m.group(0) else m.group(0),
            parts[i],
        )
    return "".join(parts)


def cell(value: Any) -> str:
    """Table-cell text with pipes escaped, newlines flattened, formulas as code.

    Args:
        value: Anything printable.

    Returns:
        Text safe inside a pipe table.
    """
    return code_formulas(" ".join(str(value).split())).replace("|", "\\|")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A pipe table.

    Args:
        header: Column titles.
        rows: Cell values.

    Returns:
        Markdown lines.
    """
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def lvl(level: Level | None) -> str:
    """``mean [lo, hi]`` or ``—``.

    Args:
        level: A level or None.

    Returns:
        Text.
    """
    if level is None:
        return "—"
    return f"{fmt(level.mean)} [{fmt(level.ci[0])}, {fmt(level.ci[1])}]"


def figures_md(refs: Sequence[FigureRef], section: str) -> str:
    """Image lines (with captions) of one section.

    Args:
        refs: All figures.
        section: Section to keep.

    Returns:
        Markdown.
    """
    parts = [
        f"![{r.caption}]({r.png})\n\n*{r.caption}* ([PDF](figures/{r.name}.pdf))"
        for r in refs
        if r.section == section
    ]
    return "\n\n".join(parts)


def verdict_md(verdict: Verdict) -> str:
    """A verdict's table cell: its text in bold.

    Args:
        verdict: The verdict.

    Returns:
        ``**<value>**``.
    """
    return f"**{verdict.value}**"


def claims_md(rows: Sequence[ClaimRow]) -> str:
    """The claims table.

    Args:
        rows: Claim rows.

    Returns:
        Markdown.
    """
    header = ("#", "Claim", "Source", "Measured (95% CI)", "Verdict", "Rule", "Note")
    body = [
        (
            i + 1,
            r.claim,
            r.source,
            r.measured,
            verdict_md(r.verdict),
            r.criterion,
            r.note,
        )
        for i, r in enumerate(rows)
    ]
    counts = {v: sum(r.verdict is v for r in rows) for v in Verdict}
    summary = ", ".join(f"{v.value}: {n}" for v, n in counts.items())
    per_kind = []
    for kind in KINDS:
        these = [r for r in rows if r.kind == kind]
        if these:
            c = ", ".join(
                f"{v.value}: {sum(r.verdict is v for r in these)}" for v in Verdict
            )
            per_kind.append(f"- **{kind}** claims ({len(these)} rows) — {c}.")
    head = "\n".join(per_kind) + f"\n\nAll rows together: {summary}."
    return "## Claims\n\n" + head + "\n\n" + md_table(header, body)


RUN_HEADER = ("run", "phase", "η", "b", "started by", "status", "sharpening ends")
RUN_HEADER += ("window", "MiniBS/(2/η)", "FullBS/(2/η)", "gap/(2/η)")
RUN_HEADER += ("batch sharpness/(2/η)", "in [2/η, 4/η]", "FullBS > MiniBS")
RUN_HEADER += ("status on batch sharpness", "tail drift (2/η)")


def _phase_row(run_id: str, p: PhaseDetection) -> tuple[Any, ...]:
    win = "—" if p.window is None else f"{p.window[0]}–{p.window[1]}"
    band = "—" if p.in_band_fraction is None else f"{p.in_band_fraction:.0%}"
    end = "—" if p.sharpening_end_step is None else p.sharpening_end_step
    status = p.status + (" (diverged)" if p.diverged else "")
    ph = p.phase
    head = (run_id, ph.index, f"{ph.lr:g}", ph.batch_size, ph.change, status, end, win)
    gap = p.normalised("gap_cv") or p.normalised("gap")
    levels = (p.normalised("minibs"), p.normalised("fullbs"), gap)
    levels += (p.normalised("batch_sharpness"),)
    drift = "—" if p.stationarity is None else p.stationarity.text()
    if p.minibs_b_note:
        drift += f"; {p.minibs_b_note}"
    tail = (band, f"{p.n_violations}/{p.n_pairs}", p.status_batch_sharpness, drift)
    return (*head, *map(lvl, levels), *tail)


def _stationarity_summary(items: Sequence[Any]) -> str:
    """The rule and how the other rule classifies the same phases."""
    sts = [st for st in items if st is not None]
    if not sts:
        return ""
    other = "equivalence" if sts[0].rule_kind == "point" else "point"
    count = {k: sum(st.other_state == k for st in sts) for k in _STATES}
    here = sum(st.stationary is True for st in sts)
    return (
        f" Rule: {sts[0].rule}. Stationary under it: {here} of {len(sts)} phases; "
        f"under the {other} rule: "
        + ", ".join(f"{count[k]} {k}" for k in _STATES)
        + " (each row's drift column gives its own)."
    )


_STATES = ("stationary", "drifting", "undetermined")


def runs_md(study: Study, refs: Sequence[FigureRef]) -> str:
    """One row per run phase: status, window, plateau levels (units of 2/η).

    Args:
        study: The study.
        refs: Figures.

    Returns:
        Markdown ("" when there are no runs).
    """
    if not study.detections:
        return ""
    rows = [_phase_row(r.run_id, p) for r, det in study.detections for p in det.phases]
    text = "## Training runs (EoSS detection)\n\n" + md_table(RUN_HEADER, rows)
    text += (
        "\n\nLevels are batch-means estimates over the plateau, the last 20 % of a "
        "phase's steps; a phase is at EoSS only if stationary there (see Methods); "
        "the gap is the control-variate estimator when recorded."
    )
    text += _stationarity_summary(
        [p.stationarity for _, det in study.detections for p in det.phases]
    )
    figs = figures_md(refs, "runs")
    return text + ("\n\n" + figs if figs else "")


FIT_HEADER = ("window", "b used", "α [95% CI]", "p(α=1)", "p(α=0.7)", "R²", "n")
FIT_HEADER += ("excluded", "method")
SEG_HEADER = ("segments K", "AIC", "BIC", "ΔAIC", "ΔBIC")
SEG_HEADER += ("exponents; breakpoints [95% profile CI]",)


def _fit_row(name: str, f: PowerLawFit | str) -> tuple[Any, ...]:
    if not isinstance(f, PowerLawFit):
        return (name, "—", "not fitted: " + f, "", "", "", "", "", "")
    lo, hi = f.exponent_ci
    excluded = (
        json.dumps(dict(sorted(f.n_excluded.items()))) if f.n_excluded else "none"
    )
    return (
        name,
        f"{f.x_range[0]:g}–{f.x_range[1]:g}",
        f"{fmt(f.exponent)} [{fmt(lo)}, {fmt(hi)}]",
        fmt(f.p_alpha_1),
        fmt(f.p_alpha_0_7),
        fmt(f.r2),
        f.n_used,
        excluded,
        f.method,
    )


def _segment_row(r: dict[str, Any], fit: Any) -> tuple[Any, ...]:
    if "skipped" in r:
        return (r["n_segments"], "—", "—", "—", "—", "skipped: " + r["skipped"])
    detail = ""
    if not isinstance(fit, PowerLawFit):
        bps = zip(fit.breakpoints, fit.breakpoint_ci, strict=True)
        detail = "; ".join(
            [f"α = {', '.join(fmt(a) for a in fit.exponents)}"]
            + [f"b* = {fmt(b)} [{fmt(lo)}, {fmt(hi)}]" for b, (lo, hi) in bps]
        )
    ics = (fmt(r["aic"], 5), fmt(r["bic"], 5), fmt(r["delta_aic"]), fmt(r["delta_bic"]))
    return (r["n_segments"], *ics, detail)


def fits_md(cf: CurveFits) -> str:
    """Fit table (one row per window) and segment comparison of one curve.

    Args:
        cf: The curve's fits.

    Returns:
        Markdown.
    """
    out = md_table(FIT_HEADER, [_fit_row(k, f) for k, f in cf.fits.items()])
    if cf.n_full_batch:
        out += (
            f"\n\n{cf.n_full_batch} point(s) with b ≥ n = {cf.n} left out of every "
            "fit (without replacement the gap is 0 there by construction)."
        )
    seg = cf.segments
    if isinstance(seg, str):
        return out + f"\n\nSegmented fits: not fitted ({seg})."
    srows = [_segment_row(r, seg.fits.get(r["n_segments"])) for r in seg.rows]
    out += "\n\n" + md_table(SEG_HEADER, srows)
    return out + (
        f"\n\nPreferred K: {seg.preferred_aic} by AIC, {seg.preferred_bic} by BIC."
    )


SWEEP_HEADER = (
    "b",
    "runs",
    "MiniBS/(2/η)",
    "FullBS/(2/η)",
    "gap (raw)",
    "gap estimator",
)
COMP_HEADER = ("static curve", "sweep", "α static", "α trained")
COMP_HEADER += ("α trained − α static [95% CI]", "p (pooled interaction)", "p (Welch)")


def _pm(x: float, se: float) -> str:
    return f"{fmt(x)} ± {fmt(se, 2)}"


def _sweep_section(study: Study, i: int, s: Sweep) -> list[str]:
    rows = [
        (
            f"{s.batch_size[j]:g}",
            ", ".join(s.run_ids[j]),
            _pm(s.minibs[j], s.minibs_se[j]),
            _pm(s.fullbs[j], s.fullbs_se[j]),
            _pm(s.gap[j], s.gap_se[j]),
            s.gap_source[j],
        )
        for j in range(len(s.batch_size))
    ]
    table = md_table(SWEEP_HEADER, rows) if rows else "No batch size has a run at EoSS."
    parts = [f"### Sweep {i}: {s.label}", table]
    if s.excluded:
        runs = ", ".join(f"{k} ({v})" for k, v in s.excluded.items())
        parts.append(f"Runs not at EoSS (not in the curves): {runs}.")
    parts += [fits_md(study.sweep_fits[s.key]), f"Sweep key: `{s.key}`"]
    return parts


def sweeps_md(study: Study, refs: Sequence[FigureRef]) -> str:
    """Per sweep: plateau table per b, fits, figures.

    Args:
        study: The study.
        refs: Figures.

    Returns:
        Markdown ("" without sweeps).
    """
    if not study.sweeps:
        return ""
    parts = ["## Batch-size sweeps (trained plateau gaps)"]
    for i, s in enumerate(study.sweeps):
        parts += _sweep_section(study, i, s)
    figs = figures_md(refs, "sweeps")
    return "\n\n".join(parts + ([figs] if figs else []))


def _comparison_row(label: str, sweep: str, comp: ExponentComparison | str) -> tuple:
    if not isinstance(comp, ExponentComparison):
        return (label, sweep, "—", "—", "not compared: " + comp, "", "")
    lo, hi = comp.difference_ci
    return (
        label,
        sweep,
        fmt(comp.static.exponent),
        fmt(comp.trained.exponent),
        f"{fmt(comp.difference)} [{fmt(lo)}, {fmt(hi)}]",
        fmt(comp.p_value),
        fmt(comp.p_value_welch),
    )


def comparisons_md(study: Study, refs: Sequence[FigureRef]) -> str:
    """Static vs trained exponent comparisons.

    Args:
        study: The study.
        refs: Figures.

    Returns:
        Markdown ("" without comparisons).
    """
    if not study.comparisons:
        return ""
    labels = {s.key: s.label for s in study.sweeps}
    rows = [_comparison_row(a, labels[k], c) for a, k, c in study.comparisons]
    parts = ["## Static vs trained exponents", md_table(COMP_HEADER, rows)]
    figs = figures_md(refs, "comparison")
    return "\n\n".join(parts + ([figs] if figs else []))
