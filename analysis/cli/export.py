"""``eoss export``: run tables as CSV (or TensorBoard, offline W&B); DataFrames.

Example::

    eoss export reports/runs/train/<name> --to csv --out exports

writes ``exports/<run>/<table>.csv`` for every table of each run's
``metrics.jsonl`` (``train``, ``eval``, ``fullbs``, ``minibs``, ``static_gap``, ...;
one column per field, rows in file order) plus ``config.json``, so a notebook or a
spreadsheet can replot any figure. ``--to tensorboard`` writes event files to
``<out>/<run>/`` (scalar tag ``<table>/<field>`` at the record's step; needs the
``tensorboard`` package) and ``--to wandb`` an offline W&B run under
``<out>/wandb/`` (one history row per record, charted against ``<table>/step``;
needs ``wandb``; nothing is sent; ``wandb sync`` uploads it later). Each run's
output folder is printed. Both are optional extras (``pip install
eoss[tensorboard]`` / ``eoss[wandb]``): when the package is missing the command
says so in one line and exits 2 before writing anything.

In Python, :func:`run_frames` returns a run's tables as pandas DataFrames (when
pandas is installed)::

    from eoss.analysis.cli.export import run_frames
    frames = run_frames("reports/runs/train/<name>")
    frames["minibs"].plot(x="step", y="minibs")
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

NAME = "export"
HELP = "export run tables as CSV (or TensorBoard / offline W&B)"

#: ``--to`` target → the package it needs (None: the standard library suffices).
TARGETS = {"csv": None, "tensorboard": "tensorboard", "wandb": "wandb"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss export``.

    Args:
        p: The subcommand's parser.
    """
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    p.add_argument("--to", choices=sorted(TARGETS), default="csv", help="format")
    p.add_argument("--out", default="exports", help="output folder")


def run_tables(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """A run's ``metrics.jsonl`` records grouped by table, in file order.

    Args:
        path: The run folder.

    Returns:
        Table name → records (without the ``table`` key).

    Raises:
        FileNotFoundError: If the folder has no ``metrics.jsonl``.
    """
    from eoss.analysis.records.io import read_jsonl

    metrics = Path(path) / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(f"{path} is not a run folder (no metrics.jsonl)")
    tables: dict[str, list[dict[str, Any]]] = {}
    for rec in read_jsonl(metrics):
        rec = dict(rec)
        tables.setdefault(str(rec.pop("table", "unknown")), []).append(rec)
    return tables


def run_frames(path: str | Path) -> dict[str, Any]:
    """A run's tables as pandas DataFrames (one per table, rows in file order).

    Args:
        path: The run folder.

    Returns:
        Table name → ``pandas.DataFrame``.

    Raises:
        ImportError: If pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("run_frames needs pandas: pip install pandas") from None
    return {k: pd.DataFrame(v) for k, v in run_tables(path).items()}


def _check(args: argparse.Namespace) -> list[Path]:
    """Validate every input before anything is written."""
    from eoss.analysis import records

    package = TARGETS[args.to]
    if package is not None and importlib.util.find_spec(package) is None:
        raise ValueError(
            f"--to {args.to} needs the {package} package: pip install {package}"
        )
    from eoss.analysis.records.reader import load_run

    runs = [Path(r) for r in args.runs]
    for run in runs:
        if not (run / "metrics.jsonl").is_file():
            raise FileNotFoundError(f"{run} is not a run folder (no metrics.jsonl)")
        load_run(run)  # a malformed record fails here, naming its file and line
    names = [r.resolve().name for r in runs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"two runs share the folder name {dupes[0]!r}: export them apart"
        )
    records.check_output_dir(args.out, "--out")
    return runs


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss export``.

    Args:
        args: Parsed arguments.

    Returns:
        0 on success.
    """
    runs = _check(args)
    tables = {run: run_tables(run) for run in runs}  # malformed lines fail here
    out = Path(args.out)
    for run, by_table in tables.items():
        name = run.resolve().name
        folder = out / name
        if args.to == "csv":
            _write_csv(folder, run, by_table)
        elif args.to == "tensorboard":
            _write_tensorboard(folder, by_table)
        else:
            folder = _write_wandb(out, name, run, by_table)
        print(folder)
    return 0


def _write_csv(folder: Path, run: Path, by_table: dict[str, list[dict]]) -> None:
    from eoss.analysis import records

    for table, rows in sorted(by_table.items()):
        records.write_csv(folder / f"{table}.csv", rows)
    if (run / "config.json").is_file():
        config = records.read_json(run / "config.json")
        records.write_json(folder / "config.json", config)


def _numeric(record: dict[str, Any]) -> dict[str, float]:
    """The numeric, non-step fields of a record (booleans and text left out)."""
    return {
        key: float(val)
        for key, val in record.items()
        if key != "step" and isinstance(val, (int, float)) and not isinstance(val, bool)
    }


def _scalars(rows: list[dict]) -> list[tuple[int, str, float]]:
    """(step, field, value) of every numeric, non-step field."""
    out = []
    for i, r in enumerate(rows):
        step = int(r.get("step", i))
        out += [(step, key, val) for key, val in _numeric(r).items()]
    return out


def _write_tensorboard(folder: Path, by_table: dict[str, list[dict]]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    try:
        for table, rows in sorted(by_table.items()):
            for step, key, val in _scalars(rows):
                writer.add_scalar(f"{table}/{key}", val, step)
    finally:
        writer.close()


def _write_wandb(out: Path, name: str, run: Path, by_table: dict[str, list]) -> Path:
    """An offline W&B run: one history row per record, on its table's step axis.

    Each record is logged once, as ``{"<table>/<field>": value, ...}`` with
    ``<table>/step`` its step; ``define_metric`` makes ``<table>/step`` the x axis
    of that table's charts (W&B's own ``_step`` only counts the rows).

    Returns:
        The offline run folder (``<out>/wandb/offline-run-…``).
    """
    import wandb

    from eoss.analysis import records

    path = run / "config.json"
    config = records.read_json(path) if path.is_file() else {}
    out.mkdir(parents=True, exist_ok=True)
    session = wandb.init(mode="offline", dir=str(out), name=name, config=config)
    folder = Path(session.dir).parent  # <out>/wandb/offline-run-<time>-<id>
    try:
        for table, rows in sorted(by_table.items()):
            session.define_metric(f"{table}/step")
            session.define_metric(f"{table}/*", step_metric=f"{table}/step")
            for i, r in enumerate(rows):
                values = {f"{table}/{k}": v for k, v in _numeric(r).items()}
                if values:
                    session.log(values | {f"{table}/step": int(r.get("step", i))})
    finally:
        session.finish()
    return folder
