"""The run-directory lock: a live holder refuses a writer; a dead one's is taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from eoss.analysis import records
from eoss.analysis.cli.main import main
from eoss.analysis.records.lock import RunLock, RunLockedError, lock_holder

HOLD = (
    "import sys, time; from eoss.analysis.records.lock import RunLock; "
    "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
)


def _holder(folder):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_live_holder_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
            RunLock(tmp_path).acquire()
        assert lock_holder(tmp_path) == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / ".lock").read_text().strip() == str(proc.pid)  # stale file
    with RunLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert (tmp_path / ".lock").read_text() == ""  # released: nothing stale left


def test_lock_is_reentrant_within_a_process(tmp_path):
    a, b = RunLock(tmp_path).acquire(), RunLock(tmp_path).acquire()
    b.release()
    proc = subprocess.run(
        [sys.executable, "-c", HOLD.replace("time.sleep(60)", "pass"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "in use by pid" in proc.stderr  # a still holds
    a.release()


def _run(tmp_path):
    argv = ["train", "--preset", "test", "--set", "steps=20", "--quiet"]
    argv += ["--set", "checkpoint.every=10", "--out", str(tmp_path), "--name", "r"]
    assert main([*argv, "--device", "cpu"]) == 0
    run = tmp_path / "train" / "r"
    records.RunDir(run).set_status("interrupted", step=20)
    return run


def test_second_resume_is_refused_while_the_first_holds_the_run(tmp_path, capsys):
    run = _run(tmp_path)
    capsys.readouterr()
    before = (run / "metrics.jsonl").read_bytes()
    proc = _holder(run)  # stands for a first `eoss train --resume` still training
    try:
        assert main(["train", "--resume", str(run), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"in use by pid {proc.pid}" in err
        assert (run / "metrics.jsonl").read_bytes() == before  # nothing rewritten
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    t0 = time.monotonic()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # stale: taken over
    assert time.monotonic() - t0 < 30
    assert records.read_json(run / "status.json")["status"] == "finished"


@pytest.mark.slow
def test_two_real_resumes_one_refused(tmp_path):
    base = [sys.executable, "-m", "eoss", "train", "--quiet", "--device", "cpu"]
    start = [*base, "--preset", "test", "--set", "steps=100000", "--out", str(tmp_path)]
    start += ["--set", "checkpoint.every=10", "--name", "r"]
    run = tmp_path / "train" / "r"
    first = subprocess.Popen(start, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (run / "checkpoints" / "step_10.pt").exists():
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)  # a run killed mid-training, then resumed twice
    first.wait()
    resume = [*base, "--resume", str(run)]
    one = subprocess.Popen(resume, stderr=subprocess.DEVNULL)
    try:
        while lock_holder(run) != one.pid:
            assert one.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        two = subprocess.run(resume, capture_output=True, text=True)
        assert two.returncode == 2 and f"in use by pid {one.pid}" in two.stderr
        assert one.poll() is None  # the first one keeps training
    finally:
        one.send_signal(signal.SIGKILL)
        one.wait()
    kinds = [r.get("kind") for r in records.read_jsonl(run / "metrics.jsonl")]
    assert kinds.count("resume") == 1  # the refused one wrote nothing
