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
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eoss.analysis import records
from eoss.analysis.cli.overrides import from_dict, to_dict
from eoss.analysis.cli.progress import ProgressBar, StopRequest
from eoss.analysis.records.checkpoints import (
    CKPT_DIR,
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
    """
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise FileNotFoundError(f"{run_dir} has no checkpoints")
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
    """

    device: str = "cpu"
    data_root: Path | None = None
    quiet: bool = False


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
    env.update(extra_env or {})
    return records.RunDir.create(out, "train", to_dict(cfg), name=name, env=env)


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


def prepare_resume(
    run_dir: str | Path,
) -> tuple[records.RunDir, TrainConfig, dict | None]:
    """Open a run for ``--resume``: newest checkpoint, metrics cut back to it.

    Args:
        run_dir: The run directory.

    Returns:
        (run, config, state or None when the run has no checkpoint yet).
    """
    from eoss.empirical.training.rows import EventRow

    run = records.RunDir.open(run_dir)
    cfg = load_run_config(run_dir)
    for tmp in (run.path / CKPT_DIR).glob(".step_*.tmp"):  # left by a kill
        records.delete_file(tmp)
    steps = checkpoint_steps(run_dir)
    state = None if not steps else load_state(run_dir, steps[-1])[1]
    start = 0 if state is None else int(state["step"])
    old = [r.get("step") for r in run.records()]
    records.rewrite_jsonl(run.path / "metrics.jsonl", lambda r: _kept(r, start))
    last_seen = max((s for s in old if s is not None), default=None)
    run.append_row(EventRow(start, "resume", last_seen, start))
    return run, cfg, state


def _kept(rec: dict[str, Any], start: int) -> bool:
    """Records older than the resume step, and the log of earlier resumes/forks."""
    lineage = rec.get("table") == "event" and rec.get("kind") in ("resume", "fork")
    return lineage or int(rec.get("step", 0)) < start


FORK_FIXED = ("model", "data", "seed", "dtype", "loss")


def fork_config(
    src: TrainConfig,
    sets: list[str],
    step: int,
    *,
    target: Mapping[str, Any] | None = None,
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config of a fork: the source's (or ``target``) with ``--set`` overrides.

    Args:
        src: The source run's config.
        sets: ``key=value`` overrides (lr, batch_size, steps, schedule, ...).
        step: The step the fork starts from.
        target: A config for the fork (``eoss train --fork RUN --config FILE``,
            e.g. composed by ``eoss reproduce``) instead of the source's; it must
            agree with the source on the fields a fork cannot change.

    Returns:
        (new config, {field: (old, new)} of the changed top-level fields).

    Raises:
        ValueError: If an override changes the model, data, seed, dtype or
            loss (the checkpoint would not fit), or steps ≤ the fork step.
    """
    from eoss.analysis.cli.overrides import apply_overrides
    from eoss.empirical.training.config import TrainConfig

    old = to_dict(src)
    cfg = apply_overrides(TrainConfig, old if target is None else dict(target), sets)
    new = to_dict(cfg)
    changed = {k: (old[k], new[k]) for k in new if old[k] != new[k]}
    bad = sorted(set(changed) & set(FORK_FIXED))
    if bad:
        raise ValueError(f"a fork cannot change {', '.join(bad)} (the state must fit)")
    if cfg.steps <= step:
        raise ValueError(f"steps={cfg.steps} must exceed the fork step {step}")
    return cfg, changed
