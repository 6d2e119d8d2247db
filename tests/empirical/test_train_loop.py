import numpy as np
import pytest
import torch

from analysis.overrides import apply_overrides
from empirical.config import TrainConfig
from empirical.data import BatchSampler
from empirical.presets import preset
from empirical.train import build_trainer, run

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
