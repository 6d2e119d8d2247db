"""The report's framing sections (intro, data caveat, provenance, methods) and assembly.

:func:`render` puts the whole Markdown document together from the sections of
:mod:`eoss.analysis.report.markdown` and these. No time stamps; inputs are listed by
path
relative to their common folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from eoss.analysis.claims.table import ClaimRow
from eoss.analysis.records.env import config_hash
from eoss.analysis.report.figure_ref import FigureRef
from eoss.analysis.report.markdown import (
    claims_md,
    comparisons_md,
    figures_md,
    fits_md,
    md_table,
    runs_md,
    sweeps_md,
)
from eoss.analysis.study.inputs import GapTable
from eoss.analysis.study.study import CurveFits, Study

METHODS = """## Methods

- Power laws: gap ∝ b^-α with α = −(log-log slope). WLS with weights (gap/SE)² (delta
  method) when SEs exist, residual-scaled covariance and Student-t 95% intervals.
  Points with gap ≤ 0 are excluded and counted, never silently.
- Segmented fits: continuous broken sticks on log-log axes; breakpoints by profiled
  least squares with profile-F intervals; AIC/BIC count each breakpoint as a parameter.
- Plateau levels: batch means (blocks of ⌊√m⌋ measurements) over the plateau, the
  last 20 % of a phase's steps; the phase counts as at EoSS only if stationary
  there: |drift| (OLS slope × window) of batch sharpness, of FullBS and of MiniBS
  ≤ 0.05 × 2/η (the point rule, default), or, under `--stationarity-rule
  equivalence`, each drift's 90 % interval (Newey–West SE) inside ±0.05 × 2/η (TOST);
  each run row also states the other rule's verdict. Non-stationary runs are kept
  out of scaling fits (counted in each row's note). Rows whose eigen-solver did not
  converge are dropped and counted.
  Runs at one b are combined with the larger of the within-run and between-run
  standard errors.
- Exponent verdicts: equivalence (TOST) with margin 0.1 — supported if the 90 % CI
  of α lies in [α₀ − 0.1, α₀ + 0.1], not supported if the 95 % CI lies outside it,
  inconclusive otherwise; every power-law row also gives the local-slope profile
  (slopes between neighbouring b with 95 % CIs). Regimes are judged by shape: a
  3-segment fit with located breakpoints, each segment tested against its regime.
- Static vs trained: pooled WLS with an interaction term (t-test), checked by a Welch
  test on the separate fits.
"""

CAVEAT = (
    "**Data caveat.** The CIFAR-10 files behind these runs were rebuilt from a JPEG "
    "(quality 75) mirror: real images, labels and order, but not bit-exact pixels. "
    "Sharpness and accuracy values are close to, not identical with, what the "
    "original pixels would give."
)


_SAMPLING = {"with": "with replacement", "online": "online (fresh samples)"}


def _size_line(cf: CurveFits, table: GapTable | None) -> str:
    """The data-set size of a gap table, and whether the fits used it."""
    n = cf.n or (None if table is None else table.n)
    if cf.n or n is None:
        return f"Data-set size n = {n or 'not recorded'}."
    how = _SAMPLING.get(table.sampling or "", table.sampling)
    return (
        f"Data-set size n = {n}; batches drawn {how}, so the n-relative fit windows "
        "(far, near) and the finite-population factor do not apply."
    )


def tables_md(study: Study, refs: Sequence[FigureRef]) -> str:
    """Static and simulated gap curves with their fits and figures.

    Args:
        study: The study.
        refs: Figures.

    Returns:
        Markdown ("" when there are none).
    """
    parts = []
    tables = {
        study.inputs.relative(t.path): t
        for t in (*study.inputs.static, *study.inputs.simulate)
    }
    for title, fits, section in (
        ("Static gap curves (frozen networks)", study.static_fits, "static"),
        ("Random-matrix simulations", study.simulate_fits, "simulation"),
    ):
        if not fits:
            continue
        parts.append(f"## {title}")
        for label, cf in sorted(fits.items()):
            parts.append(f"### {label}\n\n{_size_line(cf, tables.get(label))}")
            parts.append(fits_md(cf))
        figs = figures_md(refs, section)
        if figs:
            parts.append(figs)
    return "\n\n".join(parts)


def _versions(env: dict[str, Any]) -> tuple[str, str, str, str]:
    v = env.get("versions") if isinstance(env.get("versions"), dict) else {}
    return (
        str(env.get("git_revision") or "—"),
        str(v.get("torch") or "—"),
        str(v.get("numpy") or "—"),
        str(env.get("device") or "—"),
    )


def provenance_md(study: Study) -> str:
    """Inputs with ids, config hashes, statuses and software versions.

    Args:
        study: The study.

    Returns:
        Markdown.
    """
    inp = study.inputs
    rows = []
    for run, _ in study.detections:
        status = run.status.get("status", "unknown")
        rows.append(
            (
                "training run",
                inp.relative(run.path),
                run.config_hash,
                status,
                *_versions(run.env),
            )
        )
    for t in (*inp.static, *inp.simulate):
        rows.append(
            (
                t.kind,
                inp.relative(t.path),
                config_hash(t.config),
                "—",
                *_versions(t.env),
            )
        )
    for d in inp.derive:
        rows.append(("derivation", inp.relative(d.path), "—", "—", "—", "—", "—", "—"))
    header = (
        "kind",
        "input",
        "config hash",
        "status",
        "git revision",
        "torch",
        "numpy",
        "device",
    )
    return "## Provenance\n\n" + md_table(header, rows)


CONFIG_HEADER = ("run", "model", "loss", "data", "n_train", "optimiser", "noise")
CONFIG_HEADER += ("η", "b", "steps", "seed")


def _model_text(config: dict[str, Any]) -> str:
    model = config.get("model")
    if not isinstance(model, dict):
        return str(model or "—")
    name = model.get("name", "?")
    rest = ", ".join(f"{k}={v}" for k, v in sorted(model.items()) if k != "name")
    return f"{name} ({rest})" if rest else str(name)


def configurations_md(study: Study) -> str:
    """The main configuration fields of every training run.

    Args:
        study: The study.

    Returns:
        Markdown ("" without runs).
    """
    rows = []
    for run, _ in study.detections:
        c = run.config

        def get(group: str, key: str, c: dict[str, Any] = c) -> Any:
            g = c.get(group)
            return g.get(key, "—") if isinstance(g, dict) else "—"

        rows.append(
            (
                run.run_id,
                _model_text(c),
                c.get("loss", "—"),
                get("data", "name"),
                get("data", "n_train"),
                get("optim", "name"),
                get("noise", "kind"),
                c.get("lr", "—"),
                c.get("batch_size", "—"),
                c.get("steps", "—"),
                c.get("seed", "—"),
            )
        )
    return "## Configurations\n\n" + md_table(CONFIG_HEADER, rows) if rows else ""


def methods_md(study: Study) -> str:
    """The conventions and the EoSS criteria used.

    Args:
        study: The study.

    Returns:
        Markdown.
    """
    crit = "\n".join(f"- `{k}` = {v}" for k, v in asdict(study.criteria).items())
    return (
        f"{METHODS}\nEoSS detection criteria:\n\n{crit}\n\n"
        "Definitions and rationale: docs/analysis.md."
    )


def jpeg_caveat(study: Study) -> str:
    """The JPEG-q75 data caveat when any input's records mention JPEG.

    Args:
        study: The study.

    Returns:
        A paragraph, or "".
    """
    inp = study.inputs
    blobs = [json.dumps([r.config, r.env]) for r in inp.runs]
    blobs += [json.dumps([t.config, t.env]) for t in (*inp.static, *inp.simulate)]
    return CAVEAT if any("jpeg" in b.lower() for b in blobs) else ""


def _extra_figures(refs: Sequence[FigureRef]) -> str:
    parts = []
    for section, title in (
        ("noise", "Noise-injected GD"),
        ("ntk", "MiniBS and the averaged NTK"),
        ("symbolic", "Symbolic derivations"),
    ):
        figs = figures_md(refs, section)
        if figs:
            parts.append(f"## {title}\n\n{figs}")
    return "\n\n".join(parts)


def _appendix(refs: Sequence[FigureRef]) -> str:
    figs = figures_md(refs, "appendix")
    return f"## Appendix: per-run trajectories\n\n{figs}" if figs else ""


def render(
    study: Study,
    claims: Sequence[ClaimRow],
    refs: Sequence[FigureRef],
    title: str,
    version: str,
) -> str:
    """The whole report.

    Args:
        study: The study.
        claims: Claim rows.
        refs: Figures.
        title: Report title.
        version: eoss version string.

    Returns:
        Markdown text ending with a newline.
    """
    inp = study.inputs
    intro = (
        f"Generated by `eoss report` (eoss {version}) from {len(inp.runs)} training "
        f"runs, {len(inp.static)} static-gap curves, {len(inp.simulate)} random-matrix "
        f"simulations and {len(inp.derive)} derivation documents. Exponents follow "
        "gap ∝ b^-α; intervals are 95%."
    )
    sections = [
        f"# {title}",
        intro,
        jpeg_caveat(study),
        claims_md(claims),
        runs_md(study, refs),
        sweeps_md(study, refs),
        tables_md(study, refs),
        comparisons_md(study, refs),
        _extra_figures(refs),
        configurations_md(study),
        provenance_md(study),
        methods_md(study),
        _appendix(refs),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"
