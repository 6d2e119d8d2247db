"""Derivation documents in the report: diagonal-network evaluations vs the paper.

``eoss derive … --json`` evaluates the two-point diagonal network at a point; this
module finds those evaluations in a document and draws the derived FullBS and
MiniBS next to what the paper's Appendix F formulas give at the same point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eoss.analysis.report.figure_ref import FigureRef, FigureSet
from eoss.analysis.report.plots.symbolic import plot_formula_comparison
from eoss.analysis.study.study import Study


def diagonal_points(
    doc: Any, context: str = ""
) -> list[tuple[str, list[tuple[str, float, float]]]]:
    """Diagonal-network evaluations in a derivation document, with the paper's formulas.

    A dict with ``per_sample_top_eigenvalues`` [λ1, λ2], ``fullbs`` and ``minibs_b1``
    gives rows (quantity, derived, paper): FullBS vs the paper's max(λ1, λ2)/2 and
    MiniBS(b = 1) vs (λ1 + λ2)/2 (Appendix F) — from its ``paper`` dict when the
    document has one, else computed from λ1, λ2.

    Args:
        doc: Parsed JSON.
        context: Label prefix.

    Returns:
        (label, rows) per evaluation found.
    """
    out: list[tuple[str, list[tuple[str, float, float]]]] = []
    if isinstance(doc, dict):
        found = _formula_rows(doc)
        if found is not None:
            out.append(((context or "diagonal network") + found[0], found[1]))
        for k in sorted(doc):
            out += diagonal_points(doc[k], f"{context}/{k}" if context else str(k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += diagonal_points(v, f"{context}[{i}]")
    return out


def _formula_rows(doc: dict) -> tuple[str, list[tuple[str, float, float]]] | None:
    """(" at a1=…", rows) for one diagonal-network evaluation dict, else None."""
    lam = doc.get("per_sample_top_eigenvalues")
    if not (isinstance(lam, list) and len(lam) == 2):
        return None
    if "fullbs" not in doc or "minibs_b1" not in doc:
        return None
    l1, l2 = float(lam[0]), float(lam[1])
    paper = doc.get("paper") if isinstance(doc.get("paper"), dict) else {}
    rows = [
        ("FullBS", float(doc["fullbs"]), float(paper.get("fullbs", max(l1, l2) / 2))),
        (
            "MiniBS (b=1)",
            float(doc["minibs_b1"]),
            float(paper.get("minibs", (l1 + l2) / 2)),
        ),
    ]
    point = doc.get("point") if isinstance(doc.get("point"), dict) else {}
    at = ", ".join(
        f"{k}={v:g}" for k, v in sorted(point.items()) if isinstance(v, (int, float))
    )
    return (f" at {at}" if at else ""), rows


def symbolic_figures(study: Study, out: Path) -> list[FigureRef]:
    """Derived diagonal-network values against the paper's formulas.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        One figure per evaluation point found.
    """
    figs = FigureSet(out)
    for i, doc in enumerate(study.inputs.derive):
        for j, (label, rows) in enumerate(diagonal_points(doc.doc)):
            cap = (
                f"{label}: values derived by eoss (blue bars) vs the paper's "
                "Appendix F formulas at the same point (grey bars); '=' or '≠' "
                "above each pair says whether they agree."
            )
            with figs.figure(
                "symbolic", f"symbolic{i}_{j}", cap, size=(4.5, 3.5)
            ) as ax:
                plot_formula_comparison(ax, rows, title=label)
    return figs.refs
