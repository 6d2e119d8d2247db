"""``eoss reproduce``: the whole pipeline, end to end, resumable.

Example::

    eoss reproduce --preset quick --data-root ../shared/data

runs derivations, random-matrix simulations, a trained-gap sweep and a static gap
curve on real CIFAR-10, and writes the report to ``reports/eoss-<preset>/``. Each
stage is an ordinary ``eoss`` command writing ordinary records under
``--runs-root`` (default ``reports/runs/reproduce-<preset>``); finished stages are
reused, so re-running an interrupted reproduction continues it. The plan is in
:mod:`eoss.analysis.cli.plan`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path
from typing import Any

NAME = "reproduce"
HELP = "run the whole pipeline (derive, simulate, train, static gap, report)"
ORDER = 90


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eoss reproduce``.

    Args:
        subparsers: The dispatcher's subparsers.

    Returns:
        The parser.
    """
    from eoss.analysis.cli.plan import PRESETS

    p = subparsers.add_parser(NAME, help=HELP, description=__doc__.split("\n")[0])
    p.add_argument(
        "--preset",
        default="quick",
        choices=sorted(PRESETS),
        help="; ".join(f"{k}: {v.summary}" for k, v in PRESETS.items()),
    )
    p.add_argument("--data-root", help="CIFAR-10 data root (default: $EOSS_DATA_ROOT)")
    p.add_argument("--device", help="torch device (default: cuda when available)")
    p.add_argument("--runs-root", help="folder for run records")
    p.add_argument("--out", help="report folder (default: reports/eoss-<preset>)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and run nothing"
    )
    p.set_defaults(handler=handle)
    return p


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
    if args.device is not None:
        resolve_device(args.device)
    if _needs_cifar(preset):
        _check_data_root(args.data_root, fetch=not args.dry_run)
    stages = plan(preset, root, out, data_root=args.data_root, device=args.device)
    if args.dry_run:
        for st in stages:
            state = "done" if st.is_done() or not st.argv else "to run"
            print(f"[{state}] {st.name}: eoss {' '.join(st.argv)}")
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


def _needs_cifar(preset: Any) -> bool:
    """Whether the preset's training study reads CIFAR-10."""
    from eoss.analysis.cli.plan import compose

    study = preset.study
    if study is None:
        return False
    return compose(study.preset, study.base)["data"]["name"] == "cifar10"


def _check_data_root(flag: str | None, *, fetch: bool) -> None:
    """The CIFAR-10 data root, checked before any stage runs.

    Args:
        flag: ``--data-root`` (else ``$EOSS_DATA_ROOT``).
        fetch: Make sure the batches are there (downloading them if needed);
            a dry run only checks that the root is given and is a folder.

    Raises:
        FileNotFoundError: If no root is given or the data cannot be had.
        ValueError: If the root is a file.
    """
    from eoss.analysis.cli.data_root import ENV_VAR, ensure_cifar10, resolve_data_root

    root = resolve_data_root(flag)
    if root is None:
        raise FileNotFoundError(
            f"this preset trains on CIFAR-10: pass --data-root DIR or set {ENV_VAR}"
        )
    if root.exists() and not root.is_dir():
        raise ValueError(f"--data-root {root} is a file, not a folder")
    if fetch:
        ensure_cifar10(root)
    elif not root.is_dir():
        raise FileNotFoundError(f"--data-root {root} does not exist")


def _execute(stages: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the stages in order; returns per-stage timings and failed stage names."""
    from eoss.analysis import records
    from eoss.analysis.cli.main import main

    timings, failed = [], []
    for i, st in enumerate(stages, 1):
        if st.is_done() or not st.argv:
            _say(f"[{i}/{len(stages)}] {st.name}: done, reused")
            timings.append({"stage": st.name, "seconds": 0.0, "reused": True})
            continue
        _say(f"[{i}/{len(stages)}] {st.name} ...")
        t0 = time.perf_counter()
        st.prepare()
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
