import numpy as np
import pytest

from eoss.analysis.cli.overrides import apply_overrides
from eoss.empirical.training.config import Cadence, ScheduleConfig, TrainConfig
from eoss.empirical.training.loop import run
from eoss.empirical.training.presets import preset
from eoss.empirical.training.schedules import CadenceSet, Schedule, cadence_steps


def test_piecewise_values_switch_exactly_at_the_given_step():
    sched = Schedule(0.1, 8, ScheduleConfig((10, 20), (0.05, 0.2), (15,), (32,)))
    assert [sched.lr_at(s) for s in (0, 9, 10, 19, 20, 99)] == [
        0.1,
        0.1,
        0.05,
        0.05,
        0.2,
        0.2,
    ]
    assert [sched.batch_size_at(s) for s in (14, 15, 16)] == [8, 32, 32]
    (change,) = sched.changes_at(10)
    assert (change.kind, change.old, change.new) == ("lr", 0.1, 0.05)
    assert sched.changes_at(11) == []
    assert [c.kind for c in sched.changes_at(15)] == ["batch_size"]


def test_schedule_validation():
    with pytest.raises(ValueError, match="equal lengths"):
        ScheduleConfig((10,), ())
    with pytest.raises(ValueError, match="strictly increasing"):
        ScheduleConfig((10, 10), (0.1, 0.2))
    with pytest.raises(ValueError, match="strictly increasing"):
        ScheduleConfig((0,), (0.1,))
    with pytest.raises(ValueError, match="> 0"):
        ScheduleConfig((), (), (5,), (0,))


def test_cadences_linear_log_and_off():
    assert cadence_steps(Cadence(), 100).size == 0
    np.testing.assert_array_equal(
        cadence_steps(Cadence(every=30), 100), [0, 30, 60, 90, 100]
    )
    log = cadence_steps(Cadence(log_points=5), 10_000)
    np.testing.assert_array_equal(log, [0, 1, 10, 100, 1000, 10_000])
    both = CadenceSet(Cadence(every=5000, log_points=3), 10_000)
    assert sorted(both.steps.tolist()) == [0, 1, 100, 5000, 10_000]
    assert 5000 in both and 4999 not in both and len(both) == 5
    with pytest.raises(ValueError, match=">= 0"):
        Cadence(every=-1)


def _cfg(*sets):
    base = preset("test")
    off = [f"track.{q}.every=0" for q in ("fullbs", "minibs", "step_sharpness")]
    return apply_overrides(TrainConfig, base, [*off, *sets])


def test_schedules_act_in_training_at_the_right_step():
    cfg = _cfg(
        "steps=30",
        "schedule.lr_at=10,20",
        "schedule.lr_values=0.02,0.04",
        "schedule.batch_size_at=15",
        "schedule.batch_size_values=16",
    )
    rows = []
    run(cfg, on_record=lambda t, r: rows.append((t, r)))
    train = [r for t, r in rows if t == "train"]
    assert [r["lr"] for r in train[9:11]] == [0.05, 0.02]
    assert [r["lr"] for r in train[19:21]] == [0.02, 0.04]
    assert [r["batch_size"] for r in train[14:16]] == [8, 16]
    events = [
        (r["step"], r["kind"], r["old"], r["new"]) for t, r in rows if t == "event"
    ]
    assert events == [
        (10, "lr", 0.05, 0.02),
        (15, "batch_size", 8, 16),
        (20, "lr", 0.02, 0.04),
    ]


def test_config_cross_checks():
    with pytest.raises(ValueError, match="lr must be > 0"):
        _cfg("lr=0")
    with pytest.raises(ValueError, match="exceeds the training set"):
        _cfg("batch_size=65")
    with pytest.raises(ValueError, match="noise.kind"):
        _cfg("optim.name=noisy_gd")
    with pytest.raises(ValueError, match="unknown config key"):
        _cfg("track.minibs.evry=3")
    with pytest.raises(ValueError, match="n_batches"):
        _cfg("track.n_batches=1")


def test_thinned_cadence_keeps_tail_points_and_thins_out():
    cad = Cadence(every=100, thin=8)
    for total in (5000, 20000, 100000):
        s = cadence_steps(cad, total)
        dense = cadence_steps(Cadence(every=100), total)
        assert set(s) <= set(dense) and s[0] == 0 and s[-1] == total
        for t in range(4500, total + 1, 100):  # from 5 (8 + 1) 100 on
            assert ((s >= 0.8 * t) & (s <= t)).sum() >= 8, t
        if total >= 100000:
            assert len(s) < len(dense) / 3
    # every 100 until 10 (8 + 1) 100 = 9000, then 200 until 18000, then 400
    s = cadence_steps(cad, 20000)
    assert np.all(np.diff(s[s <= 9000]) == 100)
    assert np.all(np.diff(s[(s >= 9000) & (s <= 18000)]) == 200)
    assert set(np.diff(s[s >= 18000]).tolist()) == {400}
    assert list(cadence_steps(Cadence(every=100), 1000)) == list(range(0, 1001, 100))
    with pytest.raises(ValueError, match="thin needs every"):
        Cadence(log_points=5, thin=8)
    extra = CadenceSet(Cadence(every=100), 1000, extra=(150,))
    assert 150 in extra and 250 not in extra
    assert 150 not in CadenceSet(Cadence(), 1000, extra=(150,))  # off stays off
