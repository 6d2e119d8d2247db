"""Training until stationary: the shared rule, the monitor and the loop's stop."""

import numpy as np
import pytest

from eoss.analysis.cli.overrides import apply_overrides
from eoss.analysis.study.stationarity import stationarity
from eoss.empirical.training.config import StopConfig, TrainConfig
from eoss.empirical.training.loop import run
from eoss.empirical.training.presets import preset
from eoss.empirical.training.rows import FullBSRow, MiniBSRow
from eoss.empirical.training.stationarity import (
    StationarityMonitor,
    is_stationary,
    ols_drift,
    tail_start,
)


def cfg_of(*sets):
    return apply_overrides(TrainConfig, preset("test"), list(sets))


def test_ols_drift_is_slope_times_window_and_the_rule_uses_both_series():
    t = np.arange(100, 201, 10)
    assert ols_drift(t, 3 + 0.002 * t) == pytest.approx(0.2, abs=1e-12)
    assert ols_drift(t[:2], t[:2]) is None  # fewer than 3 points
    assert ols_drift([5, 5, 5], [1, 2, 3]) is None  # zero-length window
    assert ols_drift([1, 2, 3, 4], [1, np.nan, 3, 4]) == pytest.approx(3.0)
    assert is_stationary((0.01, -0.04)) is True
    assert is_stationary((0.01, 0.06)) is False
    assert is_stationary((None, 0.0)) is None
    assert tail_start(1000, 2000, 0.2) == 1800


def test_analysis_applies_the_same_rule():
    rng = np.random.default_rng(0)
    t = np.arange(800, 1001, 20)
    for slope in (0.0, 1e-4, 4e-4, -6e-4):
        y = 1.0 + slope * t + 0.005 * rng.standard_normal(len(t))
        ours = ols_drift(t, y)
        st = stationarity((800, 1000), ("batch_sharpness", t, y), (t, y), 0.05)
        assert st.sharpness.drift == pytest.approx(ours, abs=1e-10)
        assert st.stationary is is_stationary((ours, ours), 0.05)


def _feed(monitor, steps, values, lr):
    half = 2 / lr  # rows carry raw values; the monitor divides by 2/η
    for t, v in zip(steps, values, strict=True):
        monitor.observe(FullBSRow(int(t), v * half, 1e-4, True, 10, 0.1, True), lr)
        monitor.observe(
            MiniBSRow(
                int(t), 8, 4, 2 * v * half, 0.1, v * half, 0.1, None, None, 1e-4, 4,
                40, 0.1,
            ),
            lr,
        )  # fmt: skip


def test_monitor_stops_on_a_designed_trajectory():
    # Measured every 20 steps; sharpening at 1e-3 x 2/eta per step until step 2000,
    # then flat. Checks every 500 from step 1000; the tail of the check at s is
    # [0.8 (s + 1), s] (the phase is [0, s + 1)): the points 820..1000, 1220..1500,
    # 1620..2000 drift by 0.18, 0.28, 0.38 (> 0.05); 2020..2500 is flat: stop at 2500.
    cfg = cfg_of(
        "steps=10000",
        "stop.until_stationary=true",
        "stop.check_every=500",
        "stop.min_steps=1000",
    )
    mon = StationarityMonitor(cfg)
    assert mon.check_steps() == list(range(1000, 10000, 500))
    verdicts = {}
    for s in mon.check_steps()[:4]:
        t = np.arange(s - 500 + 20 if s > 1000 else 0, s + 1, 20)
        _feed(mon, t, np.minimum(t, 2000) * 1e-3, lr=0.05)
        verdicts[s] = mon.check(s)
    assert [verdicts[s].stationary for s in (1000, 1500, 2000)] == [False] * 3
    assert verdicts[2000].sharpness == pytest.approx(0.38)
    assert verdicts[2500].stationary is True and verdicts[2500].tail == (2001, 2500)
    assert verdicts[2500].n_points == (25, 25, 25)  # bs, FullBS, MiniBS
    assert verdicts[2500].minibs == pytest.approx(0, abs=1e-12)
    assert "stationary at step 2500" in verdicts[2500].text()


def test_minibs_still_climbing_keeps_a_run_going():
    # Batch sharpness and FullBS flat at 0.5 x 2/eta, MiniBS climbing by 0.1 x 2/eta
    # over steps 800-1000 (the paper-cpu b = 4 runs): not stationary, MiniBS named.
    cfg = cfg_of("steps=10000", "stop.until_stationary=true", "stop.min_steps=0")
    mon = StationarityMonitor(cfg)
    lr, half = 0.05, 2 / 0.05
    t = np.arange(0, 1001, 20)
    for ti in t:
        mon.observe(FullBSRow(int(ti), 0.5 * half, 1e-4, True, 10, 0.1, True), lr)
        mini = (1.0 + 0.1 * max(0.0, (ti - 800) / 200)) * half
        mon.observe(
            MiniBSRow(
                int(ti), 8, 4, mini, 0.1, 0.5 * half, 0.1, None, None, 1e-4, 4,
                40, 0.1,
            ),
            lr,
        )  # fmt: skip
    check = mon.check(1000)
    assert check.sharpness == pytest.approx(0, abs=1e-12)
    assert check.fullbs == pytest.approx(0, abs=1e-12)
    # The tail [0.8 * 1001, 1000] holds 820..1000: MiniBS/(2/eta) from 1.01 to 1.10.
    assert check.minibs == pytest.approx(0.09, rel=1e-9)
    assert check.stationary is False and "MiniBS +0.090" in check.text()


def test_monitor_needs_min_points_and_restarts_after_a_schedule_change():
    cfg = cfg_of(
        "steps=4000",
        "stop.until_stationary=true",
        "stop.min_points=8",
        "schedule.lr_at=1000",
        "schedule.lr_values=0.02",
    )
    mon = StationarityMonitor(cfg)
    t = np.arange(0, 1201, 10)
    _feed(mon, t, np.ones(len(t)), lr=0.05)
    check = mon.check(1200)  # phase [1000, 1201): tail from 1161, 4 flat points
    assert check.tail == (1161, 1200) and check.n_points == (4, 4, 4)
    assert check.sharpness == pytest.approx(0) and check.stationary is None
    state = mon.state_dict()
    again = StationarityMonitor(cfg)
    again.load_state_dict(state)
    assert again.check(1200) == check
    fork = StationarityMonitor(cfg_of("steps=5000", "stop.until_stationary=true"))
    fork.load_state_dict(state)  # another config: a fork starts its own series
    assert fork.sharp == [] and fork.full == [] and fork.mini == []


def collect(cfg, **kw):
    rows, ckpts = [], {}
    hist = run(
        cfg,
        on_record=lambda t, r: rows.append((t, dict(r))),
        on_checkpoint=lambda s, st: ckpts.__setitem__(s, st),
        **kw,
    )
    return hist, rows, ckpts


STOP = (
    "steps=300",
    "track.fullbs.every=10",
    "track.minibs.every=5",
    "track.step_sharpness.every=0",
    "stop.until_stationary=true",
    "stop.check_every=50",
    "stop.min_points=3",
)


def test_tiny_run_stops_when_stationary_and_records_why():
    cfg = cfg_of(*STOP, "stop.drift_tol=100", "checkpoint.every=20")
    hist, rows, ckpts = collect(cfg)
    # Checks at 50 and 100 (tails [41, 50], [81, 100]: 1 and 2 FullBS points) are
    # undetermined; at 150 the tail [121, 150] holds 3: stationary (τ = 100).
    assert hist.status == "finished" and hist.step == 150
    assert hist.reason.startswith("stationary at step 150")
    events = [r for t, r in rows if t == "event"]
    assert events[-1]["kind"] == "stop" and events[-1]["step"] == 150
    assert events[-1]["reason"] == hist.reason
    assert max(ckpts) == 150 and 50 not in ckpts  # the check at 50 kept nothing
    assert [r["step"] for t, r in rows if t == "fullbs"] == list(range(0, 151, 10))
    eval_steps = [r["step"] for t, r in rows if t == "eval"]
    assert 50 in eval_steps and 150 in eval_steps  # eval every 20, forced at checks
    h2, rows2, _ = collect(cfg, state=ckpts[60])  # resume: bit-identical
    later = [(t, r) for t, r in rows if r["step"] >= 60]

    def strip(rs):
        return [(t, {k: v for k, v in r.items() if k != "seconds"}) for t, r in rs]

    assert h2.reason == hist.reason and strip(rows2) == strip(later)


def test_tiny_run_at_the_cap_records_why():
    cfg = cfg_of(*STOP, "stop.drift_tol=1e-12")
    hist, rows, _ = collect(cfg)
    assert hist.status == "finished" and hist.step == 300
    # The reason carries the rule's verdict on the cap's own measurements.
    assert hist.reason.startswith("cap: steps=300 reached; not stationary at step 300")
    assert [r["kind"] for t, r in rows if t == "event"][-1] == "stop"


def test_a_run_stationary_only_at_the_cap_says_so():
    # τ = 100 (every drift passes), but checks every 1000 never fall before the cap.
    cfg = cfg_of(*STOP, "stop.drift_tol=100", "stop.check_every=1000")
    hist, _, _ = collect(cfg)
    assert hist.step == 300
    assert hist.reason.startswith("cap: steps=300 reached; stationary at step 300")


def test_stop_config_is_validated():
    with pytest.raises(ValueError, match="check_every"):
        StopConfig(check_every=0)
    with pytest.raises(ValueError, match="min_points"):
        StopConfig(min_points=2)
    with pytest.raises(ValueError, match="track.fullbs"):
        cfg_of("stop.until_stationary=true", "track.fullbs.every=0")


def test_analysis_of_the_records_agrees_with_the_stop(tmp_path, capsys):
    from eoss.analysis.cli.main import main
    from eoss.analysis.records.reader import load_run
    from eoss.analysis.study.phases import phases
    from eoss.analysis.study.plateau import Criteria, detect_phase

    sets = [*STOP, "stop.drift_tol=0.5"]
    argv = ["train", "--preset", "test", "--out", str(tmp_path), "--name", "r"]
    assert main([*argv, "--quiet", *[x for s in sets for x in ("--set", s)]]) == 0
    run = load_run(tmp_path / "train" / "r")
    assert run.status["reason"].startswith("stationary at step 150")
    (phase,) = phases(run)
    st = detect_phase(run, phase, Criteria(drift_tol=0.5)).stationarity
    assert st.tail == (121, 150) and st.stationary is True
    assert f"sharpness {st.sharpness.drift:+.3f}" in run.status["reason"]
    assert f"FullBS {st.fullbs.drift:+.3f}" in run.status["reason"]
