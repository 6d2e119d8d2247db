"""The two stationarity rules on designed tails: point and equivalence (TOST)."""

import numpy as np
import pytest
from scipy.stats import t as student_t

from eoss.analysis.study.stationarity import stationarity
from eoss.empirical.training.config import StopConfig
from eoss.empirical.training.stationarity import (
    Check,
    Drift,
    is_stationary,
    series_verdict,
    tail_drift,
)

STEPS = np.arange(16000, 20001, 250.0)  # 17 points across a 20k-step run's tail


def _series(slope_per_window, noise, seed):
    rng = np.random.default_rng(seed)
    x = (STEPS - STEPS[0]) / np.ptp(STEPS)
    return 1.0 + slope_per_window * x + noise * rng.standard_normal(len(STEPS))


def test_flat_quiet_tail_is_shown_flat_and_a_drifting_one_shown_drifting():
    flat = tail_drift(STEPS, _series(0.0, 0.002, 0))
    ramp = tail_drift(STEPS, _series(0.5, 0.002, 1))
    assert series_verdict(flat, rule="equivalence") is True
    assert series_verdict(ramp, rule="equivalence") is False
    assert is_stationary((flat, flat), rule="equivalence") is True
    assert is_stationary((flat, ramp), rule="equivalence") is False


def test_noisy_tail_inside_tau_on_the_point_estimate_is_undetermined():
    """Point drift within ±τ but a 90 % interval wider than the margin."""
    for seed in range(50):
        d = tail_drift(STEPS, _series(0.0, 0.08, seed))
        if abs(d.drift) <= 0.05:
            break
    q = student_t.ppf(0.95, d.n - 2)
    assert abs(d.drift) + q * d.se > 0.05  # the interval straddles the margin
    assert series_verdict(d, rule="point") is True
    assert series_verdict(d, rule="equivalence") is None
    flat = tail_drift(STEPS, _series(0.0, 0.002, 0))
    assert is_stationary((flat, d), rule="equivalence") is None
    assert is_stationary((flat, d), rule="point") is True


def test_equivalence_boundary_is_drift_plus_q_se_against_tau():
    q = student_t.ppf(0.95, 8)
    inside = Drift(0.02, (0.05 - 0.02) / q * 0.999, 10, 1.0)
    outside = Drift(0.02, (0.05 - 0.02) / q * 1.001, 10, 1.0)
    beyond = Drift(-0.2, (0.2 - 0.05) / q * 0.999, 10, 1.0)
    assert series_verdict(inside, rule="equivalence") is True
    assert series_verdict(outside, rule="equivalence") is None
    assert series_verdict(beyond, rule="equivalence") is False
    # no SE (a bare number, or 3 points): undetermined, never flat
    assert series_verdict(0.0, rule="equivalence") is None
    assert series_verdict(Drift(0.0, float("nan"), 3, 1.0), rule="equivalence") is None
    assert series_verdict(0.0, rule="point") is True


def test_unknown_rules_are_refused():
    with pytest.raises(ValueError, match="rule must be one of"):
        series_verdict(0.0, rule="tost")
    with pytest.raises(ValueError, match="stop.rule"):
        StopConfig(rule="tost")
    with pytest.raises(ValueError, match="rule must be one of"):
        stationarity((0, 1), ("minibs", STEPS, STEPS), (STEPS, STEPS), 0.05, rule="x")


def test_analysis_reports_both_rules_and_names_them():
    noisy = _series(0.0, 0.08, 3)
    flat = _series(0.0, 0.002, 4)
    args = ((16000, 20000), ("batch_sharpness", STEPS, flat), (STEPS, noisy), 0.05)
    point = stationarity(*args, minibs=(STEPS, flat))
    strict = stationarity(*args, minibs=(STEPS, flat), rule="equivalence")
    d = point.fullbs
    q = student_t.ppf(0.95, d.n - 2)
    expect_strict = True if abs(d.drift) + q * d.se <= 0.05 else None
    if abs(d.drift) - q * d.se > 0.05:
        expect_strict = False
    assert strict.stationary is expect_strict and point.other is expect_strict
    assert strict.other is point.stationary
    assert "|drift| ≤ 0.05" in point.rule and "90% interval" in strict.rule
    assert "(equivalence rule:" in point.text() and "(point rule:" in strict.text()
    assert point.to_dict()["rule"] == "point"
    assert strict.to_dict()["other"] is point.stationary


def test_check_text_gives_each_drift_with_its_se_and_the_rule():
    c = Check(5000, (4001, 5000), 0.012, -0.03, (8, 8, 8), True, 0.004,
              (0.004, 0.01, float("nan")), "equivalence")  # fmt: skip
    text = c.text()
    assert text.startswith("stationary at step 5000 (equivalence rule;")
    assert "sharpness +0.012 ± 0.004" in text and "FullBS -0.030 ± 0.01" in text
    assert "MiniBS +0.004 x" in text  # NaN SE: no ± shown


def test_monitor_applies_the_configured_rule():
    """A noisy flat tail stops a point-rule run but not an equivalence-rule one."""
    from eoss.analysis.cli.overrides import apply_overrides
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.presets import preset
    from eoss.empirical.training.rows import FullBSRow, MiniBSRow
    from eoss.empirical.training.stationarity import StationarityMonitor

    lr, half = 0.05, 2 / 0.05
    t = np.arange(0, 1001, 20)
    rng = np.random.default_rng(7)
    noise = 0.03 * rng.standard_normal((3, len(t)))
    verdicts = {}
    for rule in ("point", "equivalence"):
        sets = ["steps=10000", "stop.until_stationary=true", f"stop.rule={rule}"]
        mon = StationarityMonitor(apply_overrides(TrainConfig, preset("test"), sets))
        for i, ti in enumerate(t):
            v = 0.5 + noise[:, i]
            mon.observe(FullBSRow(int(ti), v[0] * half, 1e-4, True, 10, 0.1, True), lr)
            mon.observe(
                MiniBSRow(int(ti), 8, 4, (1 + v[1]) * half, 0.1, v[2] * half, 0.1,
                          None, None, 1e-4, 4, 40, 0.1),
                lr,
            )  # fmt: skip
        verdicts[rule] = mon.check(1000)
    p, e = verdicts["point"], verdicts["equivalence"]
    assert max(abs(p.sharpness), abs(p.fullbs), abs(p.minibs)) <= 0.05
    assert p.stationary is True and e.stationary is not True
    assert e.ses == p.ses and all(se > 0 for se in e.ses)
    assert "(equivalence rule;" in e.text()


def test_analysis_text_says_when_a_tail_is_too_short_for_an_se():
    # 3 tail points: D is defined, its Newey-West SE is not (>= 4 points needed);
    # the row must say so instead of printing "± nan"; the equivalence rule
    # cannot decide, whatever D is
    steps = np.array([1000.0, 1100.0, 1200.0])
    vals = np.array([1.0, 1.01, 1.0])
    res = stationarity(
        (961, 1200), ("minibs", steps, vals), (steps, vals), 0.05, rule="equivalence"
    )
    assert res.fullbs.n == 3 and np.isnan(res.fullbs.se)
    assert "nan" not in res.text()
    assert "FullBS +0.000 (SE n/a: 3 points)" in res.text()
    assert res.stationary is None and res.other is True  # point rule: |D| ≤ τ
    s4, v4 = np.append(steps, 1300.0), np.append(vals, 1.0)
    four = stationarity((961, 1300), ("minibs", s4, v4), (s4, v4), 0.05)
    assert "±" in four.text() and "n/a" not in four.text()
