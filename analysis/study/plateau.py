r"""EoSS detection for one training run: sharpening end, stationarity, plateau levels.

Each constant-(η, b) phase of a run (:func:`eoss.analysis.records.reader.phases`) is
analysed on its own, with the normalised mini-batch sharpness
:math:`r_t = \mathrm{MiniBS}_t \cdot \eta / 2` (MiniBS in units of 2/η). Criteria (the
defaults live in :class:`Criteria`):

* **Which MiniBS rows**: those measured at the phase's training batch size; when the
  phase has none (full-batch GD, b = n, whose MiniBS is measured at
  ``track.minibs_batch_size``, e.g. 32), every MiniBS row of the phase, whatever b it
  was measured at; the b used is recorded in ``minibs_batch_size`` and said in the
  report.
* **Reached / end of progressive sharpening**: the first MiniBS measurement of the
  phase with :math:`r_t \ge 1 - \delta` (``reach_tol`` δ = 0.1), not counting a
  measurement taken at the phase's first step (it describes the initialisation or
  the previous phase). Its step is ``sharpening_end_step``. The same is done on
  batch sharpness (``reached_batch_sharpness``, ``status_batch_sharpness``): EoSS is
  detected on both, and both are reported.
* **Stationarity and plateau**: the plateau is the last ``tail`` (20 %) of the
  phase's steps, and it counts only if the phase is stationary there
  (:mod:`eoss.analysis.study.stationarity`: drift of batch sharpness, FullBS and
  MiniBS across the tail within ±``drift_tol`` = 0.05 × 2/η, on the point estimate
  or, with ``stationarity_rule="equivalence"``, with its 90 % interval).
* **Levels with intervals (autocorrelation)**: each level over the plateau is a
  *batch-means* estimate (:mod:`eoss.analysis.stats.batch_means`). Levels: MiniBS,
  FullBS, batch sharpness, λ_max of the step's own batch, the gap MiniBS − FullBS
  *paired* at steps where both were measured, the control-variate gap (``gap_cv``)
  where recorded, and the ratio NTK λ_max / MiniBS (paired).
* **Converged measurements only**: FullBS rows with ``converged`` false and MiniBS
  rows with ``n_converged`` < ``n_batches`` are left out of every level, and counted
  (``n_unconverged``).
* **Status** of a phase: ``"eoss"`` (reached, stationary, and at least
  ``min_plateau_points`` MiniBS measurements in the plateau); ``"non_stationary"``
  (reached, but drifting, or too few tail points to tell); ``"reached_briefly"``
  (reached, fewer plateau points); ``"converged_before_eoss"`` (never reached, and
  the training loss at the end of the phase is at most ``converged_loss_ratio`` (1 %)
  of its value at the start); ``"not_reached"`` (never reached, loss not
  converged); ``"insufficient_data"`` (fewer than 2 MiniBS measurements).
  ``diverged`` is flagged separately.
* **FullBS > MiniBS violations** (whole phase, every paired measurement): a pair
  counts when MiniBS − FullBS < −z·SE(MiniBS) with z = ``violation_z`` = 3. Note that
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
from eoss.analysis.study.phase_rows import (
    converged_rows,
    in_phase,
    minibs_rows_b,
    pair_stats,
    paired,
    phase_mask,
    series,
)
from eoss.analysis.study.phases import Phase, phases
from eoss.analysis.study.stationarity import Stationarity, stationarity, tail_start
from eoss.empirical.training.config import STATIONARITY_RULES


@dataclass(frozen=True)
class Criteria:
    """Thresholds of the EoSS detection (see the module docstring).

    Attributes:
        reach_tol: δ: reached when MiniBS ≥ (1 − δ)·2/η. 0.1 because MiniBS from
            K ≈ 32 batches has a Monte-Carlo error of a few percent and plateau
            trajectories oscillate by about ±10 % around 2/η.
        tail: Fraction of a phase's last steps that is its plateau (0.2).
        drift_tol: τ: stationary when |drift| ≤ τ·2/η across the tail (0.05).
        stationarity_rule: "point" (|drift| ≤ τ) or "equivalence" (90 % interval
            inside ±τ); :mod:`eoss.analysis.study.stationarity`.
        min_plateau_points: MiniBS measurements needed in the plateau (4 gives at
            least 2 batch-means blocks).
        converged_loss_ratio: End/start training-loss ratio below which a run that
            never reached 2/η is called converged.
        violation_z: SEs below zero for a FullBS > MiniBS violation.
        alpha: Significance level of the level intervals.
    """

    reach_tol: float = 0.1
    tail: float = 0.2
    drift_tol: float = 0.05
    stationarity_rule: str = "point"
    min_plateau_points: int = 4
    converged_loss_ratio: float = 1e-2
    violation_z: float = 3.0
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.tail <= 1:
            raise ValueError(f"tail must be in (0, 1], got {self.tail}")
        if not self.drift_tol > 0:
            raise ValueError(f"drift_tol must be > 0, got {self.drift_tol}")
        if self.stationarity_rule not in STATIONARITY_RULES:
            raise ValueError(f"stationarity_rule must be one of {STATIONARITY_RULES}")


@dataclass(frozen=True)
class PhaseDetection:
    """EoSS detection for one phase (levels in raw units; see :meth:`normalised`).

    Attributes:
        phase: The phase.
        status: "eoss", "non_stationary", "reached_briefly",
            "converged_before_eoss", "not_reached" or "insufficient_data".
        reached: MiniBS reached (1 − δ)·2/η in this phase.
        sharpening_end_step: Step at which it first did (None if never).
        n_minibs: MiniBS measurements in the phase.
        n_pairs: Paired (MiniBS, FullBS) measurements in the phase.
        n_violations: Pairs with MiniBS − FullBS < −z·SE(MiniBS).
        diverged: The run diverged (status or event).
        criteria: The thresholds used.
        minibs_batch_size: b at which the MiniBS rows used were measured.
        status_batch_sharpness: The status with batch sharpness in place of MiniBS.
        reached_batch_sharpness: Batch sharpness reached (1 − δ)·2/η.
        n_unconverged: Rows left out because the solver did not converge
            ({"minibs": k, "fullbs": k}).
        stationarity: Tail drifts and verdict (None without MiniBS data).
        window: (first, last) step of the plateau (the tail), or None.
        minibs: MiniBS level over the plateau.
        fullbs: FullBS level.
        gap: Paired MiniBS − FullBS level.
        gap_cv: Control-variate gap level.
        batch_sharpness: Batch-sharpness level.
        step_lambda: Level of λ_max of the step's own batch.
        ntk_ratio: Level of NTK λ_max / MiniBS (paired).
        in_band_fraction: Fraction of plateau MiniBS values within [2/η, 4/η].
        drift: Drift of batch sharpness (or MiniBS) across the tail, units of 2/η.
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
    minibs_batch_size: int | None = None
    status_batch_sharpness: str | None = None
    reached_batch_sharpness: bool = False
    n_unconverged: dict[str, int] | None = None
    stationarity: Stationarity | None = None
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

    @property
    def minibs_b_note(self) -> str:
        """Text when MiniBS was measured at a b other than the phase's ("" if not)."""
        b = self.minibs_batch_size
        if b is None or b == self.phase.batch_size:
            return ""
        return f"MiniBS measured at b = {b} (phase b = {self.phase.batch_size})"

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
            out[name] = val.to_dict() if hasattr(val, "to_dict") else val
        for name in ("minibs", "fullbs", "gap", "gap_cv", "batch_sharpness"):
            lvl = self.normalised(name)
            out[f"{name}_over_threshold"] = None if lvl is None else lvl.to_dict()
        out["window"] = None if self.window is None else list(self.window)
        out["criteria"] = asdict(self.criteria)
        return out


def _level_between(
    run: RunTables, src: tuple[str, str], mask: NDArray, lo: float, alpha: float
) -> Level | None:
    steps, vals = series(run, *src, mask)
    if len(vals) == 0:
        return None
    return block_level(vals[steps >= lo], alpha=alpha)


def _converged(run: RunTables, phase: Phase, ratio: float) -> bool:
    """Training loss at the end of the phase ≤ ratio × at its start."""
    for table, key in (("eval", "train_loss"), ("train", "loss")):
        loss = run.column(table, key)[in_phase(run, table, phase)]
        loss = loss[np.isfinite(loss)]
        if len(loss) >= 2:
            k = max(len(loss) // 10, 1)  # average a tenth at each end (batch noise)
            return float(loss[-k:].mean()) <= ratio * float(loss[:k].mean())
    return False


def _status(reached: bool, n_used: int, n_minibs: int, converged: bool,
            c: Criteria, stationary: bool | None) -> str:  # fmt: skip
    if n_minibs < 2:
        return "insufficient_data"
    if reached:
        if n_used < c.min_plateau_points:
            return "reached_briefly"
        return "eoss" if stationary else "non_stationary"
    return "converged_before_eoss" if converged else "not_reached"


def _first_hit(steps: NDArray, r: NDArray, phase: Phase, tol: float) -> int | None:
    # The measurement at the phase's first step describes the inherited state (the
    # initialisation, or the previous phase), not the dynamics under this (η, b).
    hit = np.flatnonzero((r >= 1 - tol) & (steps > phase.start))
    return int(steps[hit[0]]) if len(hit) else None


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
    half = phase.lr / 2
    b_mb = minibs_rows_b(run, phase)
    mm, fm = phase_mask(run, "minibs", phase, b_mb), phase_mask(run, "fullbs", phase)
    steps, mb = series(run, "minibs", "minibs", mm)
    bs_steps, bs = series(run, "minibs", "batch_sharpness", mm)
    bs_ok = np.isfinite(bs)
    r = mb * half
    lo = tail_start(phase.start, phase.end, c.tail)
    n_pairs, n_viol = pair_stats(run, mm, fm, c.violation_z)
    unconv = {
        t: int((in_phase(run, t, phase) & ~converged_rows(run, t)).sum())
        for t in ("minibs", "fullbs")
    }
    sharp = ("batch_sharpness", bs_steps[bs_ok], bs[bs_ok] * half)
    if not bs_ok.any():
        sharp = ("minibs", steps, r)
    fs, fb = series(run, "fullbs", "fullbs", fm)
    tail = (int(np.ceil(lo)), phase.end - 1)
    st = stationarity(
        tail,
        (sharp[0], sharp[1][sharp[1] >= lo], sharp[2][sharp[1] >= lo]),
        (fs[fs >= lo], fb[fs >= lo] * half),
        c.drift_tol,
        minibs=(steps[steps >= lo], r[steps >= lo]),
        rule=c.stationarity_rule,
    )
    end_step = _first_hit(steps, r, phase, c.reach_tol)
    bs_end = _first_hit(sharp[1], sharp[2], phase, c.reach_tol)
    n_used = int((steps >= lo).sum())
    converged = _converged(run, phase, c.converged_loss_ratio)
    base = dict(
        phase=phase,
        n_minibs=int(len(mb)),
        n_pairs=n_pairs,
        n_violations=n_viol,
        diverged=run.diverged,
        criteria=c,
        minibs_batch_size=b_mb,
        n_unconverged=unconv,
        stationarity=st,
        reached=end_step is not None,
        sharpening_end_step=end_step,
        reached_batch_sharpness=bs_end is not None,
        status_batch_sharpness=_status(
            bs_end is not None, n_used, len(mb), converged, c, st.stationary
        ),
    )
    status = _status(end_step is not None, n_used, len(mb), converged, c, st.stationary)
    if end_step is None or len(mb) < 2:
        return PhaseDetection(status=status, **base)
    return PhaseDetection(
        status=status, **base, **_plateau(run, phase, (mm, fm), lo, r, st, c)
    )


def _plateau(run: RunTables, phase: Phase, masks: tuple[NDArray, NDArray], lo: float,
             r: NDArray, st: Stationarity, c: Criteria) -> dict[str, Any]:  # fmt: skip
    """Levels over the plateau (steps ≥ ``lo``) of a reached phase."""
    mm, fm = masks
    steps = run.column("minibs", "step")[mm]
    tm = phase_mask(run, "step_sharpness", phase, phase.batch_size)
    out: dict[str, Any] = {
        "minibs": _level_between(run, ("minibs", "minibs"), mm, lo, c.alpha),
        "fullbs": _level_between(run, ("fullbs", "fullbs"), fm, lo, c.alpha),
        "gap_cv": _level_between(run, ("minibs", "gap_cv"), mm, lo, c.alpha),
        "batch_sharpness": _level_between(
            run, ("minibs", "batch_sharpness"), mm, lo, c.alpha
        ),
        "step_lambda": _level_between(
            run, ("step_sharpness", "lambda_max"), tm, lo, c.alpha
        ),
    }
    s, mb, _, fb = paired(run, mm, ("fullbs", "fullbs"), fm)
    out["gap"] = block_level((mb - fb)[s >= lo], alpha=c.alpha) if len(s) else None
    nm = phase_mask(run, "ntk", phase, phase.batch_size)
    s, mb, _, ntk = paired(run, mm, ("ntk", "ntk_lambda_max"), nm)
    out["ntk_ratio"] = (
        block_level((ntk / mb)[s >= lo], alpha=c.alpha) if (s >= lo).any() else None
    )
    used = r[steps >= lo]
    out.update(
        window=(int(np.ceil(lo)), int(steps[-1])) if len(steps) else None,
        in_band_fraction=float(np.mean((used >= 1) & (used <= 2)))
        if len(used)
        else None,
        drift=None if st.sharpness is None else st.sharpness.drift,
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
