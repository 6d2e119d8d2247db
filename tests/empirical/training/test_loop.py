import numpy as np
import pytest
import torch

from eoss.analysis.cli.overrides import apply_overrides
from eoss.empirical.data.sampler import BatchSampler
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.loop import build_trainer, run
from eoss.empirical.training.presets import preset

NO_SPECTRAL = [f"track.{q}.every=0" for q in ("fullbs", "minibs", "step_sharpness")]


def cfg_of(*sets):
    return apply_overrides(TrainConfig, preset("test"), [*NO_SPECTRAL, *sets])


def collect(cfg, **kw):
    rows, ckpts = [], {}
    hist = run(
        cfg,
        on_record=lambda t, r: rows.append((t, dict(r))),
        on_checkpoint=lambda s, st: ckpts.__setitem__(s, st),
        **kw,
    )
    return hist, rows, ckpts


def strip_seconds(rows):
    return [(t, {k: v for k, v in r.items() if k != "seconds"}) for t, r in rows]


OPTIMS = [
    [],
    ["optim.name=momentum", "optim.momentum=0.9"],
    ["optim.name=gd"],
    ["optim.name=noisy_gd", "noise.kind=gaussian", "noise.batch_size=4"],
    ["optim.name=noisy_gd", "noise.kind=diagonal"],
    ["optim.sampling=iid"],
]


@pytest.mark.parametrize("sets", OPTIMS, ids=lambda s: "-".join(s) or "sgd")
def test_resume_from_any_checkpoint_is_bit_identical(sets):
    cfg = cfg_of("steps=40", *sets)
    hist, rows, ckpts = collect(cfg)
    assert hist.status == "finished" and sorted(ckpts) == [0, 20, 40]
    h2, rows2, _ = collect(cfg, state=ckpts[20])
    assert h2.start_step == 20 and h2.status == "finished"
    later = [(t, r) for t, r in rows if r["step"] >= 20]
    assert strip_seconds(rows2) == strip_seconds(later)
    final = build_trainer(cfg, state=ckpts[40]).model
    for p, q in zip(
        build_trainer(cfg, state=ckpts[20]).model.parameters(),
        final.parameters(),
        strict=True,
    ):
        assert not torch.equal(p, q)  # training moved the parameters


def test_stop_request_checkpoints_and_resume_matches_uninterrupted():
    cfg = cfg_of("steps=30", "checkpoint.every=100")
    _, rows, ckpts = collect(cfg)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 13  # after 13 boundaries: 13 updates taken

    h1, rows1, ck1 = collect(cfg, should_stop=stop)
    assert h1.status == "interrupted" and h1.step == 13 and sorted(ck1) == [0, 13]
    h2, rows2, ck2 = collect(cfg, state=ck1[13])
    assert strip_seconds(rows1 + rows2) == strip_seconds(rows)
    for k, v in ckpts[30]["model"].items():
        assert torch.equal(v, ck2[30]["model"][k])


def test_records_follow_the_schema():
    hist, rows, _ = collect(cfg_of())
    tables = {t for t, _ in rows}
    assert tables == {"train", "eval"}
    train = [r for t, r in rows if t == "train"]
    assert [r["step"] for r in train] == list(range(60))
    assert set(train[0]) == {"step", "lr", "batch_size", "loss"}
    evals = [r for t, r in rows if t == "eval"]
    assert [r["step"] for r in evals] == [0, 20, 40, 60]
    assert {"train_loss", "train_acc", "test_loss", "test_acc"} <= set(evals[0])
    assert evals[-1]["train_loss"] < evals[0]["train_loss"]
    assert hist.last["train_loss"] == evals[-1]["train_loss"]


def test_divergence_stops_with_last_good_checkpoint():
    cfg = cfg_of("lr=40", "steps=200", "checkpoint.every=5")
    hist, rows, ckpts = collect(cfg)
    assert hist.status == "diverged" and hist.step < 200
    event = [r for t, r in rows if t == "event"][-1]
    assert event["kind"] == "diverged" and "at step" in event["reason"]
    last = max(ckpts)
    assert last <= hist.step and hist.last_checkpoint == last
    assert all(torch.isfinite(v).all() for v in ckpts[last]["model"].values())


def test_full_batch_gd_uses_the_whole_set_and_sizes_are_checked():
    _, rows, _ = collect(cfg_of("optim.name=gd", "steps=3"))
    train = [r for t, r in rows if t == "train"]
    assert {r["batch_size"] for r in train} == {64}
    evals = {r["step"]: r["train_loss"] for t, r in rows if t == "eval"}
    assert abs(train[0]["loss"] - evals[0]) < 1e-6  # float32 sum of 64 losses
    with pytest.raises(ValueError, match="exceeds"):
        cfg_of("track.minibs_batch_size=100")


def test_epoch_sampler_partitions_each_epoch_and_restores_exactly():
    s = BatchSampler(10, mode="epoch", rng=np.random.default_rng(0))
    first = np.concatenate([s.next(3) for _ in range(3)])
    assert len(set(first.tolist())) == 9  # disjoint within the epoch, 1 dropped
    state = s.state_dict()
    a = [s.next(4).tolist() for _ in range(5)]
    s2 = BatchSampler(10, mode="epoch", rng=np.random.default_rng(99))
    s2.load_state_dict(state)
    assert [s2.next(4).tolist() for _ in range(5)] == a
    with pytest.raises(ValueError):
        s.next(11)


def test_float64_runs_and_device_argument():
    hist, rows, ckpts = collect(cfg_of("dtype=float64", "steps=4"), device="cpu")
    assert hist.status == "finished"
    assert ckpts[4]["model"]["1.weight"].dtype == torch.float64


def test_tracking_resume_is_bit_identical_and_cadences_are_independent():
    base = preset("test")
    cfg = apply_overrides(
        TrainConfig, base, ["track.ntk.every=30", "track.eval.log_points=4"]
    )
    hist, rows, ckpts = collect(cfg)
    by = {}
    for t, r in rows:
        by.setdefault(t, []).append(r["step"])
    assert by["fullbs"] == by["minibs"] == by["ntk"] == [0, 30, 60]
    assert by["step_sharpness"] == [0, 30]  # no update (no batch) at the last step
    assert by["eval"] == [0, 1, 4, 15, 20, 40, 60]  # every 20 plus 60**(k/3)
    fulls = [r for t, r in rows if t == "fullbs"]
    assert [r["warm_start"] for r in fulls] == [False, True, True]
    ntk = [r for t, r in rows if t == "ntk"][0]
    mini = [r for t, r in rows if t == "minibs"][0]
    assert ntk["ntk_lambda_max"] > 0 and mini["gap_cv"] is not None
    _, rows2, _ = collect(cfg, state=ckpts[40])
    later = [(t, r) for t, r in rows if r["step"] >= 40]
    assert strip_seconds(rows2) == strip_seconds(later)
    # Switching FullBS off changes no other stream: MiniBS values are identical,
    # only the control-variate gap (which needs the FullBS vector) disappears.
    off = apply_overrides(TrainConfig, base, ["track.fullbs.every=0"])
    _, rows3, _ = collect(off)
    m1 = [r["minibs"] for t, r in rows if t == "minibs"]
    m3 = [r for t, r in rows3 if t == "minibs"]
    assert [r["minibs"] for r in m3] == m1 and all(r["gap_cv"] is None for r in m3)


def test_runs_on_every_device(device):
    cfg = cfg_of("steps=6", "optim.name=noisy_gd", "noise.kind=gaussian")
    hist, rows, ckpts = collect(cfg, device=device)
    assert hist.status == "finished"
    assert all(t.device.type == "cpu" for t in ckpts[6]["model"].values())
    cpu_hist, cpu_rows, _ = collect(cfg, device="cpu")
    # Same seed, same CPU-drawn noise: the device changes only rounding
    # (float32 on both; 1e-4 relative covers reduction-order differences).
    for (_, a), (_, b) in zip(rows, cpu_rows, strict=True):
        if "loss" in a:
            assert abs(a["loss"] - b["loss"]) <= 1e-4 * abs(b["loss"])
