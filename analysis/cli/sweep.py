"""``eoss sweep``: a grid of training runs, local or on SLURM, resumable.

Example::

    eoss sweep --preset cpu-mlp --grid batch_size=16,32,64 --grid lr=0.01,0.02
               --jobs 2 --out reports/runs/bs-sweep --data-root ../shared/data

Each grid point is resolved here, once, to a full validated config (the base:
preset or ``--config``, ``--data`` and every ``--set``; then the point's typed grid
values), written to ``<out>/points/<point>.json``, and run as
``eoss train --config <that file> --out <out> --name <point>`` in its own process,
writing ``<out>/train/<point>/`` (whose ``config.json`` equals the point's file).
Re-running the same command skips finished (or diverged) points, resumes
interrupted or killed ones from their last checkpoint (``eoss train --resume``),
and starts the rest. The children die with the sweep (even a ``kill -9`` of it:
:mod:`eoss.analysis.cli.children`), and the sweep folder and every run folder are
locked, so a second sweep on the same folder is refused instead of training
alongside. ``<out>/sweep.json`` indexes the points (typed overrides,
config file, run folder, status, exit code, last error line) and is rewritten
atomically as points complete.

Where the points run is :mod:`eoss.analysis.cli.executors`: ``--executor local``
(processes spread over the visible GPUs, ``--jobs-per-gpu``), ``slurm`` (one
submitit job per point, requeued and resumed on preemption) or
``submitit-local``. ``--print-commands`` writes the point files and prints one
command per point still to run (for your own job arrays); ``--status --out DIR``
reads the run folders (:mod:`eoss.analysis.cli.sweep_status`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eoss.analysis.cli import executors
from eoss.analysis.cli.sweep_points import (
    SweepPoint,
    config_path,
    parse_grid,
    parse_points,
    plan,
    point_name,
    typed_grid,
)
from eoss.analysis.cli.sweep_runner import _DONE, _Runner
from eoss.analysis.cli.sweep_status import run_status as _status
from eoss.analysis.cli.train import add_run_arguments, resolve_device

__all__ = [
    "SweepPoint",
    "add_arguments",
    "config_path",
    "handle",
    "parse_grid",
    "parse_points",
    "plan",
    "point_name",
    "typed_grid",
]

NAME = "sweep"
HELP = "run a grid of training runs, local or on SLURM (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss sweep``.

    Args:
        p: The subcommand's parser.
    """
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a named preset")
    src.add_argument("--config", help="start from a JSON config file")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a config field and its values; several --grid make a product "
        "(--grid or --point is required unless --status)",
    )
    p.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="NAME=CONFIG",
        help="a named run from a full JSON config file, instead of a grid "
        "(repeatable; runs <out>/train/NAME; --set applies on top)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="local runs at the same time (default: one per GPU slot, else 1)",
    )
    p.add_argument(
        "--status", action="store_true", help="print the status of --out's runs"
    )
    p.add_argument(
        "--print-commands",
        action="store_true",
        help="write the point files, print each pending run's command, run nothing",
    )
    executors.add_arguments(p)
    add_run_arguments(p)


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss sweep``.

    Every point is resolved and checked (config, data, model, sizes) before the
    first folder or file is written; the sweep folder is then locked against a
    second ``eoss sweep`` on it.

    Args:
        args: Parsed arguments.

    Returns:
        0 when every point finished or diverged, 1 otherwise.

    Raises:
        ValueError: On ``--jobs`` < 1, neither ``--grid`` nor ``--point``, or a
            point that cannot run.
    """
    from eoss.analysis import records

    if args.status:
        from eoss.analysis.cli.sweep_status import print_status

        return print_status(Path(args.out))
    if not args.grid and not args.point:
        raise ValueError(
            "--grid KEY=V1,V2,... or --point NAME=CONFIG is required (unless --status)"
        )
    executors.check_arguments(args)
    out = Path(args.out)
    records.check_output_dir(out)
    device = _device(args)
    local = executors.local_slots(
        device if args.executor == "local" else "cpu", args.jobs, args.jobs_per_gpu
    )
    planned = plan(args)
    _preflight(args, planned, "cpu" if args.executor == "slurm" else device)
    out.mkdir(parents=True, exist_ok=True)
    with records.RunLock(out):
        return _run_points(args, planned, device, out, local)


def _device(args: argparse.Namespace) -> str:
    """The children's device; on SLURM it need not exist on the submit host."""
    if args.executor != "slurm":
        return resolve_device(args.device)
    if args.device is None:
        return "cuda"
    if args.device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"--device {args.device}: only cpu and cuda[:N] are supported")
    return args.device


def _preflight(args: argparse.Namespace, points: list[SweepPoint], device: str) -> None:
    """Load each distinct data set once and check every point against it."""
    from eoss.analysis.cli.data_root import load_for_config, resolve_data_root
    from eoss.analysis.cli.overrides import from_dict
    from eoss.analysis.cli.runs import preflight
    from eoss.analysis.records.io import dumps
    from eoss.empirical.training.config import TrainConfig

    root = resolve_data_root(args.data_root)
    cache: dict[str, Any] = {}
    for point in points:
        cfg = from_dict(TrainConfig, dict(point.config))
        key = dumps([cfg.data, cfg.seed if cfg.data.seed is None else None])
        if key not in cache:
            cache[key] = load_for_config(cfg.data, seed=cfg.seed, root=root)
        try:
            preflight(cfg, cache[key], device)
        except ValueError as exc:
            raise ValueError(f"point {point.name}: {exc}") from None


def _run_points(
    args: argparse.Namespace,
    planned: list[SweepPoint],
    device: str,
    out: Path,
    local: tuple[executors.GpuSlots, int],
) -> int:
    from eoss.analysis import records

    points, prefix = [], executors.task_prefix(device, args.data_root)
    for point in planned:
        path = config_path(out, point.name)
        records.write_json(path, point.config)
        run_dir = out / "train" / point.name
        points.append(
            {
                "name": point.name,
                "overrides": dict(point.overrides),
                "config": str(path),
                "run_dir": str(run_dir),
                "status": _status(run_dir),
            }
        )
    tasks = {
        p["name"]: executors.TrainTask(prefix, p["config"], args.out, p["name"])
        for p in points
    }
    if args.print_commands:
        import shlex

        for p in points:
            if p["status"] not in _DONE:
                print(shlex.join(tasks[p["name"]].command()))
        return 0
    runner = _Runner(args, points, tasks, out / "sweep.json", local)
    runner.save()
    if args.executor == "local":
        runner.run_local()
    elif not runner.run_submitit(out):
        return 0  # submitted, not waited for
    runner.save()
    print(out / "sweep.json")
    return 0 if all(p["status"] in _DONE for p in points) else 1
