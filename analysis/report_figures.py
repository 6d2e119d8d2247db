"""The report's figures: one function per kind, each saving PNG + PDF in ``figures/``.

Figures are drawn with the ax-first helpers of :mod:`analysis.figures` and written
only through :func:`analysis.figures.canvas.save_figure` (fixed metadata: the same
inputs give byte-identical files). File names derive from run ids and sorted
indices, never from times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.figures.canvas import new_figure, save_figure
from analysis.figures.gap_scaling import (
    plot_fit,
    plot_gap_points,
    plot_plateaus_vs_batch,
    plot_reference_slopes,
)
from analysis.figures.noise_variants import plot_noise_variants
from analysis.figures.ntk import plot_ntk_scatter, plot_ntk_trajectory
from analysis.figures.symbolic import plot_formula_comparison
from analysis.figures.trajectories import plot_sharpness_trajectory
from analysis.study import CurveFits, Study

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


@dataclass(frozen=True)
class FigureRef:
    """A saved figure.

    Attributes:
        section: Report section it belongs to.
        name: File stem under ``figures/``.
        caption: One-sentence caption.
    """

    section: str
    name: str
    caption: str

    @property
    def png(self) -> str:
        """Relative path of the PNG."""
        return f"figures/{self.name}.png"


def safe_name(text: str) -> str:
    """A file-name-safe version of ``text``.

    Args:
        text: Any label.

    Returns:
        Letters, digits, ``-``, ``_`` and ``.`` only.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def trajectory_figures(
    study: Study, out: Path, limit: int | None = None
) -> list[FigureRef]:
    """One Fig. 2-type trajectory per training run (the first ``limit`` by path).

    Args:
        study: The study.
        out: Report folder.
        limit: Most trajectories drawn (None: all).

    Returns:
        The figures.
    """
    refs: list[FigureRef] = []
    for run, _ in study.detections:
        if not run.has("minibs") and not run.has("fullbs"):
            continue
        if limit is not None and len(refs) >= limit:
            break
        fig, ax = new_figure(size=(6.0, 3.8))
        plot_sharpness_trajectory(ax, run, batch_sharpness=True)
        name = f"trajectory_{safe_name(run.run_id)}"
        save_figure(fig, out / "figures" / name)
        cap = (
            f"Run {run.run_id}: λ_max of each step's batch (dots), MiniBS ± SE, "
            "FullBS, 2/η and 4/η."
        )
        refs.append(FigureRef("runs", name, cap))
    return refs


def _curve_figure(cf: CurveFits, windows: tuple[str, ...], title: str) -> Any:
    fig, ax = new_figure(size=(5.5, 3.8))
    c = cf.curve
    plot_gap_points(ax, c.batch_size, c.gap, c.gap_se, label=c.label or "gap")
    for i, w in enumerate(windows):
        fit = cf.fit(w)
        if fit is not None:
            plot_fit(
                ax,
                fit,
                color=PALETTE[(i + 1) % len(PALETTE)],
                label=f"{w}: α = {fit.exponent:.2f} "
                f"[{fit.exponent_ci[0]:.2f}, {fit.exponent_ci[1]:.2f}]",
            )
    seg = cf.segments
    if not isinstance(seg, str) and seg.preferred_bic > 1:
        plot_fit(ax, seg.fits[seg.preferred_bic], color="black")
    pos = c.gap[np.isfinite(c.gap) & (c.gap > 0)]
    if len(pos):
        b = c.batch_size
        plot_reference_slopes(
            ax, (float(b.min()), float(b.max())), (float(b.min()), float(pos[0]))
        )
    ax.set_xlabel("batch size b")
    ax.set_ylabel("gap = MiniBS − FullBS")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)
    return fig


def sweep_figures(study: Study, out: Path) -> list[FigureRef]:
    """Per sweep: plateau gap vs b with fits, and MiniBS/FullBS plateaus vs b.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    refs = []
    for i, s in enumerate(study.sweeps):
        if len(s.batch_size) == 0:
            continue  # no run of the sweep reached EoSS: nothing to plot
        fig = _curve_figure(
            study.sweep_fits[s.key],
            ("all", "mid", "large"),
            f"trained plateau gap, {s.label}",
        )
        save_figure(fig, out / "figures" / f"sweep{i}_gap")
        refs.append(
            FigureRef(
                "sweeps",
                f"sweep{i}_gap",
                f"Sweep {i} ({s.label}): plateau gap vs b, power-law fits per window "
                "(BIC-preferred segmented fit in black when K > 1).",
            )
        )
        fig, ax = new_figure(size=(5.5, 3.8))
        plot_plateaus_vs_batch(
            ax, s.batch_size, s.minibs, s.minibs_se, s.fullbs, s.fullbs_se
        )
        ax.legend(fontsize=7)
        save_figure(fig, out / "figures" / f"sweep{i}_plateaus")
        refs.append(
            FigureRef(
                "sweeps",
                f"sweep{i}_plateaus",
                f"Sweep {i}: MiniBS and FullBS plateaus in units of 2/η vs b.",
            )
        )
    return refs


def table_figures(study: Study, out: Path) -> list[FigureRef]:
    """Static and simulated gap curves with their fits.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    refs = []
    for kind, fits in (
        ("static", study.static_fits),
        ("simulation", study.simulate_fits),
    ):
        for i, (label, cf) in enumerate(sorted(fits.items())):
            fig = _curve_figure(cf, ("all", "far", "near"), f"{kind}: {label}")
            name = f"{kind}{i}_gap"
            save_figure(fig, out / "figures" / name)
            refs.append(
                FigureRef(
                    kind,
                    name,
                    f"{kind.capitalize()} gap curve {label}: gap vs b with fits "
                    "(far = b ≤ n/16, near = b ≥ n/4).",
                )
            )
    return refs


def comparison_figures(study: Study, out: Path) -> list[FigureRef]:
    """Static and trained gap curves on one axes, for each compared pair.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    from analysis.compare import ExponentComparison

    refs = []
    for i, (label, key, comp) in enumerate(study.comparisons):
        if not isinstance(comp, ExponentComparison):
            continue
        fig, ax = new_figure(size=(5.5, 3.8))
        sweep = next(s for s in study.sweeps if s.key == key)
        for j, (curve, fit) in enumerate(
            (
                (study.static_fits[label].curve, comp.static),
                (sweep.curve(), comp.trained),
            )
        ):
            color = PALETTE[j]
            plot_gap_points(
                ax,
                curve.batch_size,
                curve.gap,
                curve.gap_se,
                label=("static " if j == 0 else "trained ") + curve.label,
                color=color,
            )
            plot_fit(ax, fit, color=color)
        ax.set_xlabel("batch size b")
        ax.set_ylabel("gap")
        ax.legend(fontsize=6)
        save_figure(fig, out / "figures" / f"static_vs_trained{i}")
        refs.append(
            FigureRef(
                "comparison",
                f"static_vs_trained{i}",
                f"Static curve {label} and trained sweep {sweep.label}, "
                "fitted side by side.",
            )
        )
    return refs


def noise_figure(study: Study, out: Path) -> list[FigureRef]:
    """Noise-injected GD variants (Fig. 10), when any noise run exists.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        Zero or one figure.
    """
    from analysis.claims_dynamics import noise_kind

    runs = {
        f"{noise_kind(r)} ({r.run_id})": r
        for r, _ in study.detections
        if noise_kind(r) != "none"
    }
    if not runs:
        return []
    fig, ax = new_figure(size=(6.0, 3.8))
    plot_noise_variants(ax, runs)
    save_figure(fig, out / "figures" / "noise_variants")
    return [
        FigureRef(
            "noise",
            "noise_variants",
            "Noise-injected GD: MiniBS (solid) and FullBS (dotted) in units of 2/η.",
        )
    ]


def ntk_figures(study: Study, out: Path) -> list[FigureRef]:
    """MiniBS vs averaged-NTK λ_max (Fig. 17) for each run with an ntk table.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    refs = []
    for run, _ in study.detections:
        if not run.has("ntk"):
            continue
        fig, axes = new_figure(1, 2, size=(4.5, 3.5))
        plot_ntk_trajectory(axes[0], run)
        s, i_m, i_n = np.intersect1d(
            run.column("minibs", "step"), run.column("ntk", "step"), return_indices=True
        )
        plot_ntk_scatter(
            axes[1],
            run.column("minibs", "minibs")[i_m],
            run.column("ntk", "ntk_lambda_max")[i_n],
        )
        name = f"ntk_{safe_name(run.run_id)}"
        save_figure(fig, out / "figures" / name)
        refs.append(
            FigureRef("ntk", name, f"Run {run.run_id}: MiniBS and averaged-NTK λ_max.")
        )
    return refs


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
    refs = []
    for i, doc in enumerate(study.inputs.derive):
        for j, (label, rows) in enumerate(diagonal_points(doc.doc)):
            fig, ax = new_figure(size=(4.5, 3.5))
            plot_formula_comparison(ax, rows, title=label)
            name = f"symbolic{i}_{j}"
            save_figure(fig, out / "figures" / name)
            refs.append(
                FigureRef(
                    "symbolic",
                    name,
                    f"{label}: derived values vs the paper's Appendix F formulas "
                    "at the same point.",
                )
            )
    return refs


def make_figures(
    study: Study, out: Path, *, max_trajectories: int | None = None
) -> list[FigureRef]:
    """Every figure of the report.

    Args:
        study: The study.
        out: Report folder (figures go to ``out/figures``).
        max_trajectories: Most per-run trajectory figures (None: one per run).

    Returns:
        The figures in report order.
    """
    refs = trajectory_figures(study, out, max_trajectories)
    for maker in (
        sweep_figures,
        table_figures,
        comparison_figures,
        noise_figure,
        ntk_figures,
        symbolic_figures,
    ):
        refs += maker(study, out)
    return refs
