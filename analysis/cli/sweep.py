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
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eoss.analysis.cli import executors
from eoss.analysis.cli.sweep_runner import _DONE, _Runner
from eoss.analysis.cli.sweep_status import run_status as _status
from eoss.analysis.cli.train import add_run_arguments, base_config, resolve_device

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
        "(required unless --status)",
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


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """Parse ``--grid key=v1,v2`` items.

    Args:
        items: Raw ``--grid`` values.

    Returns:
        [(key, [values...]), ...] in the given order.

    Raises:
        ValueError: On a malformed item or a repeated key.
    """
    out: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not vals:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        if any(k == key.strip() for k, _ in out):
            raise ValueError(f"--grid key {key.strip()!r} given twice")
        dup = sorted({v for v in vals if vals.count(v) > 1})
        if dup:
            repeated = ", ".join(dup)
            raise ValueError(f"--grid {key.strip()}: value(s) {repeated} repeated")
        out.append((key.strip(), vals))
    return out


def point_name(assignment: list[tuple[str, str]]) -> str:
    """Folder name of a grid point, e.g. ``batch_size=16,lr=0.01``.

    Args:
        assignment: (key, value) pairs.

    Returns:
        A file-system-safe name.
    """
    text = ",".join(f"{k}={v}" for k, v in assignment)
    return "".join(c if c.isalnum() or c in "=,._-" else "_" for c in text)


@dataclass(frozen=True)
class SweepPoint:
    """One grid point, resolved before anything runs.

    Attributes:
        name: Folder name (:func:`point_name`).
        overrides: The grid assignment, dotted field → typed value.
        config: The point's full resolved :class:`TrainConfig` as a dict (what
            the run's ``config.json`` will hold).
    """

    name: str
    overrides: Mapping[str, Any]
    config: Mapping[str, Any]


def typed_grid(grid: list[tuple[str, list[str]]]) -> list[tuple[str, list[Any]]]:
    """Parse each grid value with its :class:`TrainConfig` field's type.

    Args:
        grid: :func:`parse_grid` output.

    Returns:
        [(key, [typed values...]), ...].

    Raises:
        ValueError: On an unknown field or a value of the wrong type.
    """
    from eoss.analysis.cli.overrides import field_type, parse_text
    from eoss.empirical.training.config import TrainConfig

    out = []
    for key, texts in grid:
        hint = field_type(TrainConfig, key)
        values = [parse_text(t, hint, key) for t in texts]
        for i, v in enumerate(values):
            if v in values[:i]:
                raise ValueError(
                    f"--grid {key}: {texts[i]!r} repeats {texts[values.index(v)]!r}"
                )
        out.append((key, values))
    return out


def plan(args: argparse.Namespace) -> list[SweepPoint]:
    """The grid points, each resolved to a validated config before anything runs.

    The base (preset or ``--config``, ``--data``, every ``--set``) and the point's
    typed grid assignment are applied once, here, so a bad value fails before any
    process starts and every child loads a complete config file.

    Args:
        args: Parsed arguments.

    Returns:
        One point per element of the grid's Cartesian product.
    """
    from eoss.analysis.cli.overrides import apply_overrides, to_dict
    from eoss.empirical.training.config import TrainConfig

    grid = parse_grid(args.grid)
    options = [
        [(key, text, value) for text, value in zip(texts, values, strict=True)]
        for (key, texts), (_, values) in zip(grid, typed_grid(grid), strict=True)
    ]
    base = base_config(args)
    points = []
    for combo in itertools.product(*options):
        texts = [(key, text) for key, text, _ in combo]
        values = {key: value for key, _, value in combo}
        cfg = apply_overrides(TrainConfig, base, args.set, values)
        name, resolved = point_name(texts), to_dict(cfg)
        _check_existing(Path(args.out) / "train" / name, resolved)
        points.append(SweepPoint(name, values, resolved))
    return points


def config_path(out: Path, name: str) -> Path:
    """Where ``eoss sweep`` writes the resolved config of point ``name``.

    Args:
        out: The sweep's ``--out``.
        name: The point's name.

    Returns:
        ``<out>/points/<name>.json``.
    """
    return out / "points" / f"{name}.json"


def _check_existing(run_dir: Path, config: Mapping[str, Any]) -> None:
    """Refuse to resume a point whose stored config differs from the plan."""
    from eoss.analysis import records

    if not (run_dir / "config.json").is_file():
        return
    if records.read_json(run_dir / "config.json") != config:
        raise ValueError(
            f"{run_dir} exists with a different config; use another --out "
            "or remove that run"
        )


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
        ValueError: On ``--jobs`` < 1, no ``--grid``, or a point that cannot run.
    """
    from eoss.analysis import records

    if args.status:
        from eoss.analysis.cli.sweep_status import print_status

        return print_status(Path(args.out))
    if not args.grid:
        raise ValueError("--grid KEY=V1,V2,... is required (unless --status)")
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
