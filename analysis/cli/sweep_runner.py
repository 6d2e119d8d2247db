"""The worker side of ``eoss sweep``: run the points, keep ``sweep.json`` current.

:class:`_Runner` runs pending points locally (a thread pool of child processes,
one GPU slot each) or through submitit (:func:`eoss.analysis.cli.executors.submit`)
and records each outcome (exit code, status read from the run folder, last log
line) in the sweep index, rewritten atomically after every point.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eoss.analysis.cli import executors
from eoss.analysis.cli.children import terminate_all
from eoss.analysis.cli.sweep_status import run_status as _status

_DONE = ("finished", "diverged")  # statuses a re-run skips


class _Runner:
    """Runs points as ``eoss train`` processes and keeps the index current."""

    def __init__(
        self,
        args: argparse.Namespace,
        points: list,
        tasks: dict[str, executors.TrainTask],
        index: Path,
        local: tuple[executors.GpuSlots, int],
    ) -> None:
        self.args, self.points, self.tasks, self.index = args, points, tasks, index
        self.slots, self.jobs = local
        self.lock = threading.Lock()
        self.started: list[executors.TrainTask] = []
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.env = {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
        self.env = {k: os.environ.get(k, v) for k, v in self.env.items()}

    def run_local(self) -> None:
        """Run the pending points as child processes, ``jobs`` at a time."""
        try:
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                list(pool.map(self.work, self.points))
        finally:
            terminate_all([t._proc for t in self.started if t._proc is not None])

    def run_submitit(self, out: Path) -> bool:
        """Submit the pending points as submitit jobs.

        Args:
            out: The sweep folder.

        Returns:
            Whether the jobs were waited for (always with ``submitit-local``).
        """
        pending = [p for p in self.points if p["status"] not in _DONE]
        for p in self.points:
            if p["status"] in _DONE:
                _say(self.args, f"skip {p['name']} ({p['status']})")
        tasks = [self.tasks[p["name"]] for p in pending]
        jobs = executors.submit(self.args, tasks, out)
        for p, job in zip(pending, jobs, strict=True):
            p["job_id"] = str(job.job_id)
            _say(self.args, f"submitted {p['name']} as job {job.job_id}")
        self.save()
        if self.args.executor == "slurm" and not self.args.wait:
            print(f"eoss sweep: {len(jobs)} jobs submitted; eoss sweep --status "
                  f"--out {out} follows them", file=sys.stderr)
            return False
        for p, job in zip(pending, jobs, strict=True):
            try:
                code, message = job.result(), None
            except Exception as exc:  # noqa: BLE001 - the job's failure, reported
                code, message = None, str(exc).strip().split("\n")[-1]
            self._record(p, code, message)
        return True

    def save(self) -> None:
        """Rewrite the sweep index atomically."""
        from eoss.analysis import records

        records.write_json(self.index, {"argv": sys.argv, "points": self.points})

    def launch(
        self, task: executors.TrainTask, env: dict[str, str]
    ) -> tuple[int, str]:
        """Run one point's child to its end (it dies with this process).

        Args:
            task: The point's task.
            env: Extra environment (threads, its GPU).

        Returns:
            (exit code, the last line of its log).
        """
        with self.lock:
            self.started.append(task)
        return task.run(env)

    def work(self, point: dict[str, Any]) -> None:
        """Skip, resume or start one point (in a worker thread).

        Args:
            point: The point's index entry (updated in place).
        """
        if point["status"] in ("finished", "diverged"):
            _say(self.args, f"skip {point['name']} ({point['status']})")
            return
        _say(self.args, f"start {point['name']}")
        with self.slots.env() as gpu:
            code, message = self.launch(self.tasks[point["name"]], {**self.env, **gpu})
        self._record(point, code, message or None)

    def _record(self, point: dict[str, Any], code: int | None, message: Any) -> None:
        """Store a point's outcome in the index and report it."""
        with self.lock:
            point["exit_code"] = code
            point["status"] = _status(Path(point["run_dir"]))
            point["message"] = message
            self.save()
        text = f"{point['status']} {point['name']}: {point['message']}"
        if point["status"] in ("finished", "diverged"):
            _say(self.args, text)
        else:  # a failure is reported even with --quiet
            print(f"eoss sweep: {text}", file=sys.stderr, flush=True)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"eoss sweep: {text}", file=sys.stderr, flush=True)
