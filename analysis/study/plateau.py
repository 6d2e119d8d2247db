r"""EoSS detection for one training run: sharpening end, plateau window, plateau levels.

Each constant-(η, b) phase of a run (:func:`eoss.analysis.records.reader.phases`) is
analysed
on its own, with the normalised mini-batch sharpness
:math:`r_t = \mathrm{MiniBS}_t \cdot \eta / 2` (MiniBS in units of 2/η) measured at the
phase's training batch size. Criteria (the defaults live in :class:`Criteria`):

* **Reached / end of progressive sharpening**: the first MiniBS measurement of the
  phase with :math:`r_t \ge 1 - \delta` (``reach_tol`` δ = 0.1), not counting a
  measurement taken at the phase's first step (that one describes the
  initialisation or the previous phase: a network can start above 2/η and fall
  back at once). Its step is ``sharpening_end_step``.
* **Plateau window**: from that step to the last measurement of the phase with
  :math:`r_t \ge 1-\delta` (a trailing fall below the band — e.g. the loss reaching
  zero — ends the plateau). The first ``burn_in`` fraction (0.2) of the window's
  measurements is discarded before levels are estimated: MiniBS overshoots and
  settles for a while after first reaching 2/η, and right after an η or b change.
* **Levels with intervals (autocorrelation)**: consecutive measurements along a
  trajectory are correlated, so each level is a *batch-means* estimate
  (:mod:`eoss.analysis.stats.batch_means`: blocks of ⌊√m⌋ consecutive values, SE from
  the
  spread of the block means, Student-t interval). Each MiniBS measurement's own
  Monte-Carlo error is part of that spread, so it is accounted for too; the lag-1
  autocorrelation of the raw values is reported as a diagnostic.
* Levels: MiniBS, FullBS, batch sharpness, λ_max of the step's own batch, the gap
  MiniBS − FullBS *paired* at steps where both were measured, the control-variate
  gap (``gap_cv``) where recorded, and the ratio NTK λ_max / MiniBS (paired).
* **Status** of a phase: ``"eoss"`` (reached, and at least ``min_plateau_points``
  measurements after burn-in); ``"reached_briefly"`` (reached, fewer points);
  ``"converged_before_eoss"`` (never reached, and the training loss at the end of
  the phase is at most ``converged_loss_ratio`` (1 %) of its value at the start: the
  run fitted its data before sharpening to 2/η); ``"not_reached"`` (never reached,
  loss not converged: the run is too short or η too small); ``"insufficient_data"``
  (fewer than 2 MiniBS measurements). ``diverged`` is flagged separately.
* **FullBS > MiniBS violations** (whole phase, every paired measurement): a pair
  counts when MiniBS − FullBS < −z·SE(MiniBS) with z = ``violation_z`` = 3 (with
  tens of pairs per run a 2-SE rule would flag some by chance alone). Note that
  E_B λ_max(H_B) ≥ λ_max(E_B H_B) = FullBS holds exactly (λ_max is convex, Jensen),
  so violations can only be Monte-Carlo or solver error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoss.analysis.records.reader import RunTables
from eoss.analysis.stats.batch_means import Level, block_level
from eoss.analysis.study.phases import Phase, phases


@dataclass(frozen=True)
class Criteria:
    """Thresholds of the EoSS detection (see the module docstring).

    Attributes:
        reach_tol: δ: reached when MiniBS ≥ (1 − δ)·2/η. 0.1 because MiniBS from
            K ≈ 32 batches has a Monte-Carlo error of a few percent and plateau
            trajectories oscillate by about ±10 % around 2/η.
        burn_in: Fraction of the window's first measurements discarded.
        min_plateau_points: Measurements needed after burn-in for a level (4 gives
            at least 2 batch-means blocks).
        converged_loss_ratio: End/start training-loss ratio below which a run that
            never reached 2/η is called converged.
        violation_z: SEs below zero for a FullBS > MiniBS violation.
        alpha: Significance level of the level intervals.
    """

    reach_tol: float = 0.1
    burn_in: float = 0.2
    min_plateau_points: int = 4
    converged_loss_ratio: float = 1e-2
    violation_z: float = 3.0
    alpha: float = 0.05


@dataclass(frozen=True)
class PhaseDetection:
    """EoSS detection for one phase (levels in raw units; see :meth:`normalised`).

    Attributes:
        phase: The phase.
        status: "eoss", "reached_briefly", "converged_before_eoss", "not_reached" or
            "insufficient_data".
        reached: MiniBS reached (1 − δ)·2/η in this phase.
        sharpening_end_step: Step at which it first did (None if never).
        n_minibs: MiniBS measurements in the phase.
        n_pairs: Paired (MiniBS, FullBS) measurements in the phase.
        n_violations: Pairs with MiniBS − FullBS < −z·SE(MiniBS).
        diverged: The run diverged (status or event).
        criteria: The thresholds used.
        window: (first, last) step of the plateau window, or None.
        minibs: MiniBS level over the window after burn-in.
        fullbs: FullBS level.
        gap: Paired MiniBS − FullBS level.
        gap_cv: Control-variate gap level.
        batch_sharpness: Batch-sharpness level.
        step_lambda: Level of λ_max of the step's own batch.
        ntk_ratio: Level of NTK λ_max / MiniBS (paired).
        in_band_fraction: Fraction of window MiniBS values within [2/η, 4/η].
        drift: Mean of the window's second half minus its first half, units of 2/η.
    """

    phase: Phase
    status: str
    reached: bool
    sharpening_end_step: int | None
    n_minibs: int
    n_pairs: int
    n_violations: int
    diverged: bool
    criteria: Criteria
    window: tuple[int, int] | None = None
    minibs: Level | None = None
    fullbs: Level | None = None
    gap: Level | None = None
    gap_cv: Level | None = None
    batch_sharpness: Level | None = None
    step_lambda: Level | None = None
    ntk_ratio: Level | None = None
    in_band_fraction: float | None = None
    drift: float | None = None

    def normalised(self, name: str) -> Level | None:
        """A level in units of 2/η (multiplied by η/2).

        Args:
            name: "minibs", "fullbs", "gap", "gap_cv", "batch_sharpness" or
                "step_lambda".

        Returns:
            The scaled level, or None if not measured.
        """
        level = getattr(self, name)
        return None if level is None else level.scaled(self.phase.lr / 2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with raw and normalised levels.

        Returns:
            Plain data.
        """
        out: dict[str, Any] = {
            "phase": asdict(self.phase),
            "threshold": self.phase.threshold,
        }
        for name in self.__dataclass_fields__:
            if name in ("phase", "criteria"):
                continue
            val = getattr(self, name)
            out[name] = val.to_dict() if isinstance(val, Level) else val
        for name in ("minibs", "fullbs", "gap", "gap_cv", "batch_sharpness"):
            lvl = self.normalised(name)
            out[f"{name}_over_threshold"] = None if lvl is None else lvl.to_dict()
        out["window"] = None if self.window is None else list(self.window)
        out["criteria"] = asdict(self.criteria)
        return out


def _mask(run: RunTables, table: str, phase: Phase, match_b: bool = True) -> NDArray:
    """Rows of ``table`` inside the phase (and measured at its batch size)."""
    steps = run.column(table, "step")
    m = (steps >= phase.start) & (steps < phase.end)
    b = run.column(table, "batch_size")
    if match_b and len(b):
        m &= np.isnan(b) | (b == phase.batch_size)
    return m


def _pair(s1: NDArray, v1: NDArray, s2: NDArray, v2: NDArray) -> tuple[NDArray, ...]:
    """Values of two series at their common steps: (steps, v1, v2)."""
    common, i1, i2 = np.intersect1d(s1, s2, assume_unique=False, return_indices=True)
    return common, v1[i1], v2[i2]


def _level_between(
    run: RunTables, table: str, key: str, phase: Phase, lo: int, hi: int, alpha: float
) -> Level | None:
    m = _mask(run, table, phase)
    steps = run.column(table, "step")
    vals = run.column(table, key)
    if len(vals) == 0:
        return None
    sel = m & (steps >= lo) & (steps <= hi)
    return block_level(vals[sel], alpha=alpha)


def _converged(run: RunTables, phase: Phase, ratio: float) -> bool:
    """Training loss at the end of the phase ≤ ratio × at its start."""
    for table, key in (("eval", "train_loss"), ("train", "loss")):
        loss = run.column(table, key)[_mask(run, table, phase, match_b=False)]
        loss = loss[np.isfinite(loss)]
        if len(loss) >= 2:
            k = max(len(loss) // 10, 1)  # average a tenth at each end (batch noise)
            return float(loss[-k:].mean()) <= ratio * float(loss[:k].mean())
    return False


def _pair_stats(run: RunTables, phase: Phase, z: float) -> tuple[int, int]:
    """(pairs, significant FullBS > MiniBS violations) over the whole phase."""
    mm, fm = _mask(run, "minibs", phase), _mask(run, "fullbs", phase, match_b=False)
    s = run.column("minibs", "step")[mm]
    diff_se = run.column("minibs", "minibs")[mm], run.column("minibs", "minibs_se")[mm]
    fs, fb = run.column("fullbs", "step")[fm], run.column("fullbs", "fullbs")[fm]
    _, i_m, i_f = np.intersect1d(s, fs, return_indices=True)
    mb, se = diff_se[0][i_m], diff_se[1][i_m]
    gap = mb - fb[i_f]
    ok = np.isfinite(gap)
    bad = ok & (gap < -z * np.nan_to_num(se, nan=0.0))
    return int(ok.sum()), int(bad.sum())


def _paired_level(
    run: RunTables, phase: Phase, lo: int, hi: int, alpha: float, other: str
) -> Level | None:
    """MiniBS − FullBS (other="fullbs") or NTK/MiniBS (other="ntk"), paired."""
    mm = _mask(run, "minibs", phase)
    s = run.column("minibs", "step")[mm]
    mb = run.column("minibs", "minibs")[mm]
    table, key = (
        ("fullbs", "fullbs") if other == "fullbs" else ("ntk", "ntk_lambda_max")
    )
    om = _mask(run, table, phase, match_b=other != "fullbs")
    steps, a, b = _pair(
        s, mb, run.column(table, "step")[om], run.column(table, key)[om]
    )
    sel = (steps >= lo) & (steps <= hi)
    if not sel.any():
        return None
    vals = a[sel] - b[sel] if other == "fullbs" else b[sel] / a[sel]
    return block_level(vals, alpha=alpha)


def _status(
    reached: bool, n_used: int, n_minibs: int, converged: bool, c: Criteria
) -> str:
    if n_minibs < 2:
        return "insufficient_data"
    if reached:
        return "eoss" if n_used >= c.min_plateau_points else "reached_briefly"
    return "converged_before_eoss" if converged else "not_reached"


def detect_phase(
    run: RunTables, phase: Phase, criteria: Criteria | None = None
) -> PhaseDetection:
    """EoSS detection for one phase of a run (criteria in the module docstring).

    Args:
        run: The run's tables.
        phase: One of :func:`eoss.analysis.records.reader.phases` (run).
        criteria: Thresholds (default :class:`Criteria`).

    Returns:
        The detection, levels in raw units.
    """
    c = criteria or Criteria()
    mm = _mask(run, "minibs", phase)
    steps, mb = run.column("minibs", "step")[mm], run.column("minibs", "minibs")[mm]
    r = mb * phase.lr / 2  # MiniBS in units of 2/η
    # The measurement at the phase's first step describes the inherited state (the
    # initialisation, or the previous phase), not the dynamics under this (η, b).
    hit = np.flatnonzero((r >= 1 - c.reach_tol) & (steps > phase.start))
    n_pairs, n_viol = _pair_stats(run, phase, c.violation_z)
    base = dict(
        phase=phase,
        n_minibs=int(len(mb)),
        n_pairs=n_pairs,
        n_violations=n_viol,
        diverged=run.diverged,
        criteria=c,
    )
    if len(hit) == 0 or len(mb) < 2:
        converged = _converged(run, phase, c.converged_loss_ratio)
        return PhaseDetection(
            status=_status(False, 0, len(mb), converged, c),
            reached=len(hit) > 0,
            sharpening_end_step=int(steps[hit[0]]) if len(hit) else None,
            **base,
        )
    first, last = int(hit[0]), int(hit[-1])
    k0 = first + int(c.burn_in * (last - first + 1))
    used = r[k0 : last + 1]
    return PhaseDetection(
        status=_status(True, len(used), len(mb), False, c),
        reached=True,
        sharpening_end_step=int(steps[first]),
        **_plateau(
            run, phase, (int(steps[first]), int(steps[k0]), int(steps[last])), used, c
        ),
        **base,
    )


def _plateau(
    run: RunTables,
    phase: Phase,
    marks: tuple[int, int, int],
    used: NDArray,
    c: Criteria,
) -> dict[str, Any]:
    """Window, levels and band statistics of a reached phase.

    ``marks`` = (window start, first step after burn-in, window end); ``used`` = the
    normalised MiniBS values from burn-in to the window end.
    """
    start, lo, hi = marks
    sources = {
        "minibs": ("minibs", "minibs"),
        "fullbs": ("fullbs", "fullbs"),
        "gap_cv": ("minibs", "gap_cv"),
        "batch_sharpness": ("minibs", "batch_sharpness"),
        "step_lambda": ("step_sharpness", "lambda_max"),
    }
    out: dict[str, Any] = {
        name: _level_between(run, table, key, phase, lo, hi, c.alpha)
        for name, (table, key) in sources.items()
    }
    half = len(used) // 2
    out.update(
        window=(start, hi),
        gap=_paired_level(run, phase, lo, hi, c.alpha, "fullbs"),
        ntk_ratio=_paired_level(run, phase, lo, hi, c.alpha, "ntk"),
        in_band_fraction=float(np.mean((used >= 1) & (used <= 2))),
        drift=float(used[half:].mean() - used[:half].mean()) if half else None,
    )
    return out


@dataclass(frozen=True)
class RunDetection:
    """EoSS detection of every phase of a run.

    Attributes:
        run_id: The run's folder name.
        config_hash: SHA-256 prefix of its config.
        phases: One detection per constant-(η, b) phase, in order.
    """

    run_id: str
    config_hash: str
    phases: tuple[PhaseDetection, ...]

    @property
    def first(self) -> PhaseDetection:
        """The first phase (the whole run when nothing changed)."""
        return self.phases[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict.

        Returns:
            Plain data.
        """
        return {
            "run_id": self.run_id,
            "config_hash": self.config_hash,
            "phases": [p.to_dict() for p in self.phases],
        }


def detect_eoss(run: RunTables, criteria: Criteria | None = None) -> RunDetection:
    """EoSS detection for every phase of a training run.

    Args:
        run: The run (:func:`eoss.analysis.records.reader.load_run`).
        criteria: Thresholds (default :class:`Criteria`).

    Returns:
        The per-phase detections.
    """
    dets = tuple(detect_phase(run, ph, criteria) for ph in phases(run))
    return RunDetection(run.run_id, run.config_hash, dets)
