"""Claims about training dynamics: EoSS band, FullBS < MiniBS, schedules, noise, NTK.

Each function takes a :class:`eoss.analysis.study.study.Study` and returns claim rows
(:mod:`eoss.analysis.claims.table`). "At 2/η" means a 95 % interval within [1 − δ, 1 +
δ] in
units of 2/η, with δ the detection's ``reach_tol`` (0.1 by default).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy import stats

from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.table import (
    ClaimRow,
    band_verdict,
    fmt,
    fmt_level,
    not_measured,
    row,
)
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.records.reader import RunTables
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.stats.mean import mean_se
from eoss.analysis.study.plateau import PhaseDetection
from eoss.analysis.study.study import Study

NOISE_KINDS = ("gaussian", "diagonal", "isotropic")
# Where MiniBS sits at EoSS, in units of 2/η: the paper's "[2/η, 4/η]".
EOSS_BAND = (1.0, 2.0)


def noise_kind(run: RunTables) -> str:
    """The injected-noise kind of a run ("none" for plain SGD/GD).

    Args:
        run: The run.

    Returns:
        ``noise.kind`` from the config, or "none".
    """
    return run.noise_kind or "none"


def _sgd_first_phases(study: Study) -> list[tuple[RunTables, PhaseDetection]]:
    return [(r, d.first) for r, d in study.detections if noise_kind(r) == "none"]


def _statuses(items: list[tuple[RunTables, PhaseDetection]]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for _, d in items:
        counts[d.status] += 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def _band_rows(
    study: Study, key: str, name: str, lo: float, hi: float, rule: str
) -> list[ClaimRow]:
    items = _sgd_first_phases(study)
    if not items:
        return [not_measured(key)]
    levels = [(r.run_id, d.normalised(name)) for r, d in items if d.status == "eoss"]
    levels = [(rid, lv) for rid, lv in levels if lv is not None]
    note = f"run statuses — {_statuses(items)}; only stationary runs ('eoss') count"
    note += _unconverged_note(items)
    if not levels:
        return [
            row(
                key,
                f"{len(items)} runs",
                "no run has an EoSS plateau",
                Verdict.INCONCLUSIVE,
                rule,
                note,
            )
        ]
    inside = sum(lo <= lv.ci[0] and lv.ci[1] <= hi for _, lv in levels)
    means = [lv.mean for _, lv in levels]
    measured = (
        f"{inside}/{len(levels)} intervals inside; levels {fmt(min(means))}–"
        f"{fmt(max(means))} (units of 2/η)"
    )
    one: dict[str, Any] = {}
    if len(levels) == 1:
        measured = f"{fmt_level(levels[0][1])} (units of 2/η)"
        one = _number(levels[0][1], "2/η")
    verdict = band_verdict([lv for _, lv in levels], lo, hi)
    src = f"{len(levels)} runs at EoSS"
    return [row(key, src, measured, verdict, rule, note, **one)]


def _unconverged_note(items: list[tuple[RunTables, PhaseDetection]]) -> str:
    """``; unconverged rows dropped: minibs 3, fullbs 1`` (or "")."""
    tot: dict[str, int] = defaultdict(int)
    for _, d in items:
        for k, v in (d.n_unconverged or {}).items():
            tot[k] += v
    if not any(tot.values()):
        return ""
    return "; unconverged rows dropped: " + ", ".join(
        f"{k} {v}" for k, v in sorted(tot.items())
    )


def _number(level: Level, units: str) -> dict[str, Any]:
    """``row`` keywords carrying a level's mean and 95 % interval."""
    return {"estimate": level.mean, "ci": level.ci, "units": units}


def minibs_band(study: Study, policy: ClaimPolicy = DEFAULT_POLICY) -> list[ClaimRow]:
    """MiniBS plateau within [2/η, 4/η].

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; band rules do not depend on it).

    Returns:
        One row (or a not-measured row).
    """
    rule = "band rule: plateau MiniBS/(2/η) 95% CI ⊂ [1, 2] for every run at EoSS"
    return _band_rows(study, "minibs_band", "minibs", *EOSS_BAND, rule)


def batch_sharpness_at_threshold(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """Batch-sharpness plateau at 2/η.

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; band rules do not depend on it).

    Returns:
        One row.
    """
    d = study.criteria.reach_tol
    rule = f"band rule: plateau batch sharpness/(2/η) 95% CI ⊂ [{1 - d:g}, {1 + d:g}]"
    return _band_rows(
        study, "batch_sharpness_at_threshold", "batch_sharpness", 1 - d, 1 + d, rule
    )


def fullbs_below_minibs(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """No measurement with FullBS significantly above MiniBS.

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; band rules do not depend on it).

    Returns:
        One row.
    """
    z = study.criteria.violation_z
    pairs = sum(p.n_pairs for _, d in study.detections for p in d.phases)
    bad = sum(p.n_violations for _, d in study.detections for p in d.phases)
    st_pairs = st_bad = 0
    for t in study.inputs.static:
        gap, se = t.columns.get("gap"), t.columns.get("gap_se")
        if gap is not None and se is not None:
            ok = np.isfinite(gap)
            st_pairs += int(ok.sum())
            st_bad += int((ok & (gap < -z * np.nan_to_num(se))).sum())
    if pairs + st_pairs == 0:
        return [not_measured("fullbs_below_minibs")]
    rule = f"not supported if any MiniBS − FullBS < −{z:g}·SE; else supported"
    measured = (
        f"{bad}/{pairs} trajectory pairs and {st_bad}/{st_pairs} static points "
        f"with FullBS above MiniBS by > {z:g} SE"
    )
    note = (
        "E_B λ_max(H_B) ≥ λ_max(E_B H_B) = FullBS holds exactly (λ_max is convex, "
        "Jensen), so any violation is Monte-Carlo or solver error"
    )
    verdict = Verdict.NOT_SUPPORTED if bad + st_bad else Verdict.SUPPORTED
    return [
        row(
            "fullbs_below_minibs",
            "all runs and static curves",
            measured,
            verdict,
            rule,
            note,
            estimate=bad + st_bad,
            units=f"measurements with FullBS above MiniBS by > {z:g} SE",
        )
    ]


def _missing(run_id: str, ph: PhaseDetection, diverged: bool) -> str:
    """Why a phase after a change is not at EoSS (divergence said as such)."""
    if diverged:
        return (
            f"{run_id}: diverged after the change (to η = {ph.phase.lr:g}, "
            f"b = {ph.phase.batch_size})"
        )
    return f"{run_id}: {ph.status}"


def schedule_changes(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """MiniBS re-equilibrates at the new 2/η after η / b changes.

    A run that diverged after the change is a measured failure to re-equilibrate:
    the row is not supported and its note says so (with the new η and b).

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; band rules do not depend on it).

    Returns:
        One row per kind of change (not-measured rows for kinds absent).
    """
    by_kind: dict[str, list[tuple[str, PhaseDetection]]] = defaultdict(list)
    diverged: set[int] = set()  # the phase a diverged run ended in
    for run, det in study.detections:
        for ph in det.phases:  # later phases, and forks that changed η or b
            if ph.phase.change != "start":
                by_kind[ph.phase.change].append((run.run_id, ph))
        if det.phases and det.phases[-1].diverged:
            diverged.add(id(det.phases[-1]))
    rows = []
    # The band of claim "minibs_band" in units of the *new* 2/η: a factor-2 change
    # of η moves that band by a factor 2, so a MiniBS that did not follow the new
    # threshold falls outside it.
    rule = (
        f"band rule on MiniBS/(2/η_new) after a change: CI ⊂ [{EOSS_BAND[0]:g}, "
        f"{EOSS_BAND[1]:g}] (the EoSS band of claim 1, in units of the new 2/η)"
    )
    for key in ("lr_down", "lr_up", "batch_size_up"):
        items = by_kind.get(key, [])
        if not items:
            rows.append(not_measured(key))
            continue
        good = {id(ph) for _, ph in items if ph.status == "eoss"} - diverged
        levels = [ph.normalised("minibs") for _, ph in items if id(ph) in good]
        missing = [
            _missing(rid, ph, id(ph) in diverged)
            for rid, ph in items
            if id(ph) not in good
        ]
        verdict = band_verdict(levels, *EOSS_BAND) if levels else Verdict.INCONCLUSIVE
        if missing and verdict is Verdict.SUPPORTED:
            verdict = Verdict.INCONCLUSIVE
        if any(id(ph) in diverged for _, ph in items):  # did not re-equilibrate
            verdict = Verdict.NOT_SUPPORTED
        measured = (
            "; ".join(fmt_level(lv) for lv in levels) or "not at EoSS after the change"
        )
        note = (
            ("not at EoSS after the change — " + ", ".join(missing)) if missing else ""
        )
        rows.append(
            row(
                key,
                f"{len(items)} changes",
                measured + " (units of new 2/η)",
                verdict,
                rule,
                note,
                **(_number(levels[0], "new 2/η") if len(levels) == 1 else {}),
            )
        )
    return rows


def pooled_level(levels: list[Level]) -> Level:
    """Mean of per-run levels with the between-run SE sd/√k and a t(k − 1) interval.

    Args:
        levels: One level per run (k ≥ 1; k = 1 gives NaN bounds).

    Returns:
        The pooled level.
    """
    k = len(levels)
    m, se = mean_se([lv.mean for lv in levels])
    if k < 2:
        return Level(m, float("nan"), (float("nan"), float("nan")), k, k, None)
    q = float(stats.t.ppf(0.975, k - 1))
    return Level(m, se, (m - q * se, m + q * se), k, k, None)


def ntk_tracks_minibs(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """NTK λ_max / MiniBS at the plateau within [1 − δ, 1 + δ].

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; band rules do not depend on it).

    Returns:
        One row.
    """
    d = study.criteria.reach_tol
    items = [(r.run_id, det.first) for r, det in study.detections if r.has("ntk")]
    if not items:
        return [not_measured("ntk_tracks_minibs")]
    levels = [ph.ntk_ratio for _, ph in items if ph.ntk_ratio is not None]
    if not levels:
        return [
            row(
                "ntk_tracks_minibs",
                f"{len(items)} runs",
                "no paired plateau measurements",
                Verdict.INCONCLUSIVE,
                "—",
            )
        ]
    lo, hi = 1 - d, 1 + d
    pooled = pooled_level(levels)
    inside = sum(lo <= lv.ci[0] and lv.ci[1] <= hi for lv in levels)
    rule = (
        f"band rule: no run's plateau NTK λ_max / MiniBS 95% CI outside "
        f"[{lo:g}, {hi:g}], and the pooled ratio's CI (mean over runs, t on k − 1 df) "
        "inside it"
    )
    measured = (
        f"pooled {fmt_level(pooled)} over {len(levels)} runs; "
        f"{inside}/{len(levels)} run intervals inside; per run: "
        + "; ".join(f"{fmt_level(lv)}" for lv in levels)
    )
    if band_verdict(levels, lo, hi) is Verdict.NOT_SUPPORTED:
        verdict = Verdict.NOT_SUPPORTED
    else:
        verdict = band_verdict([pooled], lo, hi)
    return [
        row(
            "ntk_tracks_minibs",
            f"{len(levels)} runs",
            measured,
            verdict,
            rule,
            "runs with few NTK measurements have wide intervals; the pooled ratio "
            "is the typical one",
            **_number(pooled, "NTK λ_max / MiniBS (pooled over runs)"),
        )
    ]
