"""Training-run management on top of :mod:`eoss.analysis.records.io`.

A training run lives in ``<out>/train/<name>/`` (docs/records.md): ``config.json``,
``env.json``, ``status.json``, ``metrics.jsonl`` and ``checkpoints/step_<STEP>.pt``.
This module creates, resumes and forks such runs and drives
:func:`eoss.empirical.training.loop.run` with callbacks that append records, rotate
checkpoints, update the status and draw a progress bar.

Status transitions: ``running`` on start and resume; ``finished``, ``diverged`` or
``interrupted`` (Ctrl-C / SIGTERM: a checkpoint of the current step is written
first) at the end; ``failed`` on an unexpected exception. A run killed with
SIGKILL stays ``running``; ``--resume`` continues it from its last checkpoint and
drops the records newer than that checkpoint (they are regenerated; on the CPU
identically).

Every writer holds the run folder's lock (:mod:`eoss.analysis.records.lock`) from
creation (or the start of a resume) to the final status. Everything that can be
refused is checked before a folder is made or a file rewritten
(:func:`preflight`): a resume whose config, data or model differ from the
recorded ones, or whose checkpoint does not load, leaves the run untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eoss.analysis import records
from eoss.analysis.cli.overrides import from_dict, to_dict
from eoss.analysis.cli.progress import ProgressBar, StopRequest
from eoss.analysis.records.checkpoints import (
    CheckpointKeeper,
    checkpoint_path,
    checkpoint_steps,
)

if TYPE_CHECKING:
    from eoss.empirical.data.arrays import ArrayDataset
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.loop import TrainHistory

STREAMS = ("init", "batches", "noise", "data", "cifar_subset", "cifar_test")


def parse_run_spec(spec: str) -> tuple[Path, int | None]:
    """Split ``RUN_DIR[:STEP]``.

    Args:
        spec: A run directory, optionally followed by ``:STEP``.

    Returns:
        (run directory, step or None).

    Raises:
        ValueError: If STEP is not a non-negative integer.
    """
    head, sep, tail = spec.rpartition(":")
    if sep and head and not Path(spec).exists():
        if not tail.isdigit():
            raise ValueError(f"expected RUN_DIR[:STEP], got {spec!r}")
        return Path(head), int(tail)
    return Path(spec), None


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run directory.

    Args:
        run_dir: The run directory.

    Returns:
        The config.
    """
    from eoss.empirical.training.config import TrainConfig

    return from_dict(TrainConfig, records.RunDir.open(run_dir).config)


def load_state(run_dir: str | Path, step: int | None = None) -> tuple[int, dict]:
    """A checkpoint state of a run (default: the newest).

    Args:
        run_dir: The run directory.
        step: The checkpoint's step, or None for the newest.

    Returns:
        (step, state).

    Raises:
        FileNotFoundError: If the run has no (such) checkpoint.
        ValueError: If the step's state is marked diverged, or unreadable.
    """
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"no run directory at {run_dir}")
    steps = checkpoint_steps(run_dir)
    if step is not None and step in records.diverged_steps(run_dir):
        good = [s for s in steps if s < step]
        raise ValueError(
            f"the checkpoint of {run_dir} at step {step} is marked diverged; "
            + (f"the last good one is step {good[-1]}" if good else "none is good")
        )
    if not steps:
        raise FileNotFoundError(f"{run_dir} has no (good) checkpoints")
    if step is None:
        step = steps[-1]
    if step not in steps:
        raise FileNotFoundError(
            f"{run_dir} has no checkpoint at step {step}; available: "
            f"{', '.join(map(str, steps))}"
        )
    return step, records.load_checkpoint(checkpoint_path(run_dir, step))


def load_model(
    spec: str, *, device: str = "cpu", data_root: str | None = None
) -> tuple[Any, TrainConfig, int, ArrayDataset]:
    """The network of ``RUN_DIR[:STEP]`` with its config and training data.

    Args:
        spec: ``RUN_DIR`` (newest checkpoint) or ``RUN_DIR:STEP``.
        device: Torch device.
        data_root: CIFAR-10 data root (else ``$EOSS_DATA_ROOT``).

    Returns:
        (model in train mode on ``device``, config, step, training subset).
    """
    from eoss.analysis.cli.data_root import load_for_config, resolve_data_root
    from eoss.empirical.training.loop import build_trainer

    run_dir, step = parse_run_spec(spec)
    cfg = load_run_config(run_dir)
    step, state = load_state(run_dir, step)
    data = load_for_config(cfg.data, seed=cfg.seed, root=resolve_data_root(data_root))
    trainer = build_trainer(cfg, data=data, device=device, state=state)
    return trainer.model, cfg, step, trainer.train


# ---- run lifecycle ----------------------------------------------------------
@dataclass(frozen=True)
class RunContext:
    """Where and how a run executes (not part of its config).

    Attributes:
        device: Torch device string.
        data_root: CIFAR-10 data root or None.
        quiet: No progress bar.
        ranks: Under ``torchrun``, rank 0's
            :class:`~eoss.analysis.cli.train_ranks.Leader` (it starts the other
            ranks when training begins); None in one process.
    """

    device: str = "cpu"
    data_root: Path | None = None
    quiet: bool = False
    ranks: Any = None


def create_run(
    cfg: TrainConfig,
    out: str | Path,
    ctx: RunContext,
    data: tuple[ArrayDataset, ArrayDataset | None],
    *,
    name: str | None = None,
    extra_env: dict[str, Any] | None = None,
) -> records.RunDir:
    """Make ``out/train/<name>`` with config.json, env.json and status.

    Args:
        cfg: The resolved config.
        out: Output root.
        ctx: Execution context (recorded in env.json).
        data: The loaded (train, test), whose provenance is recorded.
        name: Folder name (default ``<UTC time>_<config hash>``).
        extra_env: More facts for env.json (e.g. fork origin).

    Returns:
        The run directory.
    """
    from eoss.empirical.rng import stream_table

    env = records.env_info(device=ctx.device, seeds=stream_table(cfg.seed, STREAMS))
    env["data_root"] = None if ctx.data_root is None else str(ctx.data_root)
    env["data"] = data[0].provenance
    env["data_sha256"] = data_digest(data[0])
    env["config_hash"] = records.config_hash(to_dict(cfg))
    if ctx.ranks is not None:
        env["world_size"] = ctx.ranks.size
    env.update(extra_env or {})
    return records.RunDir.create(out, "train", to_dict(cfg), name=name, env=env)


def data_digest(data: ArrayDataset) -> str:
    """SHA-256 of a data set's arrays (inputs, then targets), as recorded at create.

    Args:
        data: The training set.

    Returns:
        The hex digest.
    """
    import hashlib

    h = hashlib.sha256()
    for t in (data.X, data.y):
        arr = t.detach().cpu().contiguous().numpy()
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def preflight(
    cfg: TrainConfig,
    data: tuple[ArrayDataset, ArrayDataset | None],
    device: str,
    state: dict[str, Any] | None = None,
) -> None:
    """Everything that would make a run fail at its start, checked up front.

    Sizes against memory, batch sizes against the data, the model on the data
    (built and evaluated once) and the checkpoint state on the model.

    Args:
        cfg: The config.
        data: (train, test).
        device: Torch device.
        state: A checkpoint state to continue from.

    Raises:
        ValueError: With a one-line reason.
    """
    import torch

    from eoss.analysis.cli.limits import check_problem
    from eoss.empirical.training.trainer import Trainer, check_fit

    train = data[0]
    n_out, n = train.num_classes, len(train)
    check_problem(cfg.model, train.input_shape, n_out, n, cfg.dtype)
    check_fit(cfg, len(train), state)
    try:
        trainer = Trainer(cfg, train, None, torch.device(device))
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:200]
        raise ValueError(
            f"model {cfg.model.name} cannot run on inputs of shape "
            f"{train.input_shape} with {train.num_classes} outputs: {first}"
        ) from None
    if state is not None:
        trainer.load_state_dict(state)


def execute(
    run: records.RunDir,
    cfg: TrainConfig,
    ctx: RunContext,
    data: tuple[ArrayDataset, ArrayDataset | None],
    *,
    state: dict[str, Any] | None = None,
    protect: tuple[int, ...] = (),
) -> TrainHistory:
    """Train in ``run`` and keep its status, metrics and checkpoints current.

    Args:
        run: The run directory (status is set to running).
        cfg: The config.
        ctx: Execution context.
        data: (train, test).
        state: Checkpoint state to continue from.
        protect: Checkpoint steps never rotated away.

    Returns:
        The training history.
    """
    from eoss.empirical.training.loop import run as train_run

    keeper = CheckpointKeeper(
        run.path, cfg.checkpoint.keep_last, cfg.checkpoint.keep_every, protect
    )
    start = 0 if state is None else int(state["step"])
    bar = ProgressBar(cfg.steps, start, quiet=ctx.quiet)
    run.set_status("running", step=start)
    t0 = time.perf_counter()
    try:
        group = None  # under torchrun: start the other ranks (analysis.cli.train_ranks)
        if ctx.ranks is not None:
            group = ctx.ranks.start(cfg, state, data, ctx.data_root)
        with StopRequest() as stop:
            hist = train_run(
                cfg,
                state=state,
                data=data,
                device=ctx.device,
                on_record=run.append,
                on_checkpoint=keeper.save,
                progress=bar,
                should_stop=stop,
                process_group=group,
            )
    except BaseException as exc:
        bar.close()
        _record_failure(run, exc, time.perf_counter() - t0)
        raise
    finally:
        run.close()
    bar.close()
    run.set_status(
        hist.status,
        step=hist.step,
        last_checkpoint=(checkpoint_steps(run.path) or [None])[-1],
        reason=hist.reason,
        seconds=hist.seconds,
        last=hist.last,
    )
    return hist


def _record_failure(run: records.RunDir, exc: BaseException, seconds: float) -> None:
    """Status ``interrupted`` (Ctrl-C twice) or ``failed`` with a one-line reason."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    run.set_status(
        status,
        reason=" ".join(str(exc).split()) or type(exc).__name__,
        last_checkpoint=(checkpoint_steps(run.path) or [None])[-1],
        seconds=seconds,
    )
