import json

import numpy as np
import pytest
from synthetic_runs import write_train_run

from eoss.analysis.records.reader import load_run
from eoss.analysis.stats.batch_means import block_level
from eoss.analysis.study.phases import phases
from eoss.analysis.study.plateau import Criteria, detect_eoss


def _ar1(rng, n, phi=0.5):
    e = rng.normal(0, 1, n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_block_level_exact_on_blocks():
    x = np.arange(16.0)  # 4 blocks of 4: means 1.5, 5.5, 9.5, 13.5
    lvl = block_level(x)
    assert lvl.n_blocks == 4 and lvl.n == 16
    assert lvl.mean == pytest.approx(7.5)
    assert lvl.se == pytest.approx(np.std([1.5, 5.5, 9.5, 13.5], ddof=1) / 2)
    assert block_level([np.nan]) is None
    assert np.isnan(block_level([1.0]).se)


def test_batch_means_interval_covers_under_autocorrelation():
    # AR(1) with phi = 0.5: the naive sd/sqrt(m) interval covers only ~75 %
    # (variance inflation (1+phi)/(1-phi) = 3); batch means should give ~0.95.
    n, m = 400, 400
    hits = naive = 0
    for seed in range(n):
        x = _ar1(np.random.default_rng(seed), m)
        lo, hi = block_level(x).ci
        hits += lo <= 0 <= hi
        naive += abs(x.mean()) <= 1.96 * x.std(ddof=1) / np.sqrt(m)
    assert abs(hits / n - 0.95) <= 4 * np.sqrt(0.95 * 0.05 / n)
    assert naive / n < 0.85


def test_run_reaching_eoss(tmp_path):
    lr, gap = 0.02, 0.2
    path = write_train_run(tmp_path, "eoss", lr=lr, level=1.05, gap=gap, ntk_ratio=0.97)
    det = detect_eoss(load_run(path)).first
    assert det.status == "eoss" and det.reached and not det.diverged
    # r(t) = 1.05 - 0.85 exp(-t/150) crosses 0.9 at t = 150 ln(0.85/0.15) = 260;
    # AR noise (sd 0.02, slope 1e-3/step) moves the first hit by a few measurements.
    assert 150 <= det.sharpening_end_step <= 350
    mb = det.normalised("minibs")
    assert abs(mb.mean - 1.05) < 4 * mb.se and mb.ci[0] < 1.05 < mb.ci[1]
    fb = det.normalised("fullbs")
    assert abs(fb.mean - 0.85) < 4 * fb.se
    g = det.normalised("gap")
    assert g.mean == pytest.approx(gap, abs=0.01)  # fullbs noise sd 0.005
    assert det.normalised("gap_cv").mean == pytest.approx(gap, abs=0.01)
    assert det.ntk_ratio.mean == pytest.approx(0.97, abs=0.005)
    assert det.in_band_fraction > 0.8 and det.n_violations == 0
    assert det.n_pairs == 40
    json.dumps(det.to_dict(), allow_nan=False)


def test_run_that_converges_before_eoss(tmp_path):
    path = write_train_run(tmp_path, "flat", level=0.6, converge=True)
    det = detect_eoss(load_run(path)).first
    assert det.status == "converged_before_eoss" and not det.reached
    assert det.minibs is None and det.window is None


def test_run_still_sharpening_is_not_reached(tmp_path):
    path = write_train_run(tmp_path, "slow", level=0.6)
    assert detect_eoss(load_run(path)).first.status == "not_reached"


def test_learning_rate_drop_reequilibrates(tmp_path):
    path = write_train_run(
        tmp_path, "sched", lr=0.02, steps=4000, schedule=[(2000, 0.01, 16)]
    )
    run = load_run(path)
    ph = phases(run)
    assert [(p.start, p.end, p.lr, p.change) for p in ph] == [
        (0, 2000, 0.02, "start"),
        (2000, 4000, 0.01, "lr_down"),
    ]
    det = detect_eoss(run)
    after = det.phases[1]
    assert after.status == "eoss" and after.phase.threshold == pytest.approx(200.0)
    lvl = after.normalised("minibs")
    assert abs(lvl.mean - 1.05) < 4 * lvl.se
    # MiniBS restarts below the new 2/eta: sharpening ends after the change.
    assert after.sharpening_end_step > 2000


def test_fullbs_above_minibs_counts_violations(tmp_path):
    path = write_train_run(tmp_path, "bad", level=1.0, fullbs_level=1.2)
    det = detect_eoss(load_run(path)).first
    assert det.n_violations > 0.5 * det.n_pairs


def test_insufficient_data_and_criteria_recorded(tmp_path):
    path = write_train_run(tmp_path, "short", steps=40, every=50)
    det = detect_eoss(load_run(path), Criteria(reach_tol=0.2)).first
    assert det.status == "insufficient_data"
    assert det.to_dict()["criteria"]["reach_tol"] == 0.2


def test_diverged_flag(tmp_path):
    path = write_train_run(tmp_path, "div", status="diverged")
    assert detect_eoss(load_run(path)).first.diverged


def test_fork_with_changed_lr_is_a_change_not_a_start(tmp_path):
    from eoss.analysis.records.run_dir import RunDir

    path = write_train_run(tmp_path, "fork", lr=0.01)
    run_dir = RunDir(path)
    run_dir.append("event", {"step": 0, "kind": "fork", "old": "/src", "new": 0})
    run_dir.append("event", {"step": 0, "kind": "lr", "old": 0.02, "new": 0.01})
    run_dir.close()
    ph = phases(load_run(path))
    assert len(ph) == 1 and ph[0].change == "lr_down"


def test_start_above_threshold_is_not_reaching_eoss(tmp_path):
    # MiniBS above 2/η at initialisation only, then below: not EoSS (catapult-like).
    path = write_train_run(tmp_path, "catapult", level=0.7, start=1.5, tau=10.0)
    det = detect_eoss(load_run(path)).first
    assert not det.reached and det.status == "not_reached"
