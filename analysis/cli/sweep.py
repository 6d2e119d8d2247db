"""``eoss sweep``: a grid of training runs as local processes, resumable.

Example::

    eoss sweep --preset cpu-mlp --grid batch_size=16,32,64 --grid lr=0.01,0.02
               --jobs 2 --out reports/runs/bs-sweep --data-root ../shared/data

Each grid point becomes ``eoss train ... --name <point>`` in its own process,
writing ``<out>/train/<point>/``. Re-running the same command skips finished
(or diverged) points, resumes interrupted or killed ones from their last
checkpoint, and starts the rest. ``<out>/sweep.json`` indexes the points (overrides,
run folder, status, exit code, last error line) and is rewritten atomically as
points complete.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eoss.analysis.cli.train import add_run_arguments, base_config, resolve_device

NAME = "sweep"
HELP = "run a grid of training runs as local processes (resumable)"
ORDER = 41


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eoss sweep``.

    Args:
        subparsers: The dispatcher's subparsers.

    Returns:
        The parser.
    """
    p = subparsers.add_parser(NAME, help=HELP, description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a named preset")
    src.add_argument("--config", help="start from a JSON config file")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="KEY=V1,V2,...",
        help="a config field and its values; several --grid make a product",
    )
    p.add_argument("--jobs", type=int, default=1, help="runs executed at the same time")
    add_run_arguments(p)
    p.set_defaults(handler=handle)
    return p


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


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The grid points, each validated as a full config before anything runs.

    Args:
        args: Parsed arguments.

    Returns:
        One dict per point: ``name``, ``sets`` (all --set), ``overrides``.
    """
    from eoss.analysis.cli.overrides import apply_overrides, to_dict
    from eoss.empirical.training.config import TrainConfig

    grid = parse_grid(args.grid)
    base = base_config(args)
    points = []
    for combo in itertools.product(*(vals for _, vals in grid)):
        assignment = list(zip((k for k, _ in grid), combo, strict=True))
        sets = [*args.set, *(f"{k}={v}" for k, v in assignment)]
        cfg = apply_overrides(TrainConfig, base, sets)  # fail early on bad values
        name, resolved = point_name(assignment), to_dict(cfg)
        _check_existing(Path(args.out) / "train" / name, resolved)
        typed = {k: _lookup(resolved, k) for k, _ in assignment}
        points.append({"name": name, "sets": sets, "overrides": typed})
    return points


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    """The typed value of ``group.key`` in a resolved config dict."""
    value: Any = config
    for part in dotted.split("."):
        value = value[part]
    return value


def _check_existing(run_dir: Path, config: dict[str, Any]) -> None:
    """Refuse to resume a point whose stored config differs from the plan."""
    from eoss.analysis import records

    if not (run_dir / "config.json").is_file():
        return
    if records.read_json(run_dir / "config.json") != config:
        raise ValueError(
            f"{run_dir} exists with a different config; use another --out "
            "or remove that run"
        )


def _command(args: argparse.Namespace, point: dict[str, Any], device: str) -> list:
    out = Path(args.out)
    run_dir = out / "train" / point["name"]
    cmd = [sys.executable, "-m", "eoss", "train", "--quiet", "--device", device]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    if (run_dir / "config.json").is_file():
        return [*cmd, "--resume", str(run_dir)]
    cmd += ["--out", str(out), "--name", point["name"]]
    if args.preset:
        cmd += ["--preset", args.preset]
    if args.config:
        cmd += ["--config", args.config]
    if args.data:
        cmd += ["--data", args.data]
    for s in point["sets"]:
        cmd += ["--set", s]
    return cmd


def _status(run_dir: Path) -> str:
    from eoss.analysis import records

    try:
        return str(records.read_json(run_dir / "status.json").get("status"))
    except (FileNotFoundError, ValueError):
        return "missing"


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss sweep``.

    Args:
        args: Parsed arguments.

    Returns:
        0 when every point finished or diverged, 1 otherwise.

    Raises:
        ValueError: On ``--jobs`` < 1.
    """
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    device = resolve_device(args.device)
    points = plan(args)
    out = Path(args.out)
    for p in points:
        p["run_dir"] = str(out / "train" / p["name"])
        p["status"] = _status(Path(p["run_dir"]))
    runner = _Runner(args, points, device, out / "sweep.json")
    runner.save()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(runner.work, points))
    runner.save()
    print(out / "sweep.json")
    return 0 if all(p["status"] in ("finished", "diverged") for p in points) else 1


class _Runner:
    """Runs points as ``eoss train`` processes and keeps the index current."""

    def __init__(
        self, args: argparse.Namespace, points: list, device: str, index: Path
    ) -> None:
        self.args, self.points, self.device, self.index = args, points, device, index
        self.lock = threading.Lock()
        self.env = dict(os.environ)
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        self.env.setdefault("OMP_NUM_THREADS", str(threads))
        self.env.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    def save(self) -> None:
        """Rewrite the sweep index atomically."""
        from eoss.analysis import records

        records.write_json(self.index, {"argv": sys.argv, "points": self.points})

    def work(self, point: dict[str, Any]) -> None:
        """Skip, resume or start one point (in a worker thread).

        Args:
            point: The point's index entry (updated in place).
        """
        if point["status"] in ("finished", "diverged"):
            _say(self.args, f"skip {point['name']} ({point['status']})")
            return
        _say(self.args, f"start {point['name']}")
        cmd = _command(self.args, point, self.device)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
        err = [ln for ln in proc.stderr.strip().split("\n") if ln.strip()]
        with self.lock:
            point["exit_code"] = proc.returncode
            point["status"] = _status(Path(point["run_dir"]))
            point["message"] = err[-1] if err else None
            self.save()
        _say(self.args, f"{point['status']} {point['name']}: {point['message']}")


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"eoss sweep: {text}", file=sys.stderr, flush=True)
