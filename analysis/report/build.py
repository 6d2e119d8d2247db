"""Report files from a computed study and its claim rows (:func:`write_report`).

The pipeline is :func:`eoss.analysis.study.inputs.discover_inputs` →
:func:`eoss.analysis.study.study.analyse` →
:func:`eoss.analysis.claims.evaluate.evaluate_claims` (a
:class:`~eoss.analysis.study.study.Study` and its claim rows) →
:func:`write_report`, which draws
(:func:`eoss.analysis.report.figures.make_figures`), renders
(:func:`eoss.analysis.report.sections.render`) and writes everything with
:mod:`eoss.analysis.records.io`::

    <out>/report.md      the report (Markdown)
    <out>/report.html    the same, self-contained (figures embedded)
    <out>/figures/*.png|pdf
    <out>/fits.json      every fit, detection and claim row (strict JSON)
    <out>/claims.csv  plateaus.csv  sweep_gaps.csv  fits.csv

Same inputs → byte-identical files: inputs are sorted, paths are relative to the
inputs' common folder, no time stamps are written, and figures use fixed metadata.
:func:`build_report` composes the four steps for callers that start from folders
(``eoss report``, ``eoss reproduce``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eoss.analysis.claims.evaluate import evaluate_claims
from eoss.analysis.claims.policy import ClaimPolicy
from eoss.analysis.claims.table import ClaimRow
from eoss.analysis.stats.powerlaw import PowerLawFit
from eoss.analysis.study.plateau import Criteria
from eoss.analysis.study.study import Study, analyse


@dataclass(frozen=True)
class ReportResult:
    """What :func:`write_report` wrote.

    Attributes:
        out: The report folder.
        markdown: report.md.
        html: report.html.
        fits_json: fits.json.
        figures: Figure files (PNG and PDF), sorted.
        tables: CSV tables.
        claims: The claim rows.
        study: The analyses (not serialised).
    """

    out: Path
    markdown: Path
    html: Path
    fits_json: Path
    figures: tuple[Path, ...]
    tables: tuple[Path, ...]
    claims: tuple[ClaimRow, ...]
    study: Study = field(repr=False, compare=False)


def _version() -> str:
    import importlib.metadata as md

    try:
        return md.version("eoss")
    except md.PackageNotFoundError:
        return "unknown"


def _level_cols(prefix: str, level: Any) -> dict[str, Any]:
    if level is None:
        return {prefix: None, f"{prefix}_lo": None, f"{prefix}_hi": None}
    return {
        prefix: level.mean,
        f"{prefix}_lo": level.ci[0],
        f"{prefix}_hi": level.ci[1],
    }


def plateau_rows(study: Study) -> list[dict[str, Any]]:
    """One CSV row per run phase (levels in units of 2/η).

    Args:
        study: The study.

    Returns:
        Rows.
    """
    rows = []
    for run, det in study.detections:
        for p in det.phases:
            r: dict[str, Any] = {
                "run_id": run.run_id,
                "phase": p.phase.index,
                "lr": p.phase.lr,
                "batch_size": p.phase.batch_size,
                "change": p.phase.change,
                "status": p.status,
                "sharpening_end_step": p.sharpening_end_step,
                "window_start": None if p.window is None else p.window[0],
                "window_end": None if p.window is None else p.window[1],
            }
            for name in ("minibs", "fullbs", "gap", "gap_cv", "batch_sharpness"):
                r.update(_level_cols(f"{name}_over_threshold", p.normalised(name)))
            r.update(
                in_band_fraction=p.in_band_fraction,
                drift=p.drift,
                n_pairs=p.n_pairs,
                n_violations=p.n_violations,
                diverged=p.diverged,
            )
            rows.append(r)
    return rows


def sweep_rows(study: Study) -> list[dict[str, Any]]:
    """One CSV row per (sweep, batch size).

    Args:
        study: The study.

    Returns:
        Rows.
    """
    rows = []
    for i, s in enumerate(study.sweeps):
        for j, b in enumerate(s.batch_size):
            rows.append(
                {
                    "sweep": i,
                    "lr": s.lr,
                    "n_train": s.n_train,
                    "batch_size": b,
                    "runs": " ".join(s.run_ids[j]),
                    "gap": s.gap[j],
                    "gap_se": s.gap_se[j],
                    "gap_source": s.gap_source[j],
                    "minibs_over_threshold": s.minibs[j],
                    "minibs_se": s.minibs_se[j],
                    "fullbs_over_threshold": s.fullbs[j],
                    "fullbs_se": s.fullbs_se[j],
                }
            )
    return rows


def fit_rows(study: Study) -> list[dict[str, Any]]:
    """One CSV row per (curve, window) power-law fit (or the reason it was not made).

    Args:
        study: The study.

    Returns:
        Rows.
    """
    rows = []
    sources = [("sweep", s.label, study.sweep_fits[s.key]) for s in study.sweeps]
    sources += [("static", k, v) for k, v in sorted(study.static_fits.items())]
    sources += [("simulation", k, v) for k, v in sorted(study.simulate_fits.items())]
    for kind, label, cf in sources:
        for window, f in cf.fits.items():
            r: dict[str, Any] = {"kind": kind, "source": label, "window": window}
            if isinstance(f, PowerLawFit):
                r.update(
                    exponent=f.exponent,
                    exponent_se=f.exponent_se,
                    exponent_lo=f.exponent_ci[0],
                    exponent_hi=f.exponent_ci[1],
                    p_alpha_1=f.p_alpha_1,
                    p_alpha_0_7=f.p_alpha_0_7,
                    r2=f.r2,
                    n_used=f.n_used,
                    n_excluded=sum(f.n_excluded.values()),
                    b_min=f.x_range[0],
                    b_max=f.x_range[1],
                    method=f.method,
                )
            else:
                r["not_fitted"] = f
            rows.append(r)
    return rows


def fits_document(
    study: Study, claims: Sequence[ClaimRow], title: str
) -> dict[str, Any]:
    """Everything computed, as one JSON-safe document.

    Args:
        study: The study.
        claims: Claim rows.
        title: Report title.

    Returns:
        The document.
    """
    from dataclasses import asdict

    return {
        "title": title,
        "criteria": asdict(study.criteria),
        "claims": [c.to_dict() for c in claims],
        "runs": {run.run_id: det.to_dict() for run, det in study.detections},
        "sweeps": [
            {
                "key": s.key,
                "label": s.label,
                "excluded": s.excluded,
                "fits": study.sweep_fits[s.key].to_dict(),
            }
            for s in study.sweeps
        ],
        "static": {k: v.to_dict() for k, v in sorted(study.static_fits.items())},
        "simulation": {k: v.to_dict() for k, v in sorted(study.simulate_fits.items())},
        "comparisons": [
            {
                "static": a,
                "sweep": b,
                **(c.to_dict() if not isinstance(c, str) else {"not_compared": c}),
            }
            for a, b, c in study.comparisons
        ],
    }


def write_report(
    study: Study,
    claims: Sequence[ClaimRow],
    out: str | Path,
    *,
    title: str = "eoss report",
    max_trajectories: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Draw, render and write the report folder of a computed study.

    Args:
        study: From :func:`eoss.analysis.study.study.analyse`.
        claims: The study's claim rows
            (:func:`eoss.analysis.claims.evaluate.evaluate_claims`), in table order.
        out: Report folder (created; a previous report's ``figures/`` is replaced).
        title: Report title.
        max_trajectories: Most per-run trajectory figures, first runs by path
            (None: one per run; the tables always cover every run).
        progress: Called with a short message when done (e.g. print to stderr).

    Returns:
        The written files and the claim rows.
    """
    from eoss.analysis import records
    from eoss.analysis.report.figures import make_figures
    from eoss.analysis.report.html import markdown_to_html
    from eoss.analysis.report.sections import render

    claims = tuple(claims)
    out = Path(out)
    if (out / "report.md").is_file() and (out / "figures").is_dir():
        for stale in sorted((out / "figures").glob("*.*")):  # a previous eoss report
            records.delete_file(stale)
    refs = make_figures(study, out, max_trajectories=max_trajectories)
    text = render(study, claims, refs, title, _version())
    md = records.atomic_write_bytes(out / "report.md", text.encode())

    def load(src: str) -> bytes | None:
        path = out / src
        return path.read_bytes() if path.is_file() else None

    html = records.atomic_write_bytes(
        out / "report.html",
        markdown_to_html(text, title=title, image_loader=load).encode(),
    )
    fits = records.write_json(out / "fits.json", fits_document(study, claims, title))
    tables = (
        records.write_csv(out / "claims.csv", [c.to_dict() for c in claims]),
        records.write_csv(out / "plateaus.csv", plateau_rows(study)),
        records.write_csv(out / "sweep_gaps.csv", sweep_rows(study)),
        records.write_csv(out / "fits.csv", fit_rows(study)),
    )
    figures = tuple(sorted((out / "figures").glob("*.*"))) if refs else ()
    if progress is not None:
        progress(f"wrote {md} and {len(figures)} figure files")
    return ReportResult(out, md, html, fits, figures, tables, claims, study)


def build_report(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    title: str = "eoss report",
    criteria: Criteria | None = None,
    policy: ClaimPolicy | None = None,
    max_trajectories: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Discover, analyse, evaluate the claims and write the report folder.

    The composition :func:`~eoss.analysis.study.inputs.discover_inputs` →
    :func:`~eoss.analysis.study.study.analyse` → :func:`evaluate_claims` →
    :func:`write_report` (see the module docstring).

    Args:
        inputs: Training run / sweep / static-gap / simulation folders and
            derivation JSON files (folders are searched recursively).
        out: Report folder (created; a previous report's ``figures/`` is replaced).
        title: Report title.
        criteria: EoSS detection thresholds (default :class:`Criteria`).
        policy: Claim rules (default ``ClaimPolicy()``: TOST, stationary runs).
        max_trajectories: Most per-run trajectory figures, first runs by path
            (None: one per run; the tables always cover every run).
        progress: Called with a short message at each stage (e.g. print to stderr).

    Returns:
        The written files and the claim rows.

    Raises:
        FileNotFoundError: If an input does not exist.
        ValueError: If the inputs hold no eoss outputs.
    """
    from eoss.analysis.study.inputs import discover_inputs

    say = progress or (lambda msg: None)
    found = discover_inputs(list(inputs))
    say(
        f"found {len(found.runs)} runs, {len(found.static)} static curves, "
        f"{len(found.simulate)} simulations, {len(found.derive)} derivations"
    )
    policy = policy or ClaimPolicy()
    study = analyse(found, criteria, include_nonstationary=policy.include_nonstationary)
    claims = evaluate_claims(study, policy)
    say(f"analysed; {len(claims)} claim rows; drawing figures")
    return write_report(
        study, claims, out, title=title, max_trajectories=max_trajectories, progress=say
    )
