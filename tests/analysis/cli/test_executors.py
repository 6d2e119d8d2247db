"""Executors of ``eoss sweep``: submitit-local, GPU slots, status, print-commands."""

from __future__ import annotations

import contextlib
import shlex
import threading
import time

import pytest

from eoss.analysis import records
from eoss.analysis.cli import executors
from eoss.analysis.cli import sweep as sweep_cmd
from eoss.analysis.cli.main import main

OFF = [
    "--set", "track.fullbs.every=0", "--set", "track.minibs.every=0",
    "--set", "track.step_sharpness.every=0", "--set", "steps=8",
]  # fmt: skip


def _argv(out, *extra):
    grid = ["--grid", "batch_size=4,8", "--grid", "lr=0.05"]
    return ["sweep", "--preset", "test", *OFF, *grid, "--out", str(out), "--quiet",
            "--device", "cpu", *extra]  # fmt: skip


# In the default suite (the sweep's done-when): ~8 s on 2 idle cores, ~13 s loaded
# (four processes start eoss and torch); skipped without the `slurm` extra.
def test_two_run_sweep_through_submitit_local(tmp_path, capsys):
    pytest.importorskip("submitit")
    assert main(_argv(tmp_path, "--executor", "submitit-local")) == 0
    index = records.read_json(tmp_path / "sweep.json")["points"]
    assert [p["status"] for p in index] == ["finished", "finished"]
    for p in index:
        assert p["exit_code"] == 0 and p["job_id"]
        logs = sorted((tmp_path / "train" / p["name"] / "logs").iterdir())
        assert [f.name for f in logs] == ["attempt-1.log"]  # moved into the run
        assert "--config" in logs[0].read_text().splitlines()[0]
    assert (tmp_path / "submitit").is_dir()
    capsys.readouterr()
    assert main(["sweep", "--status", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "2 finished" in table and "8/8" in table


def test_requeued_task_resumes_its_run(tmp_path):
    """What submitit requeues after a checkpoint resumes the run folder."""
    task = executors.TrainTask(["eoss", "train"], "p.json", str(tmp_path), "a")
    assert "--config" in task.command()
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "train" / "a" / "config.json").write_text("{}")
    pytest.importorskip("submitit")
    again = task.checkpoint().function
    assert again == task and again._proc is None
    assert again.command()[-2:] == ["--resume", str(tmp_path / "train" / "a")]


@pytest.mark.slow  # 8-13 s on 2 loaded cores
def test_preemption_checkpoints_and_requeues_a_resume(tmp_path):
    """SIGTERM through ``checkpoint`` (submitit's hook): interrupted, then resume."""
    submitit = pytest.importorskip("submitit")
    cfg = records.read_json(_points(tmp_path))
    cfg["steps"] = 10**6
    records.write_json(tmp_path / "long.json", cfg)
    prefix = executors.task_prefix("cpu", None)
    task = executors.TrainTask(prefix, str(tmp_path / "long.json"), str(tmp_path), "p")
    result = {}
    worker = threading.Thread(target=lambda: result.update(code=task.run()[0]))
    worker.start()
    metrics = tmp_path / "train" / "p" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.is_file() and metrics.stat().st_size) and worker.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    again = task.checkpoint()
    worker.join(30)
    assert isinstance(again, submitit.helpers.DelayedSubmission)
    assert result["code"] == 130
    assert records.read_json(tmp_path / "train" / "p" / "status.json")["status"] == (
        "interrupted"
    )
    assert "--resume" in again.function.command()
    assert (tmp_path / "train" / "p" / "logs" / "attempt-1.log").is_file()


def _points(out) -> str:
    assert main(_argv(out, "--print-commands")) == 0
    return str(sorted((out / "points").iterdir())[0])


def test_print_commands_runs_nothing(tmp_path, capsys):
    assert main(_argv(tmp_path, "--print-commands")) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and not (tmp_path / "train").exists()
    cmd = shlex.split(lines[0])
    assert cmd[1:4] == ["-m", "eoss", "train"]
    assert records.read_json(cmd[cmd.index("--config") + 1])["batch_size"] == 4


def test_local_runs_spread_over_faked_gpus(tmp_path, monkeypatch):
    """Two faked GPUs, two runs per GPU: each child sees one GPU, <= 2 share it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    gpus = executors.visible_gpus("cuda")
    assert gpus == ["0", "1"] and executors.visible_gpus("cuda:1") == []
    slots, jobs = executors.local_slots("cuda", None, 2)
    assert (slots.size, jobs) == (4, 4)
    slots, jobs = executors.local_slots("cuda", 5, 2)  # a plan's --jobs: share more
    assert (slots.size, jobs) == (6, 5)
    assert executors.local_slots("cpu", None, 2)[0].size == 0
    live: dict[str, int] = {"0": 0, "1": 0}
    peak: dict[str, int] = {"0": 0, "1": 0}
    lock = threading.Lock()

    def fake_launch(self, task, env):
        gpu = env["CUDA_VISIBLE_DEVICES"]
        with lock:
            live[gpu] += 1
            peak[gpu] = max(peak[gpu], live[gpu])
        time.sleep(0.05)
        with lock:
            live[gpu] -= 1
        return 0, ""

    monkeypatch.setattr(sweep_cmd._Runner, "launch", fake_launch)
    monkeypatch.setattr(sweep_cmd, "_device", lambda args: "cuda")
    monkeypatch.setattr(sweep_cmd, "_preflight", lambda *a: None)  # no real GPU
    grid = ["--grid", "batch_size=2,4,8,16", "--grid", "seed=0,1"]
    argv = ["sweep", "--preset", "test", *OFF, *grid, "--out", str(tmp_path)]
    assert main([*argv, "--quiet", "--jobs-per-gpu", "2"]) == 1  # nothing trained
    assert peak == {"0": 2, "1": 2}


def test_slurm_options_reach_submitit(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    seen = {}

    class FakeExecutor:
        def __init__(self, folder, cluster):
            seen.update(folder=str(folder), cluster=cluster)

        def update_parameters(self, **kw):
            seen.update(kw)

        def batch(self):
            return contextlib.nullcontext()

        def submit(self, task):
            seen["prefix"] = task.prefix
            return type("Job", (), {"job_id": f"7_{task.name}"})()

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    flags = ["--executor", "slurm", "--slurm-partition", "gpu", "--slurm-time", "90",
             "--slurm-gpus", "2", "--slurm-mem", "40", "--slurm-array-parallelism",
             "3", "--device", "cuda"]  # fmt: skip
    argv = [a for a in _argv(tmp_path) if a not in ("--device", "cpu")]
    assert main([*argv, *flags]) == 0  # submitted, not waited for
    assert seen["cluster"] == "slurm" and seen["slurm_partition"] == "gpu"
    assert (seen["timeout_min"], seen["gpus_per_node"], seen["mem_gb"]) == (90, 2, 40)
    assert seen["slurm_array_parallelism"] == 3
    assert seen["folder"] == str(tmp_path / "submitit" / "%j")
    index = records.read_json(tmp_path / "sweep.json")["points"]
    assert [p["job_id"] for p in index] == [f"7_{p['name']}" for p in index]
    assert seen["prefix"][-2:] == ["--device", "cuda"]  # no GPU needed to submit


def test_bad_executor_options_exit_2(tmp_path, capsys):
    assert main(_argv(tmp_path, "--jobs-per-gpu", "0")) == 2
    assert "--jobs-per-gpu must be >= 1" in capsys.readouterr().err
    assert main(["sweep", "--preset", "test", "--out", str(tmp_path)]) == 2
    assert "--grid" in capsys.readouterr().err
    assert not (tmp_path / "points").exists()
