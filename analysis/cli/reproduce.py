"""``eoss reproduce``: the whole pipeline, end to end, resumable.

Example::

    eoss reproduce --preset quick --data-root ../shared/data

runs derivations, random-matrix simulations, a trained-gap sweep and a static gap
curve on real CIFAR-10, and writes the report to ``reports/eoss-<preset>/``. Each
stage is an ordinary ``eoss`` command writing ordinary records under
``--runs-root`` (default ``reports/runs/reproduce-<preset>``); finished stages are
reused, so re-running an interrupted reproduction continues it. The plan is in
:mod:`eoss.analysis.cli.plan`.

``--dry-run`` prints the stages, every training run with its steps, and an
estimated cost on the chosen device from a short timed probe
(:mod:`eoss.analysis.cli.cost`; ``--no-probe`` skips it). The sweep stage takes
the executor options of ``eoss sweep`` (``--executor slurm --slurm-partition
gpu ...``; the reproduction waits for the jobs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

NAME = "reproduce"
HELP = "run the whole pipeline (derive, simulate, train, static gap, report)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss reproduce``.

    Args:
        p: The subcommand's parser.
    """
    from eoss.analysis.cli.plan import PRESETS

    p.add_argument(
        "--preset",
        default="quick",
        choices=sorted(PRESETS),
        help="; ".join(f"{k}: {v.summary}" for k, v in PRESETS.items()),
    )
    p.add_argument(
        "--data-root",
        help="CIFAR-10 data root (default: $EOSS_DATA_ROOT, else ~/.cache/eoss; "
        "downloaded there once when missing)",
    )
    p.add_argument("--device", help="torch device (default: cuda when available)")
    p.add_argument("--runs-root", help="folder for run records")
    p.add_argument("--out", help="report folder (default: reports/eoss-<preset>)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan, its runs and an estimated cost; train only a probe",
    )
    p.add_argument(
        "--no-probe", action="store_true", help="--dry-run without the timed probe"
    )
    from eoss.analysis.cli.executors import add_arguments

    add_arguments(p)


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss reproduce``.

    Args:
        args: Parsed arguments.

    Returns:
        0 on success, 1 when a stage failed (the report is still built from what
        exists).
    """
    from eoss.analysis import records
    from eoss.analysis.cli.plan import describe, get_preset, inputs_of, plan
    from eoss.analysis.cli.train import resolve_device

    preset = get_preset(args.preset)
    root = Path(args.runs_root or f"reports/runs/reproduce-{preset.name}")
    out = Path(args.out or f"reports/eoss-{preset.name}")
    records.check_output_dir(root, "--runs-root")
    records.check_output_dir(out, "--out")
    from eoss.analysis.cli.executors import check_arguments

    check_arguments(args)
    if args.device is not None and args.executor != "slurm":
        resolve_device(args.device)
    if _needs_cifar(preset):
        _check_data_root(args.data_root, fetch=not args.dry_run)
    stages = plan(preset, root, out, data_root=args.data_root, device=args.device)
    stages = [_with_executor(st, args) for st in stages]
    if args.dry_run:
        for st in stages:
            state = "done" if st.is_done() or not st.argv else "to run"
            print(f"[{state}] {st.name}: eoss {' '.join(st.argv)}")
        _print_cost(stages, args)
        for note in preset.notes:
            print(f"note: {note}")
        if preset.projected_minutes is not None:
            parts = "; ".join(f"{k} {m:.0f}" for k, m in preset.projection)
            print(
                f"projected wall time: {preset.projected_minutes:.0f} min on 2 quiet "
                f"CPU cores, every run at its cap ({parts} min)"
            )
        return 0
    start = time.perf_counter()
    timings, failed = _execute(stages)
    _say(f"report -> {out}")
    t0 = time.perf_counter()
    from eoss.analysis.report.build import build_report

    result = build_report(
        [str(p) for p in inputs_of(stages)],
        out,
        title=f"eoss reproduce --preset {preset.name}",
        progress=_say,
    )
    timings.append({"stage": "report", "seconds": time.perf_counter() - t0})
    from eoss.analysis.records.archive import archive_records

    # The compact raw records go with the report (eoss report OUT/raw rebuilds it).
    raw = archive_records(inputs_of(stages), out / "raw", root, fresh=True)
    _say(f"raw records: {raw.n_files} files, {raw.n_bytes / 1e6:.1f} MB in {out}/raw")
    wall = time.perf_counter() - start
    records.write_json(
        root / "reproduce.json",
        {
            "preset": describe(preset),
            "stages": timings,
            "wall_seconds": wall,
            "failed": failed,
            "report": str(out),
            "env": records.env_info(),
        },
    )
    _say(f"report written: {result.markdown if hasattr(result, 'markdown') else out}")
    print(
        f"eoss reproduce --preset {preset.name}: wall time {wall:.0f} s "
        f"({wall / 60:.1f} min); report in {out}"
    )
    return 1 if failed else 0


def _with_executor(stage: Any, args: argparse.Namespace) -> Any:
    """The sweep stage with the executor options (waiting for SLURM jobs)."""
    import dataclasses

    if args.executor == "local" or not stage.argv or stage.argv[0] != "sweep":
        return stage
    extra = ["--executor", args.executor, "--wait"]
    for name in ("partition", "time", "gpus", "cpus", "mem", "array_parallelism"):
        value = getattr(args, f"slurm_{name}")
        if value is not None:
            extra += [f"--slurm-{name.replace('_', '-')}", str(value)]
    return dataclasses.replace(stage, argv=(*stage.argv, *extra))


def _print_cost(stages: list[Any], args: argparse.Namespace) -> None:
    """The dry run's list of training runs and their estimated cost."""
    from eoss.analysis.cli.cost import estimate, format_estimate, training_runs
    from eoss.analysis.cli.train import resolve_device

    runs = training_runs(stages)
    if not runs:
        return
    est = None
    if not args.no_probe:
        device = resolve_device(args.device)
        _say(f"timing a short probe on {device} ...")
        est = estimate(runs, device, args.data_root)
    print(format_estimate(runs, est))


def _needs_cifar(preset: Any) -> bool:
    """Whether any training run of the preset reads CIFAR-10.

    Read from the ``eoss train`` preset dict and the override mappings alone, so
    the data check runs before torch is imported (an offline user without the
    data gets the one-line error in well under a second).
    """
    from eoss.empirical.training.presets import preset as train_preset

    study = preset.study
    if study is None:
        return False
    default = train_preset(study.preset).get("data", {}).get("name", "cifar10")
    base = study.base.get("data.name", default)
    names = {base} | {
        o.get("data.name", base) for o in study.overrides().values()
    }  # noise_base and a run's own mapping both sit on top of base
    return "cifar10" in names


def _check_data_root(flag: str | None, *, fetch: bool) -> None:
    """The CIFAR-10 data root, checked before any stage runs.

    Args:
        flag: ``--data-root`` (else ``$EOSS_DATA_ROOT``).
        fetch: Make sure the batches are there (downloading them if needed);
            a dry run only checks that a named root is a folder.

    Raises:
        FileNotFoundError: If the data cannot be had, or (dry run) a named root
            does not exist.
        ValueError: If the root is a file or ``--data-root`` is empty.
    """
    from eoss.analysis.cli.data_root import ENV_VAR, ensure_cifar10, resolve_data_root

    if flag is not None and not flag.strip():
        raise ValueError(f"--data-root is empty: give a folder or omit it ({ENV_VAR})")
    root = resolve_data_root(flag)
    if root.exists() and not root.is_dir():
        raise ValueError(f"--data-root {root} is a file, not a folder")
    if fetch:
        ensure_cifar10(root)
    elif (flag or os.environ.get(ENV_VAR)) and not root.is_dir():
        # a root the user named must exist; the default cache is made on first use
        raise FileNotFoundError(f"--data-root {root} does not exist")


def _execute(stages: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the stages in order; returns per-stage timings and failed stage names."""
    from eoss.analysis import records
    from eoss.analysis.cli.main import main
    from eoss.analysis.cli.progress import StageProgress

    timings, failed = [], []
    for i, st in enumerate(stages, 1):
        if st.is_done() or not st.argv:
            _say(f"[{i}/{len(stages)}] {st.name}: done, reused")
            timings.append({"stage": st.name, "seconds": 0.0, "reused": True})
            continue
        t0 = time.perf_counter()
        st.prepare()
        label = f"eoss reproduce: [{i}/{len(stages)}] {st.name}"
        with StageProgress(label, st.meter):  # children stay --quiet
            if st.capture:
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    code = main(list(st.argv))
                if code == 0:
                    records.atomic_write_bytes(st.output, buf.getvalue().encode())
            else:
                with contextlib.redirect_stdout(sys.stderr):
                    code = main(list(st.argv))
        seconds = time.perf_counter() - t0
        timings.append({"stage": st.name, "seconds": seconds, "exit_code": code})
        _say(f"[{i}/{len(stages)}] {st.name}: exit {code}, {seconds:.0f} s")
        if code not in (0,):
            failed.append(st.name)
    return timings, failed


def _say(text: str) -> None:
    print(f"eoss reproduce: {text}", file=sys.stderr, flush=True)
