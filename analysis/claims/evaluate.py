"""Every claim of the paper evaluated on a study: :func:`evaluate_claims`.

The report (:mod:`eoss.analysis.report`) consumes the rows computed here; it does
not evaluate claims itself.
"""

from __future__ import annotations

from collections.abc import Callable

from eoss.analysis.claims import dynamics as dyn
from eoss.analysis.claims import noise
from eoss.analysis.claims import plateau_spread as spr
from eoss.analysis.claims import regimes as reg
from eoss.analysis.claims import scaling as scl
from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.symbolic import symbolic
from eoss.analysis.claims.table import ClaimRow
from eoss.analysis.study.study import Study

# Claim evaluators, in the order of the claims table.
EVALUATORS: tuple[Callable[[Study, ClaimPolicy], list[ClaimRow]], ...] = (
    dyn.minibs_band,
    dyn.batch_sharpness_at_threshold,
    dyn.fullbs_below_minibs,
    spr.minibs_flat_fullbs_varies,
    scl.fullbs_lower_small_b,
    scl.static_gap,
    scl.trained_gap,
    reg.trained_gap_regimes,
    reg.gap_collapse,
    scl.gap_plateau_small_b,
    scl.steeper_near_n,
    dyn.schedule_changes,
    noise.noise_variants,
    dyn.ntk_tracks_minibs,
    scl.random_matrix,
    symbolic,
)


def evaluate_claims(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> tuple[ClaimRow, ...]:
    """Every claim's rows (at least one per claim, "not measured" when no data).

    Args:
        study: The study.
        policy: The rules (default: TOST at margin 0.1, stationary runs only).
            When it asks for non-stationary runs and the study was built without
            them, the sweeps are rebuilt with them.

    Returns:
        The claim rows in table order.
    """
    study = study.with_nonstationary(policy.include_nonstationary)
    rows: list[ClaimRow] = []
    for evaluate in EVALUATORS:
        rows += evaluate(study, policy)
    return tuple(rows)
