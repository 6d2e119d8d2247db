"""SharpnessMonitor: a user's own loop, recorded as a run directory eoss reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import eoss
from eoss.analysis.records.io import read_json, read_jsonl
from eoss.analysis.records.reader import load_run
from eoss.analysis.report.build import build_report
from eoss.empirical.operators.batched import sample_batches
from eoss.empirical.rng import numpy_rng
from eoss.empirical.training.rows import COLUMNS


def _data(n=48, d=6, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen), torch.arange(n) % classes


def _mlp(d=6, classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 12), nn.Tanh(), nn.Linear(12, classes))


def _loop(mon, model, X, y, steps, lr=0.1, b=8):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        mon.step(step)
        idx = torch.randint(0, len(X), (b,), generator=gen)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        mon.after_step(step, loss.item())


def test_rows_follow_the_train_schema_and_eoss_report_reads_them(tmp_path):
    X, y = _data()
    model = _mlp()
    mon = eoss.SharpnessMonitor(
        model, "ce", (X, y), tmp_path, every=3, batch_size=8, lr=0.1, n_batches=3
    )
    _loop(mon, model, X, y, steps=6)
    mon.close()
    recs = read_jsonl(mon.path / "metrics.jsonl")
    for rec in recs:
        assert tuple(k for k in rec if k != "table") == COLUMNS[rec["table"]]
    steps = {t: [r["step"] for r in recs if r["table"] == t] for t in COLUMNS}
    assert steps["fullbs"] == steps["minibs"] == steps["eval"] == [0, 3, 6]
    assert steps["train"] == list(range(6))
    minibs = [r for r in recs if r["table"] == "minibs"]
    assert all(r["gap_cv"] is not None and r["batch_sharpness"] for r in minibs)
    status = read_json(mon.path / "status.json")
    assert status["status"] == "finished" and status["kind"] == "train"
    assert status["step"] == 6
    run = load_run(mon.path)
    assert run.lr == 0.1 and run.batch_size == 8
    assert run.column("fullbs", "fullbs").shape == (3,)
    res = build_report([tmp_path / "train"], tmp_path / "rep")  # `eoss report DIR`
    assert [r.path for r, _ in res.study.detections] == [mon.path]
    assert mon.path.name in res.markdown.read_text()


def test_measures_what_the_estimators_give_on_the_same_model(tmp_path):
    X, y = _data()
    model = _mlp()
    mon = eoss.SharpnessMonitor(
        model, "ce", (X, y), tmp_path, every=5, batch_size=8, lr=0.1, n_batches=3
    )
    rows = {r.table: r for r in mon.step(0)}
    mon.close()
    ref = eoss.full_sharpness(
        model, eoss.get_loss("ce"), (X, y), rng=numpy_rng(0, "track_fullbs")
    )
    assert rows["fullbs"].fullbs == ref.fullbs
    stream = numpy_rng(0, "track_minibs")  # the batches, then the solver's seed
    idx = sample_batches(len(X), 8, 3, stream)
    mb = eoss.minibatch_sharpness(
        model,
        eoss.get_loss("ce"),
        (X, y),
        batch_size=8,
        n_batches=3,
        rng=np.random.default_rng(int(stream.integers(2**63))),
        full_vector=ref.eigenvector,
        batch_indices=idx,
    )
    assert rows["minibs"].minibs == pytest.approx(mb.minibs, rel=1e-12)
    assert rows["minibs"].gap_cv == pytest.approx(mb.gap_cv, rel=1e-9, abs=1e-12)


def test_never_changes_the_users_model(tmp_path):
    X = torch.randn(16, 2, 5, 5)
    y = torch.arange(16) % 3
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(36, 3),
    )
    model.train()
    model[1].eval()  # a BN the user keeps in eval mode inside a training model
    model[0].bias.requires_grad_(False)  # a frozen parameter
    nn.functional.cross_entropy(model(X), y).backward()
    model[4].weight.grad = None  # a parameter without a gradient
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [
        (p.grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()
    ]
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    with eoss.SharpnessMonitor(
        model,
        "ce",
        (X, y),
        tmp_path,
        every=1,
        batch_size=4,
        lr=0.1,
        n_batches=2,
        bn_mode="train",
        step_sharpness=True,
        ntk=True,
    ) as mon:
        rows = mon.step(0, batch=(X[:4], y[:4]))
    assert {r.table for r in rows} == {
        "eval",
        "fullbs",
        "minibs",
        "step_sharpness",
        "ntk",
    }
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # params, buffers
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    for p, (ref, val) in zip(model.parameters(), grads, strict=True):
        assert p.grad is ref
        assert val is None or torch.equal(p.grad, val)


def test_after_step_alone_records_updates_and_changes(tmp_path):
    X, y = _data()
    model = _mlp()
    mon = eoss.SharpnessMonitor(
        model,
        "ce",
        (X, y),
        tmp_path,
        every=2,
        batch_size=8,
        lr=0.1,
        n_batches=2,
        fullbs=False,
        evaluate=False,
        name="user-run",
    )
    for step in range(4):
        mon.after_step(step, 1.0, lr=0.1 if step < 2 else 0.05)
    mon.close()
    assert mon.path == tmp_path / "train" / "user-run"
    recs = read_jsonl(mon.path / "metrics.jsonl")
    assert [r["step"] for r in recs if r["table"] == "minibs"] == [2, 4]
    assert [(r["kind"], r["old"], r["new"]) for r in recs if r["table"] == "event"] == [
        ("lr", 0.1, 0.05)
    ]
    assert [r["lr"] for r in recs if r["table"] == "train"] == [0.1, 0.1, 0.05, 0.05]
    assert read_json(mon.path / "status.json")["step"] == 4
    with pytest.raises(RuntimeError, match="closed"):
        mon.step(6)


def test_a_failing_loop_is_recorded_as_failed(tmp_path):
    X, y = _data()
    with (
        pytest.raises(ZeroDivisionError),
        eoss.SharpnessMonitor(
            _mlp(),
            "ce",
            (X, y),
            tmp_path,
            every=10,
            batch_size=4,
            minibs=False,
            fullbs=False,
        ) as mon,
    ):
        mon.step(0)
        1 / 0  # noqa: B018
    assert read_json(mon.path / "status.json")["status"] == "failed"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0}, "every"),
        ({"batch_size": 100}, "batch_size"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_bad_settings_fail_before_any_file(tmp_path, kwargs, match):
    X, y = _data()
    settings = {"every": 2, "batch_size": 4, "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        eoss.SharpnessMonitor(_mlp(), "ce", (X, y), tmp_path, **settings)
    assert not (tmp_path / "train").exists()
