"""The noise comparison: only full-covariance noise-injected GD trains at EoSS.

Paper §5 (Fig. 10): "A network only enters the EOSS regime (with the FullBS
plateauing well below the 2/η threshold) when trained with noise that preserves
the directionality (aka full covariance) of the SGD noise." The runs are classified
by one rule (:func:`_regime`), which must also classify the controls correctly —
full-batch GD as EoS and plain SGD as EoSS — before the variants' classification is
trusted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eoss.analysis.claims.dynamics import EOSS_BAND, NOISE_KINDS, noise_kind
from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.table import ClaimRow, not_measured, row
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.records.reader import RunTables
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.study.plateau import PhaseDetection
from eoss.analysis.study.study import Study


def _regime(ph: PhaseDetection, d: float) -> str:
    """EoSS (MiniBS in its band, FullBS below 2/η), EoS (FullBS at 2/η), or neither.

    Units of 2/η. EoS: the FullBS interval meets [1 − δ, 1 + δ]. EoSS: the MiniBS
    interval meets the EoSS band [1 − δ, 2 + δ] while the FullBS interval lies below
    1 − δ. A phase that did not reach 2/η keeps its detection status.
    """
    if ph.status != "eoss":
        return ph.status
    mb, fb = ph.normalised("minibs"), ph.normalised("fullbs")

    def meets(lv: Level | None, lo: float, hi: float) -> bool:
        return lv is not None and lv.ci[0] <= hi and lv.ci[1] >= lo

    if meets(fb, 1 - d, 1 + d):
        return "EoS"
    lo, hi = EOSS_BAND
    if meets(mb, lo - d, hi + d) and fb is not None and fb.ci[1] < 1 - d:
        return "EoSS"
    return "neither"


def _noise_verdict(full: list[str], others: list[str]) -> Verdict:
    """Supported iff every full-covariance run is EoSS and no other run is."""
    if any(r == "EoSS" for r in others) or any(r in ("EoS", "neither") for r in full):
        return Verdict.NOT_SUPPORTED
    not_eoss = ("EoS", "neither", "converged_before_eoss")
    all_full = bool(full) and all(r == "EoSS" for r in full)
    if all_full and others and all(r in not_eoss for r in others):
        return Verdict.SUPPORTED
    return Verdict.INCONCLUSIVE


def _setting(run: RunTables) -> tuple[Any, Any]:
    return (run.lr, run.n_train)


def noise_group(study: Study) -> dict[str, list[tuple[RunTables, PhaseDetection]]]:
    """The runs of the noise comparison, by role.

    Noise variants are the runs with ``noise.kind`` in :data:`NOISE_KINDS`; the
    controls are full-batch GD runs (``optim.name`` "gd") and plain SGD runs (no
    noise, one unforked phase) at the η and n of some noise run, SGD also at the b
    whose noise the variants imitate (their ``batch_size``).

    Args:
        study: The study.

    Returns:
        Role ("gaussian", "diagonal", "isotropic", "gd", "sgd") → (run, first phase).
    """
    out: dict[str, list[tuple[RunTables, PhaseDetection]]] = defaultdict(list)
    noisy = [(r, d) for r, d in study.detections if noise_kind(r) in NOISE_KINDS]
    settings = {_setting(r) for r, _ in noisy}
    sizes = {(_setting(r), r.batch_size) for r, _ in noisy}
    for run, det in study.detections:
        kind = noise_kind(run)
        if kind in NOISE_KINDS:
            out[kind].append((run, det.first))
        elif _setting(run) in settings and run.optimizer == "gd":
            out["gd"].append((run, det.first))
        elif (
            (_setting(run), run.batch_size) in sizes
            and run.optimizer in (None, "sgd")
            and len(det.phases) == 1
            and det.first.phase.change == "start"
        ):
            out["sgd"].append((run, det.first))
    return out


def _controls(regimes: dict[str, list[str]]) -> str:
    """Empty when GD → EoS and SGD → EoSS hold, else why the rule is unvalidated."""
    why = []
    for role, want in (("gd", "EoS"), ("sgd", "EoSS")):
        got = regimes.get(role, [])
        if not got:
            why.append(f"no {role.upper()} control run in the noise group")
        elif any(r != want for r in got):
            why.append(
                f"{role.upper()} control classified {', '.join(got)}, not {want}"
            )
    return "; ".join(why)


def noise_variants(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """Only full-covariance noise-injected GD shows EoSS, with GD and SGD controls.

    The classification rule (EoSS / EoS, :func:`_regime`) is applied to the GD and
    plain-SGD controls too; unless GD is classified EoS and SGD EoSS, the rule is
    not validated on these runs and the row is inconclusive, whatever the variants
    show (the variants' own verdict is given in the note).

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; not used by this rule).

    Returns:
        One row.
    """
    d = study.criteria.reach_tol
    group = noise_group(study)
    if not any(group.get(k) for k in NOISE_KINDS):
        return [not_measured("noise_full_covariance_only")]
    regimes = {k: [_regime(ph, d) for _, ph in v] for k, v in group.items()}
    measured = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(regimes.items()))
    full = regimes.get("gaussian", [])
    verdict = _noise_verdict(
        full, regimes.get("diagonal", []) + regimes.get("isotropic", [])
    )
    lo, hi = EOSS_BAND
    rule = (
        f"EoSS = MiniBS CI meets [{lo - d:g}, {hi + d:g}]·2/η and FullBS CI below "
        f"{1 - d:g}·2/η; EoS = FullBS CI meets [{1 - d:g}, {1 + d:g}]·2/η; the same "
        "rule must classify GD as EoS and plain SGD as EoSS, else inconclusive"
    )
    note = "gaussian = the exact mini-batch noise covariance"
    missing = [k for k in NOISE_KINDS if k not in regimes]
    if missing:
        note += "; missing variants: " + ", ".join(missing)
    gd_notes = {ph.minibs_b_note for _, ph in group.get("gd", []) if ph.minibs_b_note}
    note += "".join(f"; GD: {n}" for n in sorted(gd_notes))
    why = _controls(regimes)
    if why:
        note += f"; controls fail ({why}): variants alone would read '{verdict}'"
        verdict = Verdict.INCONCLUSIVE
    return [
        row(
            "noise_full_covariance_only",
            f"{sum(map(len, regimes.values()))} runs",
            measured,
            verdict,
            rule,
            note,
        )
    ]
