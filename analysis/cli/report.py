"""``eoss report``: analyse eoss outputs and write a report with a claims table.

Example::

    eoss report reports/runs/train reports/runs/static-gap derive.json --out reports/x
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "report"
HELP = "analyse runs, sweeps, static gaps, simulations and derivations into a report"
DESCRIPTION = HELP


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss report``.

    Args:
        p: The subcommand's parser.
    """
    p.add_argument(
        "inputs",
        nargs="+",
        help="run / sweep / static-gap / simulation folders (searched recursively) "
        "and derivation JSON files",
    )
    p.add_argument("--out", required=True, help="report folder, e.g. reports/NAME")
    p.add_argument("--title", default="eoss report", help="report title")
    p.add_argument(
        "--reach-tol",
        type=float,
        default=0.1,
        help="EoSS reached when MiniBS >= (1 - reach_tol)·2/η (default 0.1)",
    )
    p.add_argument(
        "--tail",
        type=float,
        default=0.2,
        help="plateau = this last fraction of a phase's steps (default 0.2)",
    )
    p.add_argument(
        "--drift-tol",
        type=float,
        default=0.05,
        help="stationary when |drift| of batch sharpness, FullBS and MiniBS over the "
        "plateau <= this × 2/η (default 0.05)",
    )
    p.add_argument(
        "--stationarity-rule",
        choices=("point", "equivalence"),
        default="point",
        help="stationary on the point drift (default) or only when each drift's "
        "90%% interval lies within ±drift-tol (TOST; the other rule's state is "
        "reported either way)",
    )
    p.add_argument(
        "--exponent-rule",
        choices=("tost", "point"),
        default="tost",
        help="exponents by equivalence within --margin (default) or point null",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.1,
        help="equivalence margin on exponents, |α − α0| <= margin (default 0.1)",
    )
    p.add_argument(
        "--include-nonstationary",
        action="store_true",
        help="use runs that reached 2/η but still drift in the scaling fits",
    )
    p.add_argument(
        "--max-trajectories",
        type=int,
        default=None,
        help="draw at most this many per-run trajectory figures (default: all runs)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="also archive the inputs' re-analysable records (config, env, status, "
        "gzipped metrics.jsonl, tables; no checkpoints) into OUT/raw, so that "
        "`eoss report OUT/raw --out DIR` rebuilds the report",
    )


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss report``.

    Args:
        args: Parsed arguments.

    Returns:
        Exit code 0.
    """
    from eoss.analysis.claims.policy import ClaimPolicy
    from eoss.analysis.report.build import build_report
    from eoss.analysis.study.plateau import Criteria

    if not 0 < args.reach_tol < 1:
        raise ValueError(f"--reach-tol must be in (0, 1), got {args.reach_tol}")
    criteria = Criteria(
        reach_tol=args.reach_tol,
        tail=args.tail,
        drift_tol=args.drift_tol,
        stationarity_rule=args.stationarity_rule,
    )
    policy = ClaimPolicy(
        exponent_rule=args.exponent_rule,
        margin=args.margin,
        include_nonstationary=args.include_nonstationary,
    )
    if args.max_trajectories is not None and args.max_trajectories < 0:
        raise ValueError("--max-trajectories must be >= 0")
    from eoss.analysis.records.outputs import check_output_dir

    check_output_dir(args.out)  # before the analysis, not after it
    res = build_report(
        args.inputs,
        args.out,
        title=args.title,
        criteria=criteria,
        policy=policy,
        max_trajectories=args.max_trajectories,
        progress=lambda msg: print(f"eoss report: {msg}", file=sys.stderr),
    )
    counts: dict[str, int] = {}
    for c in res.claims:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    if args.raw:
        _archive(args.inputs, Path(args.out) / "raw")
    print(f"{res.markdown}\n{res.html}\nclaims — {summary}")
    return 0


def _archive(inputs: list[str], out: Path) -> None:
    """Archive ``inputs`` into ``out``, paths relative to their parents' common one."""
    import os

    from eoss.analysis.records.archive import archive_records

    paths = [Path(p).resolve() for p in inputs]
    root = Path(os.path.commonpath([p.parent for p in paths]))
    res = archive_records(paths, out, root, fresh=True)
    print(
        f"eoss report: raw records: {res.n_files} files, "
        f"{res.n_bytes / 1e6:.1f} MB (from {res.source_bytes / 1e6:.1f} MB) in {out}",
        file=sys.stderr,
    )
