"""``eoss train``: SGD/GD on a data set with sharpness tracking, resumable.

Examples::

    eoss train --preset cpu-mlp --data-root ../shared/data --out reports/runs
    eoss train --preset cpu-mlp --set batch_size=16 --set lr=0.01 --out DIR
    eoss train --config my.json --set track.minibs.every=100
    eoss train --resume DIR/train/<name>
    eoss train --fork DIR/train/<name>:5000 --set lr=0.02 --out DIR
    eoss train --fork DIR/train/<name> --config fork.json --out DIR

Under ``torchrun --nproc-per-node=R -m eoss train ...`` every rank trains the same
replica (same seed, batches and updates) while FullBS and MiniBS / batch sharpness
are split over the ranks; rank 0 alone writes the run folder and the others exit
with its status (:mod:`eoss.analysis.cli.train_ranks`)::

    torchrun --nproc-per-node=4 -m eoss train --preset paper-mlp --out runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eoss.analysis.cli.main import UsageError

NAME = "train"
HELP = "train a network with SGD/GD and track MiniBS, FullBS, batch sharpness"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss train``.

    Args:
        p: The subcommand's parser.
    """
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="start from a named preset (see docs)")
    src.add_argument("--config", help="start from a JSON config file")
    src.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run")
    p.add_argument(
        "--fork",
        metavar="RUN_DIR[:STEP]",
        help="new run from a checkpoint of another (default: its newest), "
        "with --set changes (e.g. lr, batch_size, steps) or the full config "
        "of --config (model, data, seed, dtype and loss must match the source)",
    )
    add_run_arguments(p)
    p.add_argument("--name", help="run folder name (default: <UTC time>_<hash>)")
    p.add_argument(
        "--model",
        metavar="PKG.MODULE:FACTORY",
        help="train your own network: a factory returning an nn.Module, called "
        "as factory() or factory(input_shape, num_classes) (docs/spectral-core.md)",
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``train`` and ``sweep``.

    Args:
        p: The parser.
    """
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. lr=0.01 or track.minibs.every=100",
    )
    p.add_argument("--out", default="reports/runs", help="output root folder")
    p.add_argument(
        "--data-root",
        help="folder holding cifar-10-batches-py (default: $EOSS_DATA_ROOT)",
    )
    p.add_argument(
        "--data", metavar="FILE.npz", help="train on your arrays X (float), y (int)"
    )
    p.add_argument(
        "--device", help="torch device (default: cuda when available, else cpu)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_device(arg: str | None) -> str:
    """The torch device to use, validated.

    Args:
        arg: ``--device`` value or None.

    Returns:
        A device string (``cpu``, ``cuda`` or ``cuda:<index>``).

    Raises:
        ValueError: If the device is malformed, not cpu/cuda, or unavailable.
    """
    import torch

    if arg is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(arg)
    except (RuntimeError, ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split())
        raise ValueError(f"bad --device {arg!r}: {reason}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {arg}: only cpu and cuda[:N] are supported")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {arg}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {arg}: this machine has {torch.cuda.device_count()} "
                "CUDA device(s)"
            )
    if dev.type == "cpu" and dev.index not in (None, 0):
        raise ValueError(f"--device {arg}: use cpu")
    return str(dev)


def base_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config dict before ``--set``: preset, JSON file, or defaults.

    Args:
        args: Parsed arguments.

    Returns:
        Nested dict of config fields.
    """
    from eoss.analysis.cli.overrides import load_json_config
    from eoss.empirical.training.presets import preset

    if args.preset:
        base = preset(args.preset)
    elif args.config:
        base = load_json_config(args.config)
    else:
        base = {}
    if args.data:
        base.setdefault("data", {})
        base["data"].update({"name": "npz", "path": str(Path(args.data).resolve())})
    return base


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss train`` (one process, or one rank of a ``torchrun`` job).

    Args:
        args: Parsed arguments.

    Returns:
        0 when finished or diverged (recorded), 130 when interrupted.
    """
    from eoss.empirical.distributed import launched_by_torchrun

    if launched_by_torchrun():
        from eoss.analysis.cli.train_ranks import handle_ranks

        return handle_ranks(args, _train, resolve_device)
    return _train(args)


def _train(
    args: argparse.Namespace, device: str | None = None, ranks: Any = None
) -> int:
    """``eoss train`` proper (under torchrun: on rank 0).

    Args:
        args: Parsed arguments.
        device: Under torchrun, this rank's device (else from ``--device``).
        ranks: Under torchrun, the :class:`~eoss.analysis.cli.train_ranks.Leader`.

    Returns:
        The exit code.

    Raises:
        UsageError: On incompatible options.
    """
    from eoss.analysis import records
    from eoss.analysis.cli.data_root import resolve_data_root
    from eoss.analysis.cli.runs import RunContext

    if args.fork and (args.preset or args.resume):
        raise UsageError("--fork takes no --preset or --resume")
    if args.resume and (args.set or args.data or args.name):
        raise UsageError("--resume takes no --set, --data or --name")
    if args.fork and args.data:
        raise UsageError("--fork keeps the source run's data; drop --data")
    if args.name is not None:
        records.check_name(args.name)
    if not args.resume:
        records.check_output_dir(args.out)
    _user_model(args)
    ctx = RunContext(
        device=device or resolve_device(args.device),
        data_root=resolve_data_root(args.data_root),
        quiet=args.quiet,
        ranks=ranks,
    )
    if args.resume:
        return _resume(Path(args.resume), ctx)
    if args.fork:
        return _fork(args, ctx)
    return _fresh(args, ctx)


def _user_model(args: argparse.Namespace) -> None:
    """``--model pkg.module:factory``, and the factory of a resumed / forked run."""
    from eoss.analysis.cli.model_factory import register_factory, register_run_model

    if args.model and args.resume:
        raise UsageError("--resume takes no --model (the run's own is used)")
    if args.model:  # the factory becomes the config's model.name
        args.set = [f"model.name={register_factory(args.model)}", *args.set]
    for stored in (args.resume, args.fork):
        if stored:
            register_run_model(stored)


def _fresh(args: argparse.Namespace, ctx: Any) -> int:
    from eoss.analysis.cli.data_root import load_for_config
    from eoss.analysis.cli.overrides import apply_overrides
    from eoss.analysis.cli.runs import create_run, execute, preflight
    from eoss.empirical.training.config import TrainConfig

    cfg = apply_overrides(TrainConfig, base_config(args), args.set)
    _check_new(args, cfg)
    data = load_for_config(cfg.data, seed=cfg.seed, root=ctx.data_root)
    preflight(cfg, data, ctx.device)
    _check_ranks(ctx, cfg, data)
    run = create_run(cfg, args.out, ctx, data, name=args.name)
    try:
        return _report(run.path, execute(run, cfg, ctx, data))
    finally:
        run.unlock()


def _check_ranks(ctx: Any, cfg: Any, data: Any) -> None:
    """Under torchrun: the config must split over the ranks (before any write)."""
    if ctx.ranks is not None:
        ctx.ranks.check(cfg, len(data[0]))


def _check_new(args: argparse.Namespace, cfg: Any) -> None:
    """The run folder a fresh run or fork would make must not exist yet."""
    from eoss.analysis import records
    from eoss.analysis.cli.overrides import to_dict

    path = records.planned_path(args.out, "train", to_dict(cfg), args.name)
    records.check_output_dir(path, "run folder", new=True)


def _resume(run_dir: Path, ctx: Any) -> int:
    from eoss.analysis import records
    from eoss.analysis.cli.continuation import commit_resume, prepare_resume
    from eoss.analysis.cli.runs import execute

    run = records.RunDir.open(run_dir).lock()
    try:
        status = run.status.get("status")
        if status in ("finished", "diverged"):
            print(
                f"eoss train: {run_dir} already {status}; nothing to do",
                file=sys.stderr,
            )
            return 0
        plan = prepare_resume(run, ctx)
        _check_ranks(ctx, plan.cfg, plan.data)
        commit_resume(plan)
        hist = execute(
            run, plan.cfg, ctx, plan.data, state=plan.state, protect=plan.protect
        )
        return _report(run.path, hist)
    finally:
        run.unlock()


def _fork(args: argparse.Namespace, ctx: Any) -> int:
    from eoss.analysis.cli.continuation import fork_config, write_fork_origin
    from eoss.analysis.cli.data_root import load_for_config
    from eoss.analysis.cli.overrides import load_json_config
    from eoss.analysis.cli.runs import (
        create_run,
        execute,
        load_run_config,
        load_state,
        parse_run_spec,
        preflight,
    )

    src_dir, step = parse_run_spec(args.fork)
    src_cfg = load_run_config(src_dir)
    step, state = load_state(src_dir, step)
    target = load_json_config(args.config) if args.config else None
    cfg, changed = fork_config(src_cfg, args.set, step, target=target)
    _check_new(args, cfg)
    data = load_for_config(cfg.data, seed=cfg.seed, root=ctx.data_root)
    preflight(cfg, data, ctx.device, state)
    _check_ranks(ctx, cfg, data)
    origin: dict[str, Any] = {
        "run": str(src_dir.resolve()),
        "step": step,
        "set": list(args.set),
        "changed": [
            [key, old, new]
            for key, (old, new) in changed.items()
            if key in ("lr", "batch_size")
        ],
    }
    if args.config:
        origin["config"] = str(Path(args.config).resolve())
    run = create_run(
        cfg, args.out, ctx, data, name=args.name, extra_env={"fork": origin}
    )
    try:
        write_fork_origin(run, cfg, origin, state)
        hist = execute(run, cfg, ctx, data, state=state, protect=(step,))
        return _report(run.path, hist)
    finally:
        run.unlock()


def _report(path: Path, hist: Any) -> int:
    """Print the run folder (stdout) and a one-line summary (stderr)."""
    last = hist.last
    bits = [f"{hist.status} at step {hist.step}"]
    if "minibs" in last and "lr" in last:
        bits.append(f"MiniBS·η/2 {last['minibs'] * last['lr'] / 2:.3f}")
    if "fullbs" in last and "lr" in last:
        bits.append(f"FullBS·η/2 {last['fullbs'] * last['lr'] / 2:.3f}")
    if hist.reason:
        bits.append(f"({hist.reason})")
    print(f"eoss train: {', '.join(bits)}; {hist.seconds:.1f} s", file=sys.stderr)
    print(path)
    return 130 if hist.status == "interrupted" else 0
