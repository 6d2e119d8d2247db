"""Where ``eoss sweep`` runs its points: local processes, submitit, SLURM.

``--executor local`` (the default) runs each point as a child process of the
sweep, at most ``--jobs`` at a time; on ``--device cuda`` the children are spread
over the visible GPUs, ``--jobs-per-gpu`` per GPU, each child seeing only its own
(``CUDA_VISIBLE_DEVICES``; :class:`GpuSlots`). ``--executor slurm`` submits one
SLURM job per point through `submitit <https://github.com/facebookincubator/submitit>`_
(``pip install "eoss[slurm]"``), as one job array limited to
``--slurm-array-parallelism`` running jobs, and returns (``--wait`` blocks);
``--executor submitit-local`` is the same code path on this machine (submitit's
local executor, always waited for), which is how the suite tests it.

Every point runs as a :class:`TrainTask`: ``eoss train`` from the point's config
file, or ``--resume`` of its run folder when one exists, with the child's output
in ``<run>/logs/attempt-<k>.log`` (written under ``<out>/logs/`` while the run
folder does not exist yet, moved in when it does). On preemption or time-out
SLURM signals the job, submitit calls :meth:`TrainTask.checkpoint`, which stops
the training with SIGTERM (it checkpoints at its next step boundary, status
``interrupted``) and requeues the same task, which then resumes.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eoss.analysis.cli.children import child_env

EXECUTORS = ("local", "submitit-local", "slurm")
STOP_GRACE_S = 60.0  # to checkpoint after SIGTERM; submitit warns 90 s ahead

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the executor options of ``eoss sweep`` (and ``eoss reproduce``).

    Args:
        p: The parser.
    """
    g = p.add_argument_group("executor")
    g.add_argument("--executor", default="local", choices=EXECUTORS)
    g.add_argument(
        "--jobs-per-gpu", type=int, default=1, help="local runs sharing one GPU"
    )
    g.add_argument("--slurm-partition", help="SLURM partition")
    g.add_argument("--slurm-time", type=int, default=240, help="minutes per job")
    g.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per job")
    g.add_argument("--slurm-cpus", type=int, default=4, help="CPUs per job")
    g.add_argument("--slurm-mem", type=int, default=16, help="GB of memory per job")
    g.add_argument(
        "--slurm-array-parallelism",
        type=int,
        default=32,
        help="jobs of the array running at the same time",
    )
    g.add_argument(
        "--wait", action="store_true", help="slurm: wait for the jobs to end"
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Validate the executor options before any work.

    Args:
        args: Parsed arguments.

    Raises:
        ValueError: On a non-positive size, or submitit missing for a submitit
            executor.
    """
    for name in (
        "jobs_per_gpu",
        "slurm_time",
        "slurm_cpus",
        "slurm_mem",
        "slurm_array_parallelism",
    ):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be >= 1, got {getattr(args, name)}")
    if args.slurm_gpus < 0:
        raise ValueError(f"--slurm-gpus must be >= 0, got {args.slurm_gpus}")
    if args.executor != "local":
        submitit_module()


def submitit_module() -> Any:
    """Import submitit (the ``slurm`` extra).

    Returns:
        The module.

    Raises:
        ValueError: If it is not installed (one line: how to install it).
    """
    try:
        import submitit
    except ImportError:
        raise ValueError(
            'this executor needs submitit: pip install "eoss[slurm]"'
        ) from None
    return submitit


# ---------------------------------------------------------------- local GPUs
def visible_gpus(device: str) -> list[str]:
    """The GPUs to spread local runs over (empty: do not spread).

    Args:
        device: The sweep's resolved device; only plain ``cuda`` spreads
            (``cuda:N`` pins every run to GPU N).

    Returns:
        ``CUDA_VISIBLE_DEVICES`` entries, one per GPU.
    """
    if device != "cuda":
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class GpuSlots:
    """``jobs_per_gpu`` slots per GPU; a run holds one while it trains.

    Args:
        gpus: ``CUDA_VISIBLE_DEVICES`` entries (empty: no GPU assignment).
        jobs_per_gpu: Runs sharing one GPU.
    """

    def __init__(self, gpus: list[str], jobs_per_gpu: int) -> None:
        self.size = len(gpus) * jobs_per_gpu
        self._free: queue.Queue[str] = queue.Queue()
        for _ in range(jobs_per_gpu):  # round-robin: fill every GPU once first
            for gpu in gpus:
                self._free.put(gpu)

    @contextmanager
    def env(self) -> Iterator[dict[str, str]]:
        """Hold a slot: the child's extra environment while the block runs.

        Yields:
            ``{"CUDA_VISIBLE_DEVICES": gpu}``, or ``{}`` without GPUs.
        """
        if not self.size:
            yield {}
            return
        gpu = self._free.get()
        try:
            yield {"CUDA_VISIBLE_DEVICES": gpu}
        finally:
            self._free.put(gpu)


def local_slots(
    device: str, jobs: int | None, jobs_per_gpu: int
) -> tuple[GpuSlots, int]:
    """The GPU slots and the number of local runs at the same time.

    Without ``--jobs``: one run per slot (visible GPUs × ``--jobs-per-gpu``), or 1
    without GPUs. A ``--jobs`` above the slots shares each GPU among more runs
    (⌈jobs / GPUs⌉ per GPU), so a plan's ``--jobs`` works on any GPU count.

    Args:
        device: The sweep's resolved device (:func:`visible_gpus`).
        jobs: ``--jobs`` or None.
        jobs_per_gpu: ``--jobs-per-gpu``.

    Returns:
        (slots, worker count).

    Raises:
        ValueError: If ``--jobs`` < 1.
    """
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    gpus = visible_gpus(device)
    if gpus and jobs is not None and jobs > len(gpus) * jobs_per_gpu:
        jobs_per_gpu = -(-jobs // len(gpus))
        log.info("--jobs %d on %d GPUs: %d runs per GPU", jobs, len(gpus), jobs_per_gpu)
    slots = GpuSlots(gpus, jobs_per_gpu)
    return slots, jobs if jobs is not None else max(1, slots.size)


# ---------------------------------------------------------------- one point
@dataclass
class TrainTask:
    """One sweep point as a job: start or resume its ``eoss train``.

    Attributes:
        prefix: ``python -m eoss train --quiet --device D [--data-root R]``.
        config: The point's resolved config file.
        out: The sweep's ``--out``.
        name: The point's name (its run folder is ``<out>/train/<name>``).
    """

    prefix: list[str]
    config: str
    out: str
    name: str
    _proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    @property
    def run_dir(self) -> Path:
        """The point's run folder."""
        return Path(self.out) / "train" / self.name

    def command(self) -> list[str]:
        """The command now: ``--resume`` once the run folder has a config.

        Returns:
            The child's command line.
        """
        if (self.run_dir / "config.json").is_file():
            return [*self.prefix, "--resume", str(self.run_dir)]
        start = ["--config", self.config, "--out", self.out, "--name", self.name]
        return [*self.prefix, *start]

    def run(self, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run the child to its end, its output going to a per-run log.

        Args:
            extra_env: Added to the child's environment (e.g. its GPU).

        Returns:
            (exit code, last line of the log that is not blank).
        """
        env = child_env({**os.environ, **(extra_env or {})})
        pending = Path(self.out) / "logs" / self.name
        pending.mkdir(parents=True, exist_ok=True)
        attempt = _next_attempt(pending, self.run_dir / "logs")
        log_path = pending / f"attempt-{attempt}.log"
        with open(log_path, "w") as fh:
            fh.write(" ".join(self.command()) + "\n")
            fh.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_ignore_usr2,  # submitit's checkpoint signal
            )
            code = self._proc.wait()
        return code, _move_log(log_path, self.run_dir / "logs")

    def stop(self) -> None:
        """SIGTERM the training (it checkpoints) and wait for it to exit."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            log.warning("training %s did not stop; killing it", self.name)
            proc.kill()
            proc.wait()

    def __call__(self) -> int:
        """Entry point of a submitit job.

        Returns:
            The child's exit code (0 finished or diverged, 130 interrupted).
        """
        return self.run()[0]

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Submitit's preemption hook: stop with a checkpoint, requeue to resume.

        Args:
            *args: The job's arguments (none).
            **kwargs: The job's keyword arguments (none).

        Returns:
            A ``DelayedSubmission`` of this task (which then resumes).
        """
        self.stop()
        submitit = submitit_module()
        return submitit.helpers.DelayedSubmission(self.fresh())

    def fresh(self) -> TrainTask:
        """This task without its child process (what gets pickled).

        Returns:
            A copy.
        """
        return TrainTask(self.prefix, self.config, self.out, self.name)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_proc": None}


def _ignore_usr2() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def _next_attempt(*folders: Path) -> int:
    names = [p.name for f in folders if f.is_dir() for p in f.glob("attempt-*.log")]
    nums = [int(n[8:-4]) for n in names if n[8:-4].isdigit()]
    return max(nums, default=0) + 1


def _move_log(path: Path, dest: Path) -> str:
    """Move a finished attempt's log into the run folder; its last line."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if dest.parent.is_dir():
        dest.mkdir(exist_ok=True)
        os.replace(path, dest / path.name)
    return lines[-1] if len(lines) > 1 else ""


def task_prefix(device: str, data_root: str | None) -> list[str]:
    """The ``eoss train`` prefix every point's command shares.

    Args:
        device: Device for the children.
        data_root: ``--data-root`` or None.

    Returns:
        The argument list.
    """
    cmd = [sys.executable, "-m", "eoss", "train", "--quiet", "--device", device]
    return [*cmd, "--data-root", data_root] if data_root else cmd


# ---------------------------------------------------------------- submitit
def submit(args: argparse.Namespace, tasks: list[TrainTask], out: Path) -> list[Any]:
    """Submit one job per task (one array) through submitit.

    Args:
        args: Parsed arguments (executor options).
        tasks: The points still to run.
        out: The sweep folder; submitit's own files go to ``<out>/submitit/``.

    Returns:
        The submitit jobs, in task order.
    """
    submitit = submitit_module()
    cluster = "local" if args.executor == "submitit-local" else "slurm"
    ex = submitit.AutoExecutor(folder=out / "submitit" / "%j", cluster=cluster)
    params: dict[str, Any] = {"timeout_min": args.slurm_time, "name": "eoss-sweep"}
    if cluster == "slurm":
        params.update(
            slurm_partition=args.slurm_partition,
            gpus_per_node=args.slurm_gpus,
            cpus_per_task=args.slurm_cpus,
            mem_gb=args.slurm_mem,
            slurm_array_parallelism=args.slurm_array_parallelism,
        )
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    with ex.batch():
        jobs = [ex.submit(task) for task in tasks]
    return jobs
