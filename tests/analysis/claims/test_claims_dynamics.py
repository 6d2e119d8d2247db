"""Dynamics claims on designed fixture runs: noise variants and η changes.

MiniBS at EoSS sits anywhere in its band [2/η, 4/η] (measured on CIFAR-10: about
1.5-1.8 × 2/η), so the rules must not demand MiniBS = 2/η exactly.
"""

from synthetic_runs import write_train_run

from eoss.analysis.claims.evaluate import evaluate_claims
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


def _verdicts(paths):
    study = analyse(discover_inputs(paths))
    return {c.key: c.verdict for c in evaluate_claims(study)}


def _controls(root, gd=True, sgd=True):
    """GD (b = n, MiniBS recorded at b = 32) at EoS; plain SGD at b = 16 at EoSS."""
    if gd:
        write_train_run(
            root,
            "gd",
            optimizer="gd",
            batch_size=1024,
            minibs_batch_size=32,
            level=1.05,
            fullbs_level=1.0,
            seed=7,
        )
    if sgd:
        write_train_run(root, "sgd", level=1.6, fullbs_level=0.5, seed=8)


def _row(paths, key):
    study = analyse(discover_inputs(paths))
    return next(c for c in evaluate_claims(study) if c.key == key)


def test_only_full_covariance_noise_is_eoss(tmp_path):
    # full covariance: MiniBS 1.6 x 2/eta with FullBS 0.5 x 2/eta (EoSS);
    # diagonal / isotropic: FullBS at 2/eta (EoS, like plain GD)
    write_train_run(
        tmp_path, "full", noise_kind="gaussian", level=1.6, fullbs_level=0.5
    )
    for kind in ("diagonal", "isotropic"):
        write_train_run(
            tmp_path, kind, noise_kind=kind, level=1.05, fullbs_level=1.0, seed=3
        )
    _controls(tmp_path)
    r = _row([tmp_path], "noise_full_covariance_only")
    assert r.verdict == "supported", r.note
    assert "gd: EoS" in r.measured and "sgd: EoSS" in r.measured
    assert "MiniBS measured at b = 32 (phase b = 1024)" in r.note


def test_gd_control_uses_minibs_rows_measured_at_another_b(tmp_path):
    _controls(tmp_path, sgd=False)
    study = analyse(discover_inputs([tmp_path]))
    ((_, det),) = study.detections
    ph = det.first
    assert ph.phase.batch_size == 1024 and ph.minibs_batch_size == 32
    assert ph.status == "eoss" and ph.n_minibs == 40


def test_noise_claim_without_a_control_is_inconclusive(tmp_path):
    write_train_run(
        tmp_path, "full", noise_kind="gaussian", level=1.6, fullbs_level=0.5
    )
    for kind in ("diagonal", "isotropic"):
        write_train_run(
            tmp_path, kind, noise_kind=kind, level=1.05, fullbs_level=1.0, seed=3
        )
    _controls(tmp_path, sgd=False)
    r = _row([tmp_path], "noise_full_covariance_only")
    assert r.verdict == "inconclusive"
    assert "no SGD control run" in r.note and "would read 'supported'" in r.note


def test_noise_claim_with_a_misclassified_control_is_inconclusive(tmp_path):
    write_train_run(
        tmp_path, "full", noise_kind="gaussian", level=1.6, fullbs_level=0.5
    )
    _controls(tmp_path, sgd=False)
    # a "plain SGD" control whose FullBS sits at 2/eta: the rule calls it EoS
    write_train_run(tmp_path, "sgd", level=1.05, fullbs_level=1.0, seed=8)
    r = _row([tmp_path], "noise_full_covariance_only")
    assert r.verdict == "inconclusive" and "SGD control classified EoS" in r.note


def test_diagonal_noise_at_eoss_refutes_the_claim(tmp_path):
    _controls(tmp_path)
    write_train_run(
        tmp_path, "full", noise_kind="gaussian", level=1.6, fullbs_level=0.5
    )
    write_train_run(
        tmp_path, "diag", noise_kind="diagonal", level=1.5, fullbs_level=0.4, seed=3
    )
    write_train_run(
        tmp_path, "iso", noise_kind="isotropic", level=1.05, fullbs_level=1.0, seed=4
    )
    assert _verdicts([tmp_path])["noise_full_covariance_only"] == "not supported"


def test_eta_decrease_followed_inside_the_band(tmp_path):
    # plateau at 1.6 x 2/eta before and after halving eta: MiniBS doubled with 2/eta
    write_train_run(
        tmp_path, "down", level=1.6, steps=4000, schedule=[(2000, 0.01, 16)]
    )
    assert _verdicts([tmp_path])["lr_down"] == "supported"


def test_ntk_claim_pools_runs_and_refutes_a_clear_deviation(tmp_path):
    # three runs whose NTK/MiniBS ratio is 0.98: the pooled interval decides
    for i in range(3):
        write_train_run(tmp_path / "ok", f"r{i}", ntk_ratio=0.98, seed=20 + i)
    assert _verdicts([tmp_path / "ok"])["ntk_tracks_minibs"] == "supported"
    # one run at 0.6 lies outside [0.9, 1.1] however the others look
    write_train_run(tmp_path / "bad", "off", ntk_ratio=0.6, seed=30)
    write_train_run(tmp_path / "bad", "on", ntk_ratio=0.98, seed=31)
    assert _verdicts([tmp_path / "bad"])["ntk_tracks_minibs"] == "not supported"


def test_a_run_that_diverges_after_raising_eta_refutes_re_equilibration(tmp_path):
    """Divergence after the change is measured, not missing data."""
    write_train_run(
        tmp_path, "up", level=1.6, steps=4000, schedule=[(2000, 0.04, 16)],
        status="diverged",
    )  # fmt: skip
    study = analyse(discover_inputs([tmp_path]))
    (row,) = [c for c in evaluate_claims(study) if c.key == "lr_up"]
    assert row.verdict == "not supported"
    assert "up: diverged after the change (to η = 0.04, b = 16)" in (
        row.note
    )
