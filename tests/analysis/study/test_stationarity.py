"""Stationarity: a run still drifting is excluded from scaling fits and reported."""

from synthetic_runs import write_train_run

from eoss.analysis.claims.evaluate import evaluate_claims
from eoss.analysis.claims.policy import ClaimPolicy
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


def _sweep(root, drifting_b=None):
    for i, b in enumerate((10, 20, 40, 80)):
        drift = 0.5 if b == drifting_b else 0.0  # +0.5 × 2/η over the run
        write_train_run(
            root,
            f"b{b}",
            batch_size=b,
            gap=0.3 * b**-0.7,
            seed=i,
            drift=drift,
            fullbs_level=None,
        )


def test_non_stationary_run_is_excluded_and_reported(tmp_path):
    _sweep(tmp_path, drifting_b=20)
    study = analyse(discover_inputs([tmp_path]))
    status = {r.run_id: d.first.status for r, d in study.detections}
    assert status == {
        "b10": "eoss",
        "b20": "non_stationary",
        "b40": "eoss",
        "b80": "eoss",
    }
    d20 = next(d.first for r, d in study.detections if r.run_id == "b20")
    assert d20.stationarity.stationary is False
    assert d20.stationarity.sharpness.drift > 0.05  # 0.5 × 20 % of the run ≈ 0.1
    (s,) = study.sweeps
    assert s.excluded == {"b20": "non_stationary"} and 20 not in s.batch_size
    rows = {r.key: r for r in evaluate_claims(study)}
    note = rows["trained_gap_b_minus_0_7"].note
    assert "dropped 1 run(s) not at a stationary EoSS plateau (non_stationary: 1)" in (
        note
    )
    assert "non_stationary: 1" in rows["minibs_band"].note


def test_policy_can_include_non_stationary_runs(tmp_path):
    _sweep(tmp_path, drifting_b=20)
    study = analyse(discover_inputs([tmp_path]))
    rows = evaluate_claims(study, ClaimPolicy(include_nonstationary=True))
    (r,) = [r for r in rows if r.key == "trained_gap_b_minus_0_7"]
    assert "4 points" in r.measured and "dropped" not in r.note


def test_unconverged_rows_are_dropped_and_counted(tmp_path):
    flags = [i % 10 != 0 for i in range(40)]  # every tenth measurement failed
    write_train_run(tmp_path, "r", converged=flags)
    study = analyse(discover_inputs([tmp_path]))
    ((_, det),) = study.detections
    assert det.first.n_unconverged == {"minibs": 4, "fullbs": 4}
    assert det.first.n_minibs == 36
    rows = {r.key: r for r in evaluate_claims(study)}
    assert "unconverged rows dropped: fullbs 4, minibs 4" in rows["minibs_band"].note


def test_equivalence_rule_keeps_a_noisy_flat_run_out_and_the_report_counts_it(
    tmp_path,
):
    """Noisy tail: flat on the point estimate, not shown flat by TOST."""
    from eoss.analysis.report.markdown import runs_md
    from eoss.analysis.study.plateau import Criteria

    for i, b in enumerate((10, 20, 40, 80)):
        noise, seed = (0.03, 4) if b == 40 else (0.01, i)  # b40: drifts ≈ 0.01 ± 0.03
        write_train_run(tmp_path, f"b{b}", batch_size=b, gap=0.3 * b**-0.7,
                        seed=seed, noise_sd=noise)  # fmt: skip
    inputs = discover_inputs([tmp_path])
    point = analyse(inputs)
    strict = analyse(inputs, criteria=Criteria(stationarity_rule="equivalence"))
    d_point = {r.run_id: d.first for r, d in point.detections}
    d_strict = {r.run_id: d.first for r, d in strict.detections}
    st = d_point["b40"].stationarity
    assert st.stationary is True and st.other is not True  # noisy: CI too wide
    assert d_point["b40"].status == "eoss"
    assert d_strict["b40"].status == "non_stationary"
    assert {k: v.status for k, v in d_strict.items() if k != "b40"} == dict.fromkeys(
        ("b10", "b20", "b80"), "eoss"
    )
    (s,) = strict.sweeps
    assert s.excluded == {"b40": "non_stationary"}
    text = runs_md(strict, [])
    assert "Rule: stationary: the 90% interval" in text
    assert "Stationary under it: 3 of 4 phases; under the point rule: 4 stationary" in (
        text
    )
