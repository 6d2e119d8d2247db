"""Continuing a training run: resume plans, fork origins and fork configs.

``eoss train --resume`` goes through :func:`prepare_resume` (checks only: the run's
config, data and newest checkpoint must be the recorded ones) and then
:func:`commit_resume` (cuts ``metrics.jsonl`` back to the checkpoint); a refusal
in the first step leaves the run untouched. ``eoss train --fork`` composes its
config with :func:`fork_config` and makes its origin durable at once with
:func:`write_fork_origin` (the protected fork-step checkpoint and the fork's
``event`` rows, marked ``reason="fork"`` so that a resume keeps them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eoss.analysis import records
from eoss.analysis.cli.overrides import to_dict
from eoss.analysis.cli.runs import (
    RunContext,
    data_digest,
    load_run_config,
    load_state,
    preflight,
)
from eoss.analysis.records.checkpoints import (
    CKPT_DIR,
    CheckpointKeeper,
    checkpoint_steps,
)

if TYPE_CHECKING:
    from eoss.empirical.data.arrays import ArrayDataset
    from eoss.empirical.training.config import TrainConfig


@dataclass(frozen=True)
class Resume:
    """A checked plan to continue a run (nothing written yet).

    Attributes:
        run: The run directory (locked by this process).
        cfg: Its config.
        data: (train, test), the same data as recorded.
        state: The newest good checkpoint's state, or None (none written yet).
        protect: Checkpoint steps never rotated away (a fork's origin).
        fork: The fork origin from env.json, or None for a fresh run.
    """

    run: records.RunDir
    cfg: TrainConfig
    data: tuple[ArrayDataset, ArrayDataset | None]
    state: dict[str, Any] | None
    protect: tuple[int, ...]
    fork: dict[str, Any] | None


def prepare_resume(run: records.RunDir, ctx: RunContext) -> Resume:
    """Check that ``run`` can continue exactly as recorded; write nothing.

    Refuses (one line) when ``config.json`` was changed since the run was made,
    when the data now loaded differ from the recorded ones (SHA-256 of the
    arrays), or when the newest checkpoint does not load into the model. A fork
    killed before its first checkpoint continues from its origin, re-read from
    the source run.

    Args:
        run: The run directory, locked.
        ctx: Execution context.

    Returns:
        The plan for :func:`commit_resume` and :func:`execute`.

    Raises:
        ValueError: If the run cannot continue as recorded.
    """
    from eoss.analysis.cli.data_root import load_for_config

    cfg = load_run_config(run.path)
    env = _read_env(run.path)
    recorded = env.get("config_hash")
    if recorded and recorded != records.config_hash(to_dict(cfg)):
        raise ValueError(
            f"{run.path / 'config.json'} differs from the config the run was "
            "made with; restore it or start a new run"
        )
    fork = env.get("fork") if isinstance(env.get("fork"), dict) else None
    steps = checkpoint_steps(run.path)
    if steps:
        state = load_state(run.path, steps[-1])[1]
    elif fork is not None:
        state = load_state(Path(fork["run"]), int(fork["step"]))[1]
    else:
        state = None
    data = load_for_config(cfg.data, seed=cfg.seed, root=ctx.data_root)
    old = env.get("data_sha256")
    if old and old != data_digest(data[0]):
        raise ValueError(
            f"the data of {run.path} differ from the ones it started with "
            "(SHA-256 of the arrays); restore them or start a new run"
        )
    _check_same_files(env, data[0].provenance)
    preflight(cfg, data, ctx.device, state)
    protect = () if fork is None else (int(fork["step"]),)
    return Resume(run, cfg, data, state, protect, fork)


def commit_resume(plan: Resume) -> None:
    """Cut ``metrics.jsonl`` back to the resume step and log the resume.

    For a fork without checkpoints yet, its origin (the protected fork-step
    checkpoint and the fork's event rows) is written first.

    Args:
        plan: A checked :class:`Resume`.
    """
    from eoss.empirical.training.rows import EventRow

    run = plan.run
    for tmp in (run.path / CKPT_DIR).glob(".step_*.tmp"):  # left by a kill
        records.delete_file(tmp)
    start = 0 if plan.state is None else int(plan.state["step"])
    old = [r.get("step") for r in run.records()]
    records.rewrite_jsonl(run.path / "metrics.jsonl", lambda r: _kept(r, start))
    if plan.fork is not None and not checkpoint_steps(run.path):
        write_fork_origin(run, plan.cfg, plan.fork, plan.state)
    last_seen = max((s for s in old if isinstance(s, int)), default=None)
    run.append_row(EventRow(start, "resume", last_seen, start))


def write_fork_origin(
    run: records.RunDir,
    cfg: TrainConfig,
    origin: Mapping[str, Any],
    state: dict[str, Any] | None,
) -> None:
    """The fork's origin: its protected start checkpoint and its event rows.

    Written right after the folder is made (and again by a resume when a kill
    came first), so the fork's η/b change survives any later kill. Rows already
    in the log are not repeated.

    Args:
        run: The fork's run directory.
        cfg: The fork's config.
        origin: env.json's ``fork`` entry (source run, step, changed fields).
        state: The source checkpoint's state at the fork step.
    """
    from eoss.empirical.training.rows import EventRow

    step = int(origin["step"])
    if state is not None:
        keeper = CheckpointKeeper(run.path, cfg.checkpoint.keep_last, protect=(step,))
        keeper.save(step, state)
    have = {(r.get("kind"), r.get("step")) for r in run.records("event")}
    rows = [EventRow(step, "fork", origin["run"], step, "fork")]
    for key, old, new in origin.get("changed", []):
        rows.append(EventRow(step, key, old, new, "fork"))
    for row in rows:
        if (row.kind, row.step) not in have:
            run.append_row(row)


def _read_env(path: Path) -> dict[str, Any]:
    try:
        env = records.read_json(path / "env.json")
    except (FileNotFoundError, ValueError):
        return {}
    return env if isinstance(env, dict) else {}


def _check_same_files(env: Mapping[str, Any], provenance: Mapping[str, Any]) -> None:
    """Refuse when the recorded data files' SHA-256 differ from the loaded ones."""
    recorded = env.get("data")
    old = recorded.get("files_sha256") if isinstance(recorded, dict) else None
    new = provenance.get("files_sha256")
    if old and new and old != new:
        raise ValueError(
            "the data files differ from the ones this run started with "
            "(SHA-256 mismatch); restore them or start a new run"
        )


def _kept(rec: dict[str, Any], start: int) -> bool:
    """Records older than the resume step, and the log of resumes and forks."""
    event = rec.get("table") == "event"
    lineage = event and (
        rec.get("kind") in ("resume", "fork") or rec.get("reason") == "fork"
    )
    step = rec.get("step")
    return lineage or (isinstance(step, int) and step < start)


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
