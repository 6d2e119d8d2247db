import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eoss.analysis import records
from eoss.analysis.cli.main import main
from eoss.analysis.cli.overrides import apply_overrides, from_dict, to_dict
from eoss.analysis.cli.progress import ProgressBar
from eoss.analysis.cli.runs import load_model, parse_run_spec
from eoss.analysis.records.checkpoints import CheckpointKeeper, checkpoint_steps
from eoss.empirical.training.config import TrainConfig

OFF = [
    "--set",
    "track.fullbs.every=0",
    "--set",
    "track.minibs.every=0",
    "--set",
    "track.step_sharpness.every=0",
]

# Keys every table must carry (docs/records.md is the contract).
SCHEMA = {
    "train": {"step", "lr", "batch_size", "loss"},
    "eval": {"step", "train_loss", "train_acc", "test_loss", "test_acc"},
    "step_sharpness": {"step", "lambda_max", "residual", "n_matvecs", "seconds"},
    "minibs": {
        "step",
        "batch_size",
        "n_batches",
        "minibs",
        "minibs_se",
        "batch_sharpness",
        "batch_sharpness_se",
        "gap_cv",
        "gap_cv_se",
        "residual_max",
        "n_matvecs",
        "seconds",
    },
    "fullbs": {"step", "fullbs", "residual", "converged", "n_matvecs", "seconds"},
    "event": {"step", "kind", "old", "new"},
}


def train(tmp_path, *extra, name="a"):
    code = main(
        [
            "train",
            "--preset",
            "test",
            "--out",
            str(tmp_path),
            "--name",
            name,
            "--quiet",
            "--device",
            "cpu",
            *extra,
        ]
    )
    return code, tmp_path / "train" / name


def test_train_writes_the_run_directory_schema(tmp_path, capsys):
    code, run = train(tmp_path)
    assert code == 0 and capsys.readouterr().out.strip() == str(run)
    cfg = from_dict(TrainConfig, records.read_json(run / "config.json"))
    assert cfg.steps == 60 and cfg.data.name == "synthetic"
    env = records.read_json(run / "env.json")
    assert {"versions", "git_revision", "seeds", "device", "data", "argv"} <= set(env)
    assert env["device"] == "cpu" and env["data"]["source"] == "synthetic"
    status = records.read_json(run / "status.json")
    assert status["status"] == "finished" and status["step"] == 60
    rows = records.read_jsonl(run / "metrics.jsonl")
    tables = {r["table"] for r in rows}
    assert {"train", "eval", "fullbs", "minibs", "step_sharpness"} <= tables
    for r in rows:
        assert SCHEMA[r["table"]] <= set(r), r["table"]
    minibs = [r for r in rows if r["table"] == "minibs"]
    # gap_cv is present exactly where FullBS was measured at the same step.
    assert all(r["gap_cv"] is not None for r in minibs)
    assert checkpoint_steps(run) == [40, 60]  # keep_last = 2


def test_resume_after_interrupt_equals_uninterrupted(tmp_path, monkeypatch):
    _, ref = train(tmp_path, *OFF, name="ref")
    import eoss.analysis.cli.runs as runs_mod

    class StopAt:  # stands in for SIGINT after 33 boundaries
        def __init__(self):
            self.n = 0

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return None

        def __call__(self):
            self.n += 1
            return self.n > 33

    monkeypatch.setattr(runs_mod, "StopRequest", StopAt)
    code, run = train(tmp_path, *OFF, name="cut")
    assert (
        code == 130
        and records.read_json(run / "status.json")["status"] == "interrupted"
    )
    assert 33 in checkpoint_steps(run)
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet", "--device", "cpu"]) == 0
    assert records.read_json(run / "status.json")["status"] == "finished"

    def comparable(path):
        return [
            {k: v for k, v in r.items() if k != "seconds"}
            for r in records.read_jsonl(path / "metrics.jsonl")
            if r.get("kind") != "resume"
        ]

    assert comparable(run) == comparable(ref)
    a = records.load_checkpoint(run / "checkpoints" / "step_60.pt")["model"]
    b = records.load_checkpoint(ref / "checkpoints" / "step_60.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # finished: no-op


@pytest.mark.slow
def test_sigkill_leaves_valid_jsonl_and_resumes(tmp_path):
    run = tmp_path / "train" / "k"
    cmd = [
        sys.executable,
        "-m",
        "eoss",
        "train",
        "--preset",
        "test",
        *OFF,
        "--set",
        "steps=1500",
        "--set",
        "checkpoint.every=25",
        "--set",
        "track.eval.every=5",
        "--out",
        str(tmp_path),
        "--name",
        "k",
        "--quiet",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not (run / "checkpoints" / "step_50.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert records.read_json(run / "status.json")["status"] == "running"
    lines = (run / "metrics.jsonl").read_text().split("\n")
    complete = [ln for ln in lines[:-1]]  # the text after the last newline may be torn
    assert all(json.loads(ln)["table"] for ln in complete if ln)
    last = max(checkpoint_steps(run))
    assert main(["train", "--resume", str(run), "--quiet", "--device", "cpu"]) == 0
    rows = records.read_jsonl(run / "metrics.jsonl")
    steps = [r["step"] for r in rows if r["table"] == "train"]
    assert steps == list(range(1500))  # each step exactly once, in order
    evals = [r["step"] for r in rows if r["table"] == "eval"]
    assert evals == list(range(0, 1501, 5))
    resume = [r for r in rows if r.get("kind") == "resume"]
    assert len(resume) == 1 and resume[0]["new"] == last


def test_fork_changes_lr_from_a_checkpoint(tmp_path):
    _, src = train(tmp_path, *OFF, "--set", "checkpoint.keep_every=20", name="src")
    code = main(
        [
            "train",
            "--fork",
            f"{src}:20",
            "--set",
            "lr=0.1",
            "--out",
            str(tmp_path),
            "--name",
            "fork",
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    fork = tmp_path / "train" / "fork"
    assert code == 0
    rows = records.read_jsonl(fork / "metrics.jsonl")
    events = [(r["kind"], r["old"], r["new"]) for r in rows if r["table"] == "event"]
    assert events[:2] == [("fork", str(src.resolve()), 20), ("lr", 0.05, 0.1)]
    train_rows = [r for r in rows if r["table"] == "train"]
    assert train_rows[0]["step"] == 20 and {r["lr"] for r in train_rows} == {0.1}
    assert records.read_json(fork / "env.json")["fork"]["step"] == 20
    assert 20 in checkpoint_steps(fork)  # the fork's starting point is kept
    src_rows = [
        r
        for r in records.read_jsonl(src / "metrics.jsonl")
        if r["table"] == "eval" and r["step"] == 20
    ]
    fork_eval = [r for r in rows if r["table"] == "eval" and r["step"] == 20]
    assert fork_eval[0]["train_loss"] == src_rows[0]["train_loss"]
    model, cfg, step, data = load_model(str(fork))
    assert step == 60 and cfg.lr == 0.1 and len(data) == 64
    assert (
        main(
            [
                "train",
                "--fork",
                str(src),
                "--set",
                "model.width=8",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )


def test_fork_from_a_config_file(tmp_path, capsys):
    # eoss reproduce hands a fork its full composed config instead of --set
    _, src = train(tmp_path, *OFF, "--set", "steps=20", name="src")
    target = to_dict(
        apply_overrides(
            TrainConfig, records.read_json(src / "config.json"), ["lr=0.1", "steps=30"]
        )
    )
    records.write_json(tmp_path / "fork.json", target)
    argv = ["train", "--fork", str(src), "--config", str(tmp_path / "fork.json")]
    argv += ["--out", str(tmp_path), "--quiet", "--device", "cpu"]
    assert main([*argv, "--name", "fork"]) == 0
    fork = tmp_path / "train" / "fork"
    assert records.read_json(fork / "config.json") == target
    assert records.read_json(fork / "env.json")["fork"]["config"] == str(
        (tmp_path / "fork.json").resolve()
    )
    rows = records.read_jsonl(fork / "metrics.jsonl")
    events = [(r["kind"], r["old"], r["new"]) for r in rows if r["table"] == "event"]
    assert events[1] == ("lr", 0.05, 0.1)
    # the file must fit the source's checkpoint, and --fork takes no --preset
    records.write_json(tmp_path / "bad.json", {**target, "seed": 7})
    bad = ["train", "--fork", str(src), "--config", str(tmp_path / "bad.json")]
    assert main([*bad, "--out", str(tmp_path)]) == 2
    assert main(["train", "--fork", str(src), "--preset", "test"]) == 2
    err = capsys.readouterr().err
    assert "cannot change seed" in err and "--fork takes no --preset" in err


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["lr=-1"], "lr must be > 0"),
        (["batch_size=100"], "exceeds"),
        (["model.name=vit"], "unknown model"),
        (["loss=hinge"], "unknown loss"),
        (["bogus=1"], "unknown config key"),
    ],
)
def test_bad_values_are_one_line_exit_2(tmp_path, capsys, sets, needle):
    args = [x for s in sets for x in ("--set", s)]
    code, _ = train(tmp_path, *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and needle in err


def test_unreadable_data_and_devices_exit_2(tmp_path, capsys):
    bad = tmp_path / "junk.npz"
    bad.write_text("nope")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path)]) == 2
    assert main(["train", "--preset", "test", "--device", "nonsense"]) == 2
    if not torch.cuda.is_available():
        assert main(["train", "--preset", "test", "--device", "cuda"]) == 2
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    errs = capsys.readouterr().err.strip().split("\n")
    assert len(errs) == 4 - torch.cuda.is_available() and "cannot read" in errs[0]


def test_npz_data_trains(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((32, 5)), y=np.arange(32) % 3)
    code, run = train(
        tmp_path, *OFF, "--data", str(tmp_path / "d.npz"), "--set", "steps=5"
    )
    assert code == 0 and records.read_json(run / "env.json")["data"]["source"] == "npz"


def test_checkpoint_rotation_keeps_last_and_periodic(tmp_path):
    keeper = CheckpointKeeper(tmp_path, keep_last=2, keep_every=30, protect=(5,))
    for s in (0, 5, 10, 20, 30, 40, 50):
        keeper.save(s, {"step": s})
    assert checkpoint_steps(tmp_path) == [0, 5, 30, 40, 50]
    assert parse_run_spec(f"{tmp_path}:30") == (tmp_path, 30)
    assert parse_run_spec(str(tmp_path)) == (tmp_path, None)
    with pytest.raises(ValueError):
        parse_run_spec(f"{tmp_path}:x")


def test_progress_bar_shows_eta_loss_and_eoss_ratio():
    import io

    stream = io.StringIO()
    bar = ProgressBar(100, 0, quiet=False, stream=stream)
    bar(50, 100, {"loss": 0.25, "lr": 0.02, "minibs": 90.0})
    text = stream.getvalue()
    assert "50/100" in text and "ETA" in text and "loss 0.25" in text
    assert "MiniBS·η/2 0.900" in text
    quiet = io.StringIO()
    ProgressBar(10, 0, quiet=True, stream=quiet)(5, 10, {})
    assert quiet.getvalue() == ""


def test_module_entry_point_runs_train_help():
    out = subprocess.run(
        [sys.executable, "-m", "eoss", "train", "--help"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "--resume" in out.stdout and "--fork" in out.stdout
    assert Path(__file__).exists()


def test_divergence_is_recorded_with_last_good_checkpoint(tmp_path, capsys):
    code, run = train(
        tmp_path,
        *OFF,
        "--set",
        "lr=40",
        "--set",
        "steps=200",
        "--set",
        "checkpoint.every=5",
        name="div",
    )
    status = records.read_json(run / "status.json")
    assert code == 0 and status["status"] == "diverged" and status["step"] < 200
    good = status["last_checkpoint"]
    assert good == max(checkpoint_steps(run)) and good <= status["step"]
    state = records.load_checkpoint(run / "checkpoints" / f"step_{good}.pt")
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert "diverged" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # nothing to do
