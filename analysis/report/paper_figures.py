"""The paper's body figures that :mod:`eoss.analysis.report.figures` does not draw.

Fig. 2 (the per-step λ_max(H_B) cloud of one representative run) and Figs. 3-5
(runs whose η or b changed), drawn by :mod:`eoss.analysis.report.run_figures`;
Figs. 15-16 (trained gap vs b against 1/√b and 1/b with the
local-slope profile), Fig. 17 across b (MiniBS and the averaged-NTK λ_max of the
plain SGD runs with an ``ntk`` table) and, in the appendix, one MiniBS / NTK panel
per run with an ``ntk`` table. Each is drawn only from data the study has; a
figure whose data is missing is not drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eoss.analysis.records.reader import RunTables
from eoss.analysis.report.figure_ref import FigureRef, FigureSet
from eoss.analysis.report.plots.canvas import shared_legend
from eoss.analysis.report.plots.gap_scaling import (
    plot_gap_points,
    plot_reference_slopes,
    plot_slope_profile,
)
from eoss.analysis.report.plots.ntk import plot_ntk_trajectory, plot_ntk_vs_batch
from eoss.analysis.report.plots.sweep_overview import batch_colours
from eoss.analysis.report.setting import run_setting
from eoss.analysis.report.unfitted import unfitted_levels
from eoss.analysis.stats.local_slopes import local_slopes
from eoss.analysis.study.phases import phases
from eoss.analysis.study.study import Study
from eoss.analysis.study.sweeps import is_plain_sgd


def _sweep_runs(study: Study, ids: set[str]) -> list[RunTables]:
    return [r for r, _ in study.detections if r.run_id in ids]


def trained_slopes_figures(study: Study, out: Path) -> list[FigureRef]:
    """Figs. 15-16: trained gap vs b with 1/√b and 1/b, and its local slopes.

    Drawn per sweep with at least two batch sizes at EoSS (a local slope needs a
    pair); a sweep with fewer draws its runs that reached 2/η but are not at EoSS
    instead, hollow, labelled as in no fit.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures.
    """
    figs = FigureSet(out)
    for i, s in enumerate(study.sweeps):
        pts = _slope_points(study, s)
        if pts is None:
            continue
        b, gap, se, prof, hollow = pts
        ok = np.isfinite(gap) & (gap > 0)
        runs = _sweep_runs(study, {i for g in s.run_ids for i in g})
        marks = "circles ± 1 SE, one per run"
        if hollow is not None:
            marks = (
                f"no run at EoSS, so no fit: {hollow.words}; their local slopes are "
                "descriptive only"
            )
        cap = (
            f"Sweep {i} ({s.label}), trained plateau gap (Figs. 15-16). Left: gap "
            f"vs b on log-log axes ({marks}; machine-zero and "
            "non-positive values omitted) with reference slopes b^-0.5 (1/√b) and "
            "b^-1 (1/b) through the smallest b. Right: local exponent α between "
            "neighbouring b (squares, 95 % intervals) with α = 0.5 and α = 1 "
            f"(grey). Setting: {run_setting(runs)}."
        )
        name = f"sweep{i}_gap_slopes"
        with figs.figure("sweeps", name, cap, size=(4.6, 3.6), ncols=2) as axes:
            left, right = axes
            label = "trained gap" + (" (not at EoSS)" if hollow else "")
            plot_gap_points(left, b, gap, se, label=label, hollow=hollow is not None)
            b0 = float(np.min(b[ok]))
            g0 = float(np.mean(gap[ok][b[ok] == b0]))
            span = (b0, float(np.max(b[ok])))
            plot_reference_slopes(left, span, (b0, g0), exponents=(0.5, 1.0))
            left.set_xlabel("batch size b")
            left.set_ylabel("gap = MiniBS − FullBS")
            left.legend(fontsize=6)
            plot_slope_profile(right, prof.b_mid, prof.exponent, prof.ci)
            right.legend(fontsize=6)
    return figs.refs


def _slope_points(study: Study, s: Any) -> tuple[Any, ...] | None:
    """(b, gap, SE, local-slope profile, unfitted levels or None) of a sweep.

    The fitted curve's points and profile when at least two b are at EoSS, else
    the levels of the runs that reached 2/η but are not at EoSS (drawn hollow).
    """
    cf = study.sweep_fits.get(s.key)
    prof = None if cf is None else cf.profile
    if cf is not None and prof is not None and len(prof.exponent) > 0:
        c = cf.curve
        ok = np.isfinite(c.gap) & (c.gap > 0)
        if len(np.unique(c.batch_size[ok])) >= 2:
            return c.batch_size, c.gap, c.gap_se, prof, None
    rest = unfitted_levels(study, s)
    if rest is None or len(np.unique(rest.b[rest.gap > 0])) < 2:
        return None
    prof = local_slopes(rest.b, rest.gap, se=rest.gap_se)
    return rest.b, rest.gap, rest.gap_se, prof, rest


def _tail_levels(run: RunTables) -> tuple[float, float, float, float] | None:
    """MiniBS and NTK λ_max means (and SDs) / (2/η) over the last half of phase 0."""
    ph = phases(run)[0]
    sm, mb = run.column("minibs", "step"), run.column("minibs", "minibs")
    sn, nt = run.column("ntk", "step"), run.column("ntk", "ntk_lambda_max")
    common, im, inn = np.intersect1d(sm, sn, return_indices=True)
    tail = (common >= (ph.start + ph.end) / 2) & (common < ph.end)
    m, n = mb[im][tail], nt[inn][tail]
    keep = np.isfinite(m) & np.isfinite(n)
    if not keep.any():
        return None
    m, n = m[keep] * ph.lr / 2, n[keep] * ph.lr / 2
    return float(m.mean()), float(m.std()), float(n.mean()), float(n.std())


def ntk_batch_figure(study: Study, out: Path) -> list[FigureRef]:
    """Fig. 17 across b: MiniBS and averaged-NTK λ_max of the plain SGD runs.

    Runs of one constant (η, b) from the start (:func:`is_plain_sgd`: no fork,
    change or noise), so every level is in units of the same kind of 2/η; forks
    and noisy runs are in the appendix grid (:func:`ntk_runs_figure`).

    Args:
        study: The study.
        out: Report folder.

    Returns:
        Zero or one figure.
    """
    runs, levels = [], []
    for r, d in study.detections:
        usable = r.has("ntk") and r.has("minibs") and is_plain_sgd(r, d)
        lv = _tail_levels(r) if usable else None
        if lv is not None:
            runs.append(r)
            levels.append(lv)
    if not runs:
        return []
    runs_b = [(r.batch_size or 0, k) for k, r in enumerate(runs)]
    order = [k for _, k in sorted(runs_b)]
    runs, lv = [runs[k] for k in order], np.asarray([levels[k] for k in order])
    b = np.asarray([float(r.batch_size or np.nan) for r in runs])
    figs = FigureSet(out)
    cap = (
        f"MiniBS and the averaged mini-batch NTK λ_max across b (Fig. 17; {len(runs)} "
        "runs of one constant η and b). Left: mean over the second half of the run, "
        "in units of 2/η, per run (MiniBS blue circles, NTK orange squares; bars = "
        "SD over those steps, not an SE); black line 2/η. Right: each paired "
        "measurement (MiniBS, NTK λ_max), one colour per b (as in Fig. 1), with "
        f"the line y = x. Setting: {run_setting(runs)}."
    )
    with figs.figure("ntk", "ntk_vs_batch", cap, size=(4.6, 3.6), ncols=2) as axes:
        plot_ntk_vs_batch(axes[0], b, lv[:, 0], lv[:, 1], lv[:, 2], lv[:, 3])
        axes[0].legend(fontsize=6)
        pairs, colour, named = (
            [],
            batch_colours([r.batch_size or 0 for r in runs]),
            set(),
        )
        for r in runs:
            _, im, inn = np.intersect1d(
                r.column("minibs", "step"),
                r.column("ntk", "step"),
                return_indices=True,
            )
            x, y = (
                r.column("minibs", "minibs")[im],
                r.column("ntk", "ntk_lambda_max")[inn],
            )
            b_r = r.batch_size or 0
            label = None if b_r in named else f"b = {b_r}"
            named.add(b_r)
            axes[1].scatter(x, y, s=8, color=colour[b_r], label=label)
            pairs.append(np.concatenate([x, y]))
        allv = np.concatenate(pairs)
        allv = allv[np.isfinite(allv)]
        if len(allv):
            lo, hi = float(allv.min()), float(allv.max())
            axes[1].plot([lo, hi], [lo, hi], color="black", lw=0.8, label="y = x")
        axes[1].set_xlabel("MiniBS")
        axes[1].set_ylabel("averaged NTK λ_max")
        axes[1].legend(fontsize=6)
    return figs.refs


def ntk_runs_figure(
    study: Study, out: Path, limit: int | None = None
) -> list[FigureRef]:
    """Appendix grid: MiniBS and averaged-NTK λ_max against the step, per run.

    Args:
        study: The study.
        out: Report folder.
        limit: Most runs drawn (None: all), as for the trajectory grid.

    Returns:
        Zero or one figure.
    """
    runs = [r for r, _ in study.detections if r.has("ntk") and r.has("minibs")]
    runs = runs[:limit] if limit is not None else runs
    if not runs:
        return []
    runs = sorted(runs, key=lambda r: (r.lr or 0.0, r.batch_size or 0, r.run_id))
    figs = FigureSet(out)
    cap = (
        f"Per-run MiniBS (blue) and averaged mini-batch NTK λ_max (orange dashed) "
        f"against the step ({len(runs)} run{'' if len(runs) == 1 else 's'}, one "
        "panel each, titled by run), in units of 2/η of the run's first η; black "
        f"line 2/η. Setting: {run_setting(runs)}."
    )
    ncols = min(3, len(runs))
    nrows = -(-len(runs) // ncols)
    size = (4.2, 2.9)
    with figs.figure(
        "appendix", "ntk_runs", cap, size=size, ncols=ncols, nrows=nrows
    ) as axes:
        axes = axes if isinstance(axes, list) else [axes]
        for ax, run in zip(axes, runs, strict=False):
            plot_ntk_trajectory(ax, run)
            ax.set_title(run.run_id, fontsize=8)
        for ax in axes[len(runs) :]:
            ax.set_visible(False)
        shared_legend(axes)
    return figs.refs


def noise_references(study: Study, noisy: list[RunTables]) -> dict[str, RunTables]:
    """Plain SGD and GD runs to draw beside noise-injected GD (Fig. 10).

    Runs without injected noise at the η and n of the first noisy run: GD
    (``optim.name`` "gd") and one SGD run, at the b the noisy run measured MiniBS
    at when there is one, else of median b.

    Args:
        study: The study.
        noisy: The noise-injected runs (non-empty).

    Returns:
        Label ("SGD (run)", "GD (run)") → run; empty when none match.
    """
    ref = noisy[0]
    plain = [
        r
        for r, _ in study.detections
        if (r.noise_kind or "none") == "none"
        and r.lr == ref.lr
        and r.n_train == ref.n_train
    ]
    out: dict[str, RunTables] = {}
    gd = [r for r in plain if (r.optimizer or "").lower() == "gd"]
    if gd:
        out[f"GD ({gd[0].run_id})"] = gd[0]
    sgd = sorted(
        (r for r in plain if (r.optimizer or "sgd").lower() == "sgd"),
        key=lambda r: r.batch_size or 0,
    )
    if sgd:
        mb = ref.column("minibs", "batch_size")
        same = [r for r in sgd if len(mb) and r.batch_size == int(mb[0])]
        pick = same[0] if same else sgd[(len(sgd) - 1) // 2]
        out[f"SGD ({pick.run_id})"] = pick
    return out


def paper_figures(study: Study, out: Path) -> list[FigureRef]:
    """Every figure of this module, in report order.

    Args:
        study: The study.
        out: Report folder.

    Returns:
        The figures drawn (those whose data exist).
    """
    from eoss.analysis.report.run_figures import batch_cloud_figure, schedule_figure

    refs: list[FigureRef] = []
    for maker in (
        batch_cloud_figure,
        schedule_figure,
        trained_slopes_figures,
        ntk_batch_figure,
    ):
        refs += maker(study, out)
    return refs
