"""``eoss static-gap``: MiniBS − FullBS against b at a frozen checkpoint.

Example::

    eoss static-gap reports/runs/train/<name> --checkpoint 10000
                    --batch-sizes 1,2,4,8,16,32,64,128,256 --batches 32

The network of the checkpoint (the newest one by default, or ``RUN_DIR:STEP``)
is held fixed; FullBS = λ_max(∇²L) over the run's whole training subset is
computed once, then for each b the mean of λ_max(H_B) over K fresh uniform
b-subsets (MiniBS ± SE), the batch sharpness ± SE and the control-variate gap
mean_B[λ_max(H_B) − vᵀH_B v] ± SE (v the full-batch top eigenvector). The naive
``gap`` = MiniBS − FullBS has ``gap_se`` = SE of MiniBS (FullBS is one solve whose
residual is recorded). This is the static curve of the paper's Figs. 9, 11–13.

Writes ``<out>/static-gap/<name>/`` with config.json, env.json, status.json,
metrics.jsonl (one ``static_gap`` row per b as it is computed), and
``static_gap.csv`` / ``static_gap.json`` (docs/records.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from eoss.analysis.cli.data_root import ENV_VAR
from eoss.analysis.cli.train import resolve_device

NAME = "static-gap"
HELP = "static MiniBS - FullBS curve of a frozen training checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss static-gap``.

    Args:
        p: The subcommand's parser.
    """
    p.add_argument("run", metavar="RUN_DIR[:STEP]", help="a training run folder")
    p.add_argument("--checkpoint", type=int, help="checkpoint step (default: newest)")
    p.add_argument(
        "--batch-sizes",
        required=True,
        help="comma-separated batch sizes, e.g. 1,2,4,8,16 or 1,2,4,...,1024",
    )
    p.add_argument("--batches", type=int, default=32, help="K batches per size")
    p.add_argument("--tol", type=float, default=1e-3, help="relative eigen-residual")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch draws")
    p.add_argument(
        "--bn-mode",
        choices=("eval", "train"),
        help="BatchNorm during measurement (default: the run's track.bn_mode)",
    )
    p.add_argument("--out", default="reports/runs", help="output root folder")
    p.add_argument("--name", help="output folder name (default: time_hash)")
    p.add_argument(
        "--data-root",
        help="CIFAR-10 data root (default: $EOSS_DATA_ROOT, else the run's "
        "recorded data root, else the user cache)",
    )
    p.add_argument("--device", help="torch device (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no per-size progress lines")


def parse_sizes(text: str) -> list[int]:
    """Parse ``1,2,4`` or ``1,2,4,...,1024`` into sorted unique batch sizes.

    ``...`` (or ``…``) continues the geometric progression of the two sizes before
    it up to the size after it, as in ``eoss simulate gap``.

    Args:
        text: Comma-separated integers, optionally with ``...``.

    Returns:
        The sizes.

    Raises:
        ValueError: On a non-integer, a size < 1 or an ambiguous ``...``.
    """
    from eoss.analysis.cli.simulate import parse_batch_sizes

    try:
        sizes = sorted(set(parse_batch_sizes(text)))
    except ValueError as exc:
        raise ValueError(f"--batch-sizes: {exc}") from None
    return sizes


def recorded_data_root(run_dir: Path) -> str | None:
    """The CIFAR-10 folder a training run recorded (``env.json``), if it exists.

    Args:
        run_dir: The training run folder.

    Returns:
        The folder, or None when none was recorded or it is gone.
    """
    import json

    try:
        env = json.loads((run_dir / "env.json").read_text())
        # the absolute batches folder first; data_root may be relative to the cwd
        found = [(env.get("data") or {}).get("folder"), env.get("data_root")]
    except (OSError, ValueError, AttributeError):
        return None
    return next((str(r) for r in found if r and Path(r).is_dir()), None)


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss static-gap``.

    Args:
        args: Parsed arguments.

    Returns:
        0 on success.

    Raises:
        ValueError: On bad sizes, K, tol or seed, a step given twice, or an
            output folder that cannot be made.
    """
    from eoss.analysis import records
    from eoss.analysis.cli.runs import load_model, parse_run_spec

    sizes = parse_sizes(args.batch_sizes)
    if args.batches < 2:
        raise ValueError(
            f"--batches must be >= 2 (for a standard error), got {args.batches}"
        )
    if not (0 < args.tol < 1):
        raise ValueError(f"--tol must be in (0, 1), got {args.tol}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    run_dir, step = parse_run_spec(args.run)
    if step is not None and args.checkpoint is not None and step != args.checkpoint:
        raise ValueError(
            f"{args.run} names step {step} but --checkpoint says {args.checkpoint}; "
            "give one of them"
        )
    step = args.checkpoint if args.checkpoint is not None else step
    spec = str(run_dir) if step is None else f"{run_dir}:{step}"
    if args.name is not None:
        records.check_name(args.name)
    records.check_output_dir(args.out)
    device = resolve_device(args.device)
    # --data-root, else $EOSS_DATA_ROOT, else where the run found its data
    data_root = (
        args.data_root or os.environ.get(ENV_VAR) or recorded_data_root(run_dir)
    )
    model, cfg, step, train = load_model(spec, device=device, data_root=data_root)
    if sizes[-1] > len(train):
        raise ValueError(
            f"batch size {sizes[-1]} exceeds the {len(train)} training points"
        )
    config = _config(args, run_dir, step, sizes, cfg, len(train))
    path = records.planned_path(args.out, "static-gap", config, args.name)
    records.check_output_dir(path, "output folder", new=True)
    env = records.env_info(device=device)
    env["data"] = train.provenance
    out = records.RunDir.create(args.out, "static-gap", config, name=args.name, env=env)
    try:
        rows, full = _measure(out, model, cfg, train, config, quiet=args.quiet)
    except BaseException as exc:
        out.set_status("failed", reason=" ".join(str(exc).split()))
        out.unlock()
        raise
    finally:
        out.close()
    records.write_csv(out.path / "static_gap.csv", rows)
    records.write_json(
        out.path / "static_gap.json", {"config": config, "fullbs": full, "rows": rows}
    )
    n_bad = sum(r["n_batches"] - r["n_converged"] for r in rows)
    out.set_status(
        "finished",
        n_rows=len(rows),
        fullbs_converged=full["converged"],
        n_unconverged=n_bad,
    )
    out.unlock()
    print(out.path)
    return 0


def _config(
    args: argparse.Namespace, run_dir: Any, step: int, sizes: list, cfg: Any, n: int
) -> dict[str, Any]:
    """The resolved settings of this measurement (written to config.json)."""
    return {
        "run": str(run_dir.resolve()),
        "step": step,
        "batch_sizes": sizes,
        "n_batches": args.batches,
        "tol": args.tol,
        "seed": args.seed,
        "bn_mode": args.bn_mode or cfg.track.bn_mode,
        "loss": cfg.loss,
        "n_train": n,
        "sampling": "without",  # each batch: b distinct rows, batches independent
        "chunk_size": cfg.track.chunk_size,
    }


def _full(model: Any, loss: Any, train: Any, config: dict) -> Any:
    """FullBS with its top eigenvector (the control variate's direction)."""
    from eoss.empirical.estimators.full_batch import full_sharpness
    from eoss.empirical.rng import numpy_rng

    return full_sharpness(
        model,
        loss,
        train,
        rng=numpy_rng(config["seed"], "static_fullbs"),
        chunk_size=config["chunk_size"],
        tol=config["tol"],
        bn_mode=config["bn_mode"],
    )


def _measure(
    out: Any, model: Any, cfg: Any, train: Any, config: dict, *, quiet: bool
) -> tuple[list[dict], dict]:
    from eoss.empirical.estimators.minibatch import minibatch_sharpness
    from eoss.empirical.losses import Loss
    from eoss.empirical.rng import numpy_rng

    loss, seed, tol = Loss(cfg.loss), config["seed"], config["tol"]
    fs = _full(model, loss, train, config)
    full = {
        "fullbs": fs.fullbs,
        "residual": fs.residual,
        "converged": fs.converged,
        "n_matvecs": fs.n_matvecs,
        "seconds": fs.seconds,
    }
    out.append("fullbs", {"step": config["step"], **full})
    _say(quiet, f"FullBS {fs.fullbs:.5g} (residual {fs.residual:.2g})")
    if not fs.converged:
        _warn(f"FullBS did not converge (residual {fs.residual:.3g} > tol {tol:g})")
    rows = []
    for b in config["batch_sizes"]:
        res = minibatch_sharpness(
            model,
            loss,
            train,
            batch_size=b,
            n_batches=config["n_batches"],
            rng=numpy_rng(seed, f"static_b{b}"),
            tol=tol,
            batch_sharpness=True,
            full_vector=fs.eigenvector,
            bn_mode=config["bn_mode"],
        )
        row = _row(b, config["n_batches"], res, fs.fullbs)
        out.append("static_gap", {"step": config["step"], **row})
        rows.append(row)
        _say(
            quiet,
            f"b={b}: MiniBS {row['minibs']:.5g} ± {row['minibs_se']:.2g}, "
            f"gap {row['gap']:.4g}, gap_cv {row['gap_cv']:.4g}",
        )
        if row["n_converged"] < row["n_batches"]:
            _warn(
                f"b={b}: {row['n_batches'] - row['n_converged']} of "
                f"{row['n_batches']} batch solves did not converge "
                f"(max residual {row['residual_max']:.3g})"
            )
    return rows, full


def _row(b: int, k: int, res: Any, fullbs: float) -> dict[str, Any]:
    import numpy as np

    return {
        "batch_size": b,
        "n_batches": k,
        "minibs": res.minibs,
        "minibs_se": res.minibs_se,
        "fullbs": fullbs,
        "gap": res.minibs - fullbs,
        "gap_se": res.minibs_se,
        "gap_cv": res.gap_cv,
        "gap_cv_se": res.gap_cv_se,
        "batch_sharpness": res.batch_sharpness,
        "batch_sharpness_se": res.batch_sharpness_se,
        "residual_max": float(np.max(res.residuals)),
        "n_converged": int(np.sum(res.converged)),
        "n_matvecs": res.n_matvecs,
        "seconds": res.seconds,
    }


def _warn(text: str) -> None:
    """A warning on stderr, printed even with ``--quiet``."""
    print(f"eoss static-gap: warning: {text}", file=sys.stderr, flush=True)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(f"eoss static-gap: {text}", file=sys.stderr, flush=True)
