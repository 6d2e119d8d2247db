"""The small-b plateau claim (Appendix C.2) judged by equivalence on designed sweeps."""

from synthetic_runs import write_train_run

from eoss.analysis.claims.policy import ClaimPolicy
from eoss.analysis.claims.scaling import gap_plateau_small_b
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse

MID = (16, 32, 64)


def _study(root, small, exponent_small, **extra):
    """Gap 0.3·(b/8)^-α_small below 10, then 0.3·(b/8)^-0.7 (continuous at b = 8)."""
    for i, b in enumerate((*small, *MID)):
        a = exponent_small if b <= 8 else 0.7
        write_train_run(root, f"b{b}", batch_size=b, gap=0.3 * (b / 8) ** -a, seed=i)
    for name, kw in extra.items():
        write_train_run(root, name, **kw)
    return analyse(discover_inputs([root]))


def test_flat_gap_below_10_is_equivalent_to_zero(tmp_path):
    (r,) = gap_plateau_small_b(_study(tmp_path, (1, 2, 4, 8), 0.0))
    assert r.verdict is Verdict.SUPPORTED, r.measured
    assert r.criterion.startswith("TOST |α − 0| ≤ 0.1: 90% CI ⊂ [-0.1, 0.1]")
    assert "TOST p = (" in r.measured and abs(r.estimate) < 0.05
    assert "b ∈ [1, 8] (b < 10)" in r.note and "local slopes" in r.note


def test_a_gap_still_falling_below_10_is_not_a_plateau(tmp_path):
    (r,) = gap_plateau_small_b(_study(tmp_path, (1, 2, 4, 8), 0.7))
    assert r.verdict is Verdict.NOT_SUPPORTED, r.measured
    assert r.ci[0] > 0.1  # 95 % interval of α entirely above the margin


def test_one_batch_size_below_10_is_inconclusive(tmp_path):
    (r,) = gap_plateau_small_b(_study(tmp_path, (8,), 0.0))
    assert r.verdict is Verdict.INCONCLUSIVE
    assert "needs ≥ 3 stationary runs at ≥ 2 batch sizes below 10" in r.note


def test_drifting_runs_are_left_out_and_counted(tmp_path):
    # a still-sharpening run at b = 2 with a 3x larger gap would break the plateau
    drift = {"batch_size": 2, "gap": 0.9, "drift": 0.5, "seed": 50}
    (r,) = gap_plateau_small_b(_study(tmp_path, (1, 2, 4, 8), 0.0, drift=drift))
    assert r.verdict is Verdict.SUPPORTED, r.measured
    assert "dropped 1 run(s) not at a stationary EoSS plateau (non_stationary: 1)" in (
        r.note
    )


def test_the_strict_policy_keeps_the_ordering_rule(tmp_path):
    study = _study(tmp_path, (1, 2, 4, 8), 0.0)
    (r,) = gap_plateau_small_b(study, ClaimPolicy(exponent_rule="point"))
    assert r.criterion.startswith("ordering rule: α(b ∈ [10, 100]) − α(b ∈ [1, 8])")
    assert r.verdict is Verdict.SUPPORTED  # 0.7 − 0 > 0
