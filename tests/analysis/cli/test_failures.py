"""What failures leave on disk: divergence, kill -9 of forks and of sweeps."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch

from eoss.analysis import records
from eoss.analysis.cli.main import main
from eoss.analysis.records.checkpoints import checkpoint_steps, diverged_steps
from eoss.analysis.records.lock import lock_holder

OFF = [
    "--set",
    "track.fullbs.every=0",
    "--set",
    "track.minibs.every=0",
    "--set",
    "track.step_sharpness.every=0",
]
BASE = ["--preset", "test", "--quiet", "--device", "cpu"]


def _wait(cond, proc, seconds=120.0):
    deadline = time.monotonic() + seconds
    while not cond():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_diverged_state_is_never_the_last_good_checkpoint(tmp_path, capsys):
    # Checkpoint at every step: divergence is first seen at a checkpoint step.
    argv = ["train", *BASE, *OFF, "--set", "lr=40", "--set", "steps=200"]
    argv += ["--set", "checkpoint.every=1", "--set", "checkpoint.keep_last=1"]
    assert main([*argv, "--out", str(tmp_path), "--name", "d"]) == 0
    run = tmp_path / "train" / "d"
    status = records.read_json(run / "status.json")
    assert status["status"] == "diverged"
    bad, good = diverged_steps(run), checkpoint_steps(run)
    assert bad and good and max(good) < min(bad)  # the good one survived rotation
    assert status["last_checkpoint"] == max(good)
    state = records.load_checkpoint(run / "checkpoints" / f"step_{max(good)}.pt")
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    capsys.readouterr()
    for cmd in (
        ["static-gap", f"{run}:{bad[0]}", "--batch-sizes", "2", "--out", str(tmp_path)],
        ["train", "--fork", f"{run}:{bad[0]}", "--set", "lr=1", "--out", str(tmp_path)],
        ["sharpness", "--checkpoint", f"{run}:{bad[0]}", "--batch-size", "2"],
    ):
        assert main(cmd) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "marked diverged" in err
        assert f"last good one is step {max(good)}" in err


def test_non_finite_parameters_before_a_measurement_end_as_diverged(tmp_path):
    # η = 1e30: the first update leaves inf/NaN weights while its batch loss was
    # finite; the FullBS due at step 1 must not be attempted on them.
    argv = ["train", *BASE, "--set", "lr=1e30", "--set", "steps=5"]
    argv += ["--set", "track.fullbs.every=1", "--set", "track.eval.every=0"]
    assert main([*argv, "--out", str(tmp_path), "--name", "nf"]) == 0
    status = records.read_json(tmp_path / "train" / "nf" / "status.json")
    assert status["status"] == "diverged", status


@pytest.mark.slow
def test_kill9_of_a_fork_before_its_first_checkpoint_keeps_its_origin(tmp_path):
    src_argv = ["train", *BASE, *OFF, "--set", "steps=20", "--out", str(tmp_path)]
    assert main([*src_argv, "--set", "checkpoint.every=10", "--name", "src"]) == 0
    src = tmp_path / "train" / "src"
    fork = tmp_path / "train" / "f"
    cmd = [sys.executable, "-m", "eoss", "train", "--fork", f"{src}:10", *OFF]
    cmd += ["--set", "lr=0.02", "--set", "steps=4000", "--set", "checkpoint.every=3990"]
    cmd += ["--set", "checkpoint.keep_last=1", "--out", str(tmp_path), "--name", "f"]
    cmd += ["--quiet", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)

    def started():
        return (fork / "metrics.jsonl").is_file() and b'"train"' in (
            fork / "metrics.jsonl"
        ).read_bytes()

    _wait(started, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint_steps(fork) == [10]  # the origin, durable before training
    assert main(["train", "--resume", str(fork), "--quiet", "--device", "cpu"]) == 0
    events = records.read_jsonl(fork / "metrics.jsonl", table="event")
    kinds = [(e["kind"], e["step"]) for e in events]
    assert kinds.count(("fork", 10)) == 1 and kinds.count(("lr", 10)) == 1
    lr = next(e for e in events if e["kind"] == "lr")
    assert (lr["old"], lr["new"]) == (0.05, 0.02)
    assert 10 in checkpoint_steps(fork)  # protected through keep_last=1 rotation
    assert records.read_json(fork / "status.json")["status"] == "finished"


@pytest.mark.slow
def test_kill9_of_a_sweep_stops_its_children(tmp_path):
    cmd = [sys.executable, "-m", "eoss", "sweep", *BASE, *OFF]
    cmd += ["--set", "steps=1000000", "--set", "checkpoint.every=10"]
    cmd += ["--grid", "lr=0.01", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    run = tmp_path / "train" / "lr=0.01"
    _wait(lambda: (run / "checkpoints" / "step_10.pt").exists(), proc)
    child = lock_holder(run)
    assert child is not None and child != proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while lock_holder(run) is not None:  # the child got SIGTERM and checkpointed
        assert time.monotonic() < deadline, "the sweep's child outlived it"
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while _running(child):  # gone, or a zombie nobody reaps (re-parented)
        assert time.monotonic() < deadline, "the sweep's child outlived it"
        time.sleep(0.05)
    status = records.read_json(run / "status.json")
    assert status["status"] == "interrupted"
    assert status["last_checkpoint"] in checkpoint_steps(run)
