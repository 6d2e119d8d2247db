"""The training loop: SGD (constant η by default), GD, momentum, noise-injected GD.

:func:`run` trains a :class:`~eoss.empirical.training.config.TrainConfig` and reports
everything
through callbacks; it never touches the file system:

* ``on_record(table, row)``: every record, ``row`` the JSON dict of one of the
  row types of :mod:`eoss.empirical.training.rows` (tables ``train``, ``eval``,
  ``fullbs``, ``minibs``, ``step_sharpness``, ``ntk``, ``event``).
* ``on_checkpoint(step, state)``: resumable state at a step boundary (model,
  optimiser, sampler position, every random stream, warm-start vector, the
  divergence reference). Feeding it back as ``run(cfg, state=state)`` continues
  bit-for-bit on the CPU.
* ``progress(step, total, info)``: cheap, called after every update.
* ``should_stop()``: polled at every step boundary; True ends the run as
  ``interrupted`` after a checkpoint of that boundary.

Order at the boundary of step t (θ_t, t updates taken): checkpoint (every
``checkpoint.every`` steps, at t = 0 and at the end) → schedule ``event`` rows →
measurements due at t → draw batch B_t → ``train`` row (loss of B_t before the
update) → update. After the last update the measurements due at t = steps run.
Hence a resume from the checkpoint at step s must drop the records with
``step >= s``: they are regenerated identically.

The run's state and update rules are
:class:`eoss.empirical.training.trainer.Trainer`'s; this
module is the loop around it.

With ``stop.until_stationary`` the state of each stop-check boundary is captured
before its batch is drawn; when the check finds the run stationary that state is
the final checkpoint, a ``stop`` event row records why, and the run ends as
``finished`` at that step (a run that reaches ``steps`` records ``cap``).

A run diverges when a training loss (the step's batch loss or the full
training loss) is NaN/inf or exceeds ``diverge_factor`` × the initial full
training loss, or when its parameters are non-finite before a measurement or a
checkpoint; it then stops as ``diverged`` (never as a crash). A checkpoint's state
is emitted only after its own step passed these checks; one that failed them is
emitted marked ``state["diverged"]`` (stored apart, never loaded), so the last
good checkpoint is the newest unmarked one.

With a ``process_group`` (``torchrun``) every rank runs this loop on its own
replica (same seed, same batches, same updates) and the tracker splits FullBS and
MiniBS over the ranks. Every verdict that changes the control flow (a stop
request, divergence, a stationary stop) is rank 0's, broadcast at the point
where it is taken (:func:`eoss.empirical.distributed.agree`; a stop request seen
by any rank counts), and checkpoints and measurements fall on steps fixed by the
config, so the ranks always meet in the same collectives and end together, with
the same status. Only rank 0 is meant to be given callbacks that write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.distributed import agree
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.rows import EvalRow, EventRow, Row
from eoss.empirical.training.tracking import evaluate
from eoss.empirical.training.trainer import (
    STATE_FORMAT,
    Trainer,
    build_trainer,
    params_finite,
)

__all__ = ["STATE_FORMAT", "TrainHistory", "Trainer", "build_trainer", "run"]

logger = logging.getLogger(__name__)

OnRecord = Callable[[str, dict[str, Any]], None]
OnCheckpoint = Callable[[int, dict[str, Any]], None]
Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class TrainHistory:
    """How a call to :func:`run` ended.

    Attributes:
        status: ``finished``, ``diverged`` or ``interrupted``.
        start_step: Step the call started from (0, or the resumed step).
        step: Updates taken when it ended.
        last_checkpoint: Step of the last good checkpoint emitted by this call,
            or None.
        reason: Why it stopped early (None when finished; with
            ``stop.until_stationary`` the stationary check that ended it, or
            ``cap: ...``).
        seconds: Wall time of the call.
        n_records: Records emitted.
        last: Latest value of each headline quantity (loss, minibs, fullbs, ...).
    """

    status: str
    start_step: int
    step: int
    last_checkpoint: int | None
    reason: str | None
    seconds: float
    n_records: int
    last: dict[str, float]


def _noop(*args: Any) -> None:
    return None


def run(
    cfg: TrainConfig,
    *,
    state: dict[str, Any] | None = None,
    data: tuple[ArrayDataset, ArrayDataset | None] | None = None,
    data_root: str | None = None,
    device: str | torch.device = "cpu",
    on_record: OnRecord | None = None,
    on_checkpoint: OnCheckpoint | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    process_group: Any | None = None,
) -> TrainHistory:
    """Train ``cfg`` from scratch or from ``state``; see the module docstring.

    Args:
        cfg: The config.
        state: Checkpoint state to continue from (resume or fork).
        data: Preloaded (train, test); default: load ``cfg.data``.
        data_root: CIFAR-10 data root when loading.
        device: Torch device.
        on_record: Receives ``(table, row)`` for every record.
        on_checkpoint: Receives ``(step, state)`` at checkpoint boundaries.
        progress: Receives ``(step, total, info)`` after every update.
        should_stop: Polled at step boundaries; True interrupts the run.
        process_group: ``torch.distributed`` group of the ranks training together
            (module docstring), or None: one process.

    Returns:
        How the run ended.
    """
    t0 = time.perf_counter()
    trainer = build_trainer(
        cfg,
        data=data,
        data_root=data_root,
        device=device,
        state=state,
        process_group=process_group,
    )
    loop = _Loop(
        trainer, on_record, on_checkpoint, progress, should_stop, process_group
    )
    status, reason = loop.go()
    return TrainHistory(
        status=status,
        start_step=loop.start,
        step=trainer.step,
        last_checkpoint=loop.last_checkpoint,
        reason=reason,
        seconds=time.perf_counter() - t0,
        n_records=loop.n_records,
        last=dict(loop.last),
    )


class _Loop:
    """The step loop of :func:`run` (callbacks, checkpoints, divergence).

    A checkpoint's state is captured at its step boundary but handed to
    ``on_checkpoint`` only once that state has passed the divergence checks of
    its step (the boundary's measurements and the batch loss of its update):
    a state found diverged is emitted with ``state["diverged"] = reason`` (the
    keeper stores it apart), so it never counts as the last good state.
    """

    def __init__(
        self,
        trainer: Trainer,
        on_record: OnRecord | None,
        on_checkpoint: OnCheckpoint | None,
        progress: Progress | None,
        should_stop: Callable[[], bool] | None,
        group: Any | None = None,
    ) -> None:
        self.t = trainer
        self.emit_record = on_record or _noop
        self.emit_checkpoint = on_checkpoint or _noop
        self.progress = progress or _noop
        self.should_stop = should_stop or (lambda: False)
        self.start = trainer.step
        self.last_checkpoint: int | None = None
        self.captured: int | None = None
        self.pending: tuple[int, dict[str, Any]] | None = None
        self.n_records = 0
        self.last: dict[str, float] = dict(trainer.tracker.last)
        self.group = group  # the ranks that take every verdict together

    def agree(self, flag: bool) -> bool:
        """Rank 0's verdict on every rank (``flag`` itself in one process)."""
        return agree(flag, self.group)

    def record(self, row: Row) -> None:
        self.n_records += 1
        self.emit_record(row.table, row.record())

    def due(self, step: int) -> bool:
        """Whether a regular checkpoint falls on ``step``."""
        cfg = self.t.cfg
        return step % cfg.checkpoint.every == 0 or step == cfg.steps

    def checkpoint(self, force: bool = False) -> None:
        """Capture the state of this boundary when a checkpoint is due."""
        step = self.t.step
        due = self.due(step)
        resumed_here = step == self.start and self.start > 0
        if (due or force) and not resumed_here and self.captured != step:
            self.pending = (step, self.t.state_dict())
            self.captured = step

    def flush(self, diverged: str | None = None) -> None:
        """Emit the captured state: good, or marked ``diverged`` (with why)."""
        if self.pending is None:
            return
        step, state = self.pending
        self.pending = None
        if diverged is not None:
            state["diverged"] = diverged
        else:
            self.last_checkpoint = step
        self.emit_checkpoint(step, state)

    def boundary(self, batch_size: int, batch: Any) -> str | None:
        step = self.t.step
        for change in self.t.schedule.changes_at(step):
            self.record(EventRow(change.step, change.kind, change.old, change.new))
        if (self.t.tracker.due(step) or self.pending) and self.agree(
            not params_finite(self.t.model)
        ):
            return f"non-finite parameters at step {step}"
        try:
            rows = self.t.tracker.measure(
                step, self.t.model, batch_size=batch_size, step_batch=batch
            )
        except (RuntimeError, ValueError, ArithmeticError) as exc:
            # A solver failing on a blown-up (finite but huge) state is divergence.
            cfg = self.t.cfg.track
            loss = evaluate(self.t.model, self.t.loss, self.t.train, cfg.chunk_size)[0]
            if self.agree(self.t.diverged(loss)):
                name = type(exc).__name__
                return f"train_loss {loss} at step {step} ({name} in a measurement)"
            raise
        for row in rows:
            self.record(row)
            if isinstance(row, EvalRow) and self.agree(self.t.diverged(row.train_loss)):
                return f"train_loss {row.train_loss} at step {step}"
        lr = self.t.schedule.lr_at(step)
        for row in rows:
            self.t.monitor.observe(row, lr)
        self.last.update(self.t.tracker.last)
        return None

    def stationary_stop(self) -> str | None:
        """At a stop check: the reason to end the run now, else None (logged)."""
        step = self.t.step
        if not self.t.monitor.check_due(step):
            return None
        check = self.t.monitor.check(step)
        logger.info("%s", check.text())
        return check.text() if self.agree(bool(check.stationary)) else None

    def go(self) -> tuple[str, str | None]:
        """Run to the end; return (status, reason)."""
        t, total = self.t, self.t.cfg.steps
        while True:
            if agree(self.should_stop(), self.group, any_rank=True):
                self.checkpoint(force=True)
                self.flush()
                return "interrupted", "stop requested"
            check = t.monitor.check_due(t.step)
            self.checkpoint(force=check)
            batch = t.draw_batch() if t.step < total else None
            reason = self.boundary(t.schedule.batch_size_at(t.step), batch)
            stop = self.stationary_stop() if reason is None else None
            if stop is not None:
                self.flush()
                self.record(EventRow(t.step, "stop", None, None, stop))
                return "finished", stop
            if check and not self.due(t.step):
                self.pending = None  # captured only in case the run stopped here
            if reason is None and t.step < total:
                row = t.update(batch)
                self.record(row)
                self.last["loss"], self.last["lr"] = row.loss, row.lr
                if self.agree(t.diverged(row.loss)):
                    reason = f"loss {row.loss} at step {row.step}"
                self.flush(reason)
                self.progress(t.step, total, self.last)
            elif reason is None:
                self.flush()
                if t.monitor.enabled:
                    # The rule once more on the cap's own measurements: the reason
                    # says whether the run ended stationary (the analysis, reading
                    # the same records, decides the same way).
                    last = t.monitor.check(t.step).text()
                    why = f"cap: steps={total} reached; {last}"
                    self.record(EventRow(t.step, "stop", None, None, why))
                    return "finished", why
                return "finished", None
            if reason is not None:
                self.flush(reason)
                self.record(EventRow(t.step, "diverged", None, None, reason))
                return "diverged", reason
