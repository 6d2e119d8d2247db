"""The report's Markdown: claims table, run and sweep tables, fits, figures, provenance.

Pure text generation from a :class:`analysis.study.Study`, its claim rows and figure
references. Everything is sorted and no time stamps are written, so the same inputs
give the same text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from analysis.batch_means import Level
from analysis.claims import ClaimRow, fmt
from analysis.compare import ExponentComparison
from analysis.powerlaw import PowerLawFit
from analysis.report_figures import FigureRef
from analysis.study import CurveFits, Study


def cell(value: Any) -> str:
    """Table-cell text with pipes escaped and newlines flattened.

    Args:
        value: Anything printable.

    Returns:
        Text safe inside a pipe table.
    """
    return " ".join(str(value).split()).replace("|", "\\|")


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


def claims_md(rows: Sequence[ClaimRow]) -> str:
    """The claims table.

    Args:
        rows: Claim rows.

    Returns:
        Markdown.
    """
    header = ("#", "Claim", "Source", "Measured (95% CI)", "Verdict", "Rule", "Note")
    body = [
        (i + 1, r.claim, r.source, r.measured, f"**{r.verdict}**", r.criterion, r.note)
        for i, r in enumerate(rows)
    ]
    counts = {
        v: sum(r.verdict == v for r in rows)
        for v in ("supported", "not supported", "inconclusive", "not measured")
    }
    summary = ", ".join(f"{v}: {n}" for v, n in counts.items())
    return f"## Claims\n\n{summary}.\n\n" + md_table(header, body)


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
    header = (
        "run",
        "phase",
        "η",
        "b",
        "started by",
        "status",
        "sharpening ends",
        "window",
        "MiniBS/(2/η)",
        "FullBS/(2/η)",
        "gap/(2/η)",
        "batch sharpness/(2/η)",
        "in [2/η, 4/η]",
        "FullBS > MiniBS",
    )
    rows = []
    for run, det in study.detections:
        for p in det.phases:
            win = "—" if p.window is None else f"{p.window[0]}–{p.window[1]}"
            band = "—" if p.in_band_fraction is None else f"{p.in_band_fraction:.0%}"
            gap = p.normalised("gap_cv") or p.normalised("gap")
            rows.append(
                (
                    run.run_id,
                    p.phase.index,
                    f"{p.phase.lr:g}",
                    p.phase.batch_size,
                    p.phase.change,
                    p.status + (" (diverged)" if p.diverged else ""),
                    "—" if p.sharpening_end_step is None else p.sharpening_end_step,
                    win,
                    lvl(p.normalised("minibs")),
                    lvl(p.normalised("fullbs")),
                    lvl(gap),
                    lvl(p.normalised("batch_sharpness")),
                    band,
                    f"{p.n_violations}/{p.n_pairs}",
                )
            )
    text = "## Training runs (EoSS detection)\n\n" + md_table(header, rows)
    text += (
        "\n\nLevels are batch-means estimates over the plateau window after burn-in "
        "(see Methods); the gap is the control-variate estimator when recorded."
    )
    figs = figures_md(refs, "runs")
    return text + ("\n\n" + figs if figs else "")


def fits_md(cf: CurveFits) -> str:
    """Fit table (one row per window) and segment comparison of one curve.

    Args:
        cf: The curve's fits.

    Returns:
        Markdown.
    """
    rows = []
    for name, f in cf.fits.items():
        if isinstance(f, PowerLawFit):
            lo, hi = f.exponent_ci
            rows.append(
                (
                    name,
                    f"{f.x_range[0]:g}–{f.x_range[1]:g}",
                    f"{fmt(f.exponent)} [{fmt(lo)}, {fmt(hi)}]",
                    fmt(f.p_alpha_1),
                    fmt(f.p_alpha_0_7),
                    fmt(f.r2),
                    f.n_used,
                    json.dumps(dict(sorted(f.n_excluded.items())))
                    if f.n_excluded
                    else "none",
                    f.method,
                )
            )
        else:
            rows.append((name, "—", "not fitted: " + f, "", "", "", "", "", ""))
    out = md_table(
        (
            "window",
            "b used",
            "α [95% CI]",
            "p(α=1)",
            "p(α=0.7)",
            "R²",
            "n",
            "excluded",
            "method",
        ),
        rows,
    )
    seg = cf.segments
    if isinstance(seg, str):
        return out + f"\n\nSegmented fits: not fitted ({seg})."
    srows = []
    for r in seg.rows:
        if "skipped" in r:
            srows.append(
                (r["n_segments"], "—", "—", "—", "—", "skipped: " + r["skipped"])
            )
            continue
        fit = seg.fits[r["n_segments"]]
        detail = (
            ""
            if isinstance(fit, PowerLawFit)
            else "; ".join(
                [f"α = {', '.join(fmt(a) for a in fit.exponents)}"]
                + [
                    f"b* = {fmt(b)} [{fmt(lo)}, {fmt(hi)}]"
                    for b, (lo, hi) in zip(
                        fit.breakpoints, fit.breakpoint_ci, strict=True
                    )
                ]
            )
        )
        srows.append(
            (
                r["n_segments"],
                fmt(r["aic"], 5),
                fmt(r["bic"], 5),
                fmt(r["delta_aic"]),
                fmt(r["delta_bic"]),
                detail,
            )
        )
    out += "\n\n" + md_table(
        (
            "segments K",
            "AIC",
            "BIC",
            "ΔAIC",
            "ΔBIC",
            "exponents; breakpoints [95% profile CI]",
        ),
        srows,
    )
    return (
        out
        + f"\n\nPreferred K: {seg.preferred_aic} by AIC, {seg.preferred_bic} by BIC."
    )


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
        rows = [
            (
                f"{b:g}",
                ", ".join(ids),
                f"{fmt(m)} ± {fmt(ms, 2)}",
                f"{fmt(f)} ± {fmt(fs, 2)}",
                f"{fmt(g)} ± {fmt(gs, 2)}",
                src,
            )
            for b, ids, m, ms, f, fs, g, gs, src in zip(
                s.batch_size,
                s.run_ids,
                s.minibs,
                s.minibs_se,
                s.fullbs,
                s.fullbs_se,
                s.gap,
                s.gap_se,
                s.gap_source,
                strict=True,
            )
        ]
        parts.append(f"### Sweep {i}: {s.label}")
        parts.append(
            md_table(
                (
                    "b",
                    "runs",
                    "MiniBS/(2/η)",
                    "FullBS/(2/η)",
                    "gap (raw)",
                    "gap estimator",
                ),
                rows,
            )
        )
        if s.excluded:
            parts.append(
                "Runs not at EoSS (not in the curves): "
                + ", ".join(f"{k} ({v})" for k, v in s.excluded.items())
                + "."
            )
        parts.append(fits_md(study.sweep_fits[s.key]))
        parts.append(f"Sweep key: `{s.key}`")
    figs = figures_md(refs, "sweeps")
    return "\n\n".join(parts + ([figs] if figs else []))


def tables_md(study: Study, refs: Sequence[FigureRef]) -> str:
    """Static and simulated gap curves: fits, comparisons, figures.

    Args:
        study: The study.
        refs: Figures.

    Returns:
        Markdown ("" when there are none).
    """
    parts = []
    for title, fits, section in (
        ("Static gap curves (frozen networks)", study.static_fits, "static"),
        ("Random-matrix simulations", study.simulate_fits, "simulation"),
    ):
        if not fits:
            continue
        parts.append(f"## {title}")
        for label, cf in sorted(fits.items()):
            parts.append(f"### {label}\n\nData-set size n = {cf.n or 'unknown'}.")
            parts.append(fits_md(cf))
        figs = figures_md(refs, section)
        if figs:
            parts.append(figs)
    if study.comparisons:
        parts.append("## Static vs trained exponents")
        rows = []
        for label, key, comp in study.comparisons:
            sweep = next(s.label for s in study.sweeps if s.key == key)
            if isinstance(comp, ExponentComparison):
                lo, hi = comp.difference_ci
                rows.append(
                    (
                        label,
                        sweep,
                        fmt(comp.static.exponent),
                        fmt(comp.trained.exponent),
                        f"{fmt(comp.difference)} [{fmt(lo)}, {fmt(hi)}]",
                        fmt(comp.p_value),
                        fmt(comp.p_value_welch),
                    )
                )
            else:
                rows.append((label, sweep, "—", "—", "not compared: " + comp, "", ""))
        parts.append(
            md_table(
                (
                    "static curve",
                    "sweep",
                    "α static",
                    "α trained",
                    "α trained − α static [95% CI]",
                    "p (pooled interaction)",
                    "p (Welch)",
                ),
                rows,
            )
        )
        figs = figures_md(refs, "comparison")
        if figs:
            parts.append(figs)
    return "\n\n".join(parts)
