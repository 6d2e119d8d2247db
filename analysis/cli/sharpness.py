r"""``eoss sharpness``: FullBS, MiniBS, batch sharpness and the gap of a model.

Measures, on the model's training data:

* FullBS = λ_max(∇²L) over every row (Lanczos, residual-certified);
* MiniBS = mean over K batches of λ_max(∇²L_B), with its standard error;
* batch sharpness = mean of g_Bᵀ ∇²L_B g_B / ‖g_B‖², with its SE;
* gap = MiniBS − FullBS (SE of MiniBS) and the control-variate gap
  mean(λ_max(∇²L_B) − vᵀ∇²L_B v), v the full-batch top eigenvector.

The model is either built at its seeded initialisation (any registered
architecture) on ``--data FILE.npz`` (``X`` float features used exactly as given,
``y`` integer labels or float targets) or ``--dataset cifar10|synthetic``, or read
from a training run with ``--checkpoint RUN_DIR[:STEP]`` (then measured on that
run's own training subset with its loss).

Examples::

    eoss sharpness --model mlp --width 128 --data data.npz --loss mse \\
        --batch-size 16 --batches 32 --seed 0 --json
    eoss sharpness --model linear --data data.npz --batch-size 8 --batches 64
    eoss sharpness --dataset cifar10 --n 2048 --model cnn --batch-size 16
    eoss sharpness --checkpoint reports/runs/train/<run>:5000 --batch-size 64

Data-parallel: launched under ``torchrun --nproc-per-node=R``, the ranks join one
process group (gloo on ``--device cpu``, nccl with one GPU per rank on
``--device cuda``), split the full-batch rows and the K mini-batches between
them (:mod:`eoss.empirical.distributed`) and rank 0 alone prints and writes
``--out``; the numbers equal the one-process ones to float rounding::

    torchrun --nproc-per-node=4 -m eoss sharpness --dataset cifar10 --n 8192 \
        --model cnn --batch-size 16 --device cuda --out sharpness.json

The measurement itself is
:func:`eoss.analysis.cli.sharpness_measure.measure_sharpness` (already-built model
and data set in, JSON-safe dict out; re-exported here), so other sources of models
and data (a data-set name, a checkpoint) only need to build those two objects, in
:func:`build_inputs`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eoss.analysis.cli.main import UsageError
from eoss.analysis.cli.sharpness_measure import format_table, measure_sharpness

__all__ = [
    "add_arguments",
    "build_inputs",
    "format_table",
    "handle",
    "measure_sharpness",
]

NAME = "sharpness"
HELP = "measure FullBS, MiniBS, batch sharpness and the gap of a model at its init"

_LOSSES = ("mse", "mse_half", "mse_mean", "ce")
_METHODS = ("auto", "range", "reduced", "plain", "loop")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss sharpness``.

    Args:
        p: The subcommand's parser.
    """
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help=".npz file with arrays X and y (used as given)")
    src.add_argument(
        "--dataset",
        choices=("cifar10", "synthetic"),
        help="a named data set: a seeded subset of --n CIFAR-10 training images "
        "(normalised as in eoss train) or the synthetic mixture",
    )
    src.add_argument(
        "--checkpoint",
        metavar="RUN_DIR[:STEP]",
        help="measure a trained network from an eoss train run (newest checkpoint "
        "unless :STEP), on that run's own training subset and loss",
    )
    p.add_argument(
        "--model",
        default="mlp",
        help="architecture: linear, mlp, cnn, resnet10, resnet14 (see "
        "eoss.empirical.models.MODEL_REGISTRY; ignored with --checkpoint), or "
        "your own pkg.module:factory (docs/spectral-core.md)",
    )
    p.add_argument("--width", type=int, default=512, help="MLP hidden width")
    p.add_argument("--depth", type=int, default=2, help="MLP hidden layers")
    p.add_argument(
        "--init-scale",
        type=float,
        default=1.0,
        help="multiplier on Kaiming weights (default: 1.0, plain Kaiming; the "
        "training presets and eoss reproduce use 0.2, and --checkpoint uses the "
        "run's own)",
    )
    p.add_argument(
        "--batchnorm", action="store_true", help="conv nets: add BatchNorm layers"
    )
    p.add_argument("--n", type=int, default=8192, help="--dataset: training points")
    p.add_argument("--data-root", help="CIFAR-10 data root (default: $EOSS_DATA_ROOT)")
    p.add_argument(
        "--loss",
        default=None,
        choices=_LOSSES,
        help="loss convention (default mse; a checkpoint's own loss otherwise)",
    )
    p.add_argument("--batch-size", type=int, required=True, help="mini-batch size b")
    p.add_argument(
        "--batches", type=int, default=32, help="number of mini-batches K (>= 2)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of init, batches, solver")
    p.add_argument(
        "--chunk-size", type=int, default=1024, help="rows per full-batch HVP chunk"
    )
    p.add_argument("--tol", type=float, default=1e-3, help="relative residual target")
    p.add_argument(
        "--max-iter", type=int, default=200, help="Lanczos step cap per eigenvalue"
    )
    p.add_argument(
        "--method", default="auto", choices=_METHODS, help="mini-batch solver path"
    )
    p.add_argument(
        "--dtype", default="float32", choices=("float32", "float64"), help="precision"
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device: cpu, cuda or cuda:N (under torchrun: one GPU per rank)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", help="also write the JSON result to this file")


def _check(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.batches < 2:
        raise UsageError(
            f"--batches must be >= 2 (for a standard error), got {args.batches}"
        )
    if args.chunk_size < 1:
        raise UsageError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    if not 0 < args.tol < 1:
        raise UsageError(f"--tol must be in (0, 1), got {args.tol}")
    if args.max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1, got {args.max_iter}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    if args.out:
        from eoss.analysis.records.outputs import check_output_file

        check_output_file(args.out)  # before the whole computation


def _stderr(line: str) -> None:
    print(f"eoss sharpness: {line}", file=sys.stderr, flush=True)


def handle(args: argparse.Namespace) -> int:
    """Build the model and data, measure, print.

    Args:
        args: Parsed arguments.

    Returns:
        Exit code 0.
    """
    _check(args)
    from eoss.analysis.cli.train import resolve_device
    from eoss.empirical import distributed

    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    model, data, model_info = build_inputs(args)
    group = None
    if distributed.launched_by_torchrun():
        group, device = distributed.init_from_env(device)
    if group is None:
        return _measure_and_print(args, model.to(device), data, model_info, group)
    import torch.distributed as dist

    try:
        code = _measure_and_print(args, model.to(device), data, model_info, group)
        # every rank done with its collectives before any tears gloo down (a rank
        # that exits first can abort its peer: "terminate called without an
        # active exception", seen once in CI)
        dist.barrier(group)
        return code
    finally:
        dist.destroy_process_group()


def _measure_and_print(
    args: argparse.Namespace, model: Any, data: Any, info: dict[str, Any], group: Any
) -> int:
    """Measure; rank 0 (or the only process) prints and writes ``--out``."""
    from eoss.empirical.distributed import rank_and_size
    from eoss.empirical.losses import Loss

    loss_name = args.loss or info.pop("loss", "mse")
    rank, size = rank_and_size(group)
    result = measure_sharpness(
        model,
        Loss(loss_name),
        data,
        batch_size=args.batch_size,
        n_batches=args.batches,
        seed=args.seed,
        chunk_size=args.chunk_size,
        tol=args.tol,
        method=args.method,
        max_iter=args.max_iter,
        progress=_stderr if rank == 0 else None,
        process_group=group,
    )
    result["model"] = info
    result["world_size"] = size
    if rank != 0:
        return 0
    for warning in result["warnings"]:
        _stderr(f"warning: {warning}")
    if args.out:
        from eoss.analysis.records.io import write_json

        write_json(Path(args.out), result)
    if args.json:
        from eoss.analysis.records.io import dumps

        print(dumps(result))
    else:
        print(format_table(result))
    return 0


def build_inputs(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """The model and the data set named by ``args``.

    Three sources: ``--checkpoint`` (a trained network and its own training
    subset), ``--dataset`` (a named data set) or ``--data`` (a user's ``.npz``); with
    the latter two the model is built at its seeded initialisation.

    Args:
        args: Parsed arguments.

    Returns:
        (model, data set in the model's dtype, JSON-safe description of the model).

    Raises:
        UsageError: If the batch size exceeds the data set.
    """
    if args.checkpoint:
        model, data, info = _from_checkpoint(args)
    else:
        model, data, info = _fresh_model(args)
    if args.batch_size > len(data):
        raise UsageError(
            f"--batch-size {args.batch_size} exceeds the {len(data)} rows of the data"
        )
    return model, data, info


def _fresh_model(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    from eoss.analysis.cli.model_factory import factory_model, is_factory_spec
    from eoss.empirical.data.arrays import load_npz
    from eoss.empirical.models import ModelSpec, build_model
    from eoss.empirical.rng import torch_gen

    dtype = getattr(torch, args.dtype)
    if args.data:
        data = load_npz(args.data)
    else:
        from eoss.analysis.cli.data_root import load_dataset

        data = load_dataset(args.dataset, n=args.n, seed=args.seed, root=args.data_root)
    data = data.to("cpu", dtype)
    if is_factory_spec(args.model):  # a user's pkg.module:factory
        return factory_model(args.model, data, args.seed, args.dtype)
    spec = ModelSpec(
        args.model, args.width, args.depth, args.init_scale, batchnorm=args.batchnorm
    )
    from eoss.analysis.cli.limits import check_problem

    check_problem(spec, data.input_shape, data.num_classes, len(data), args.dtype)
    gen = torch_gen(args.seed, "init")
    model = build_model(spec, data.input_shape, data.num_classes, gen, dtype=dtype)
    info = {
        "source": "init",
        "name": spec.name,
        "width": spec.width,
        "depth": spec.depth,
        "init_scale": spec.init_scale,
        "batchnorm": spec.batchnorm,
        "dtype": args.dtype,
        "n_params": sum(p.numel() for p in model.parameters()),
        "init_seed_stream": "init",
        "data": data.name,
        "data_provenance": data.provenance,
    }
    return model, data, info


def _from_checkpoint(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    from eoss.analysis.cli.model_factory import register_run_model
    from eoss.analysis.cli.runs import load_model

    register_run_model(args.checkpoint)  # a run trained with --model pkg.mod:fn
    model, cfg, step, data = load_model(args.checkpoint, data_root=args.data_root)
    dtype = getattr(torch, args.dtype)
    model = model.to(dtype)
    data = data.to("cpu", dtype)
    info = {
        "source": "checkpoint",
        "checkpoint": args.checkpoint,
        "step": step,
        "name": cfg.model.name,
        "dtype": args.dtype,
        "n_params": sum(p.numel() for p in model.parameters()),
        "loss": cfg.loss,
        "data": data.name,
        "data_provenance": data.provenance,
    }
    return model, data, info
