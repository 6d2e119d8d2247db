"""The training loop: SGD (constant η by default), GD, momentum, noise-injected GD.

:func:`run` trains a :class:`~empirical.config.TrainConfig` and reports everything
through callbacks; it never touches the file system:

* ``on_record(table, row)``: every record (tables of docs/records.md: ``train``,
  ``eval``, ``fullbs``, ``minibs``, ``step_sharpness``, ``ntk``, ``event``).
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

A run diverges when a training loss (the step's batch loss or the full
training loss) is NaN/inf or exceeds ``diverge_factor`` × the initial full
training loss; it then stops, and its last checkpoint is the last good state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from empirical.config import TrainConfig
from empirical.data import ArrayDataset, BatchSampler, load_train_test
from empirical.losses import Loss
from empirical.models import build_model
from empirical.noise import noisy_gradient
from empirical.rng import numpy_rng, torch_gen
from empirical.schedules import Schedule
from empirical.tracking import Tracker, evaluate

STATE_FORMAT = 1
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
        last_checkpoint: Step of the last checkpoint emitted by this call, or None.
        reason: Why it stopped early (None when finished).
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


class Trainer:
    """The state of one run: model, optimiser, sampler, streams, tracker.

    Args:
        cfg: The run's config.
        train: Training data.
        test: Test data or None.
        device: Torch device of the model and data.

    Raises:
        ValueError: If a batch size exceeds the training set.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        train: ArrayDataset,
        test: ArrayDataset | None,
        device: torch.device,
    ) -> None:
        dtype = getattr(torch, cfg.dtype)
        self.cfg, self.device, self.loss = cfg, device, Loss(cfg.loss)
        self.train = train.to(device, dtype)
        self.test = None if test is None else test.to(device, dtype)
        self.schedule = Schedule(cfg.lr, cfg.batch_size, cfg.schedule)
        _check_batch_sizes(cfg, len(self.train))
        gen = torch_gen(cfg.seed, "init")
        self.model = build_model(
            cfg.model, train.input_shape, train.num_classes, gen, dtype=dtype
        ).to(device)
        self.model.train()
        momentum = cfg.optim.momentum if cfg.optim.name == "momentum" else 0.0
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.lr,
            momentum=momentum,
            nesterov=cfg.optim.nesterov and momentum > 0,
        )
        self.sampler = BatchSampler(
            len(self.train),
            mode=cfg.optim.sampling,
            rng=numpy_rng(cfg.seed, "batches"),
        )
        self.noise_gen = torch_gen(cfg.seed, "noise")
        self.tracker = Tracker(
            cfg.track,
            total_steps=cfg.steps,
            loss=self.loss,
            train=self.train,
            test=self.test,
            seed=cfg.seed,
        )
        self.step = 0
        self.ref_loss = evaluate(
            self.model, self.loss, self.train, cfg.track.chunk_size
        )[0]

    # ---- state -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (CPU tensors, plain values).

        Returns:
            The state.
        """
        return {
            "format": STATE_FORMAT,
            "step": self.step,
            "model": _to_cpu(self.model.state_dict()),
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "sampler": self.sampler.state_dict(),
            "noise_gen": self.noise_gen.get_state(),
            "tracker": self.tracker.state_dict(),
            "ref_loss": self.ref_loss,
            "lr": self.schedule.lr_at(self.step),
            "batch_size": self.schedule.batch_size_at(self.step),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (possibly of another run).

        Args:
            state: The saved state.

        Raises:
            ValueError: On an unknown state format.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown checkpoint format {state.get('format')!r}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.noise_gen.set_state(state["noise_gen"])
        self.tracker.load_state_dict(state["tracker"], self.device)
        self.ref_loss = float(state["ref_loss"])
        self.step = int(state["step"])

    # ---- one update --------------------------------------------------------
    def draw_batch(self) -> tuple[Tensor, Tensor] | None:
        """The mini-batch of the current step (None for full-batch rules).

        Returns:
            (X_B, y_B) on the device, or None.
        """
        if self.cfg.optim.name in ("gd", "noisy_gd"):
            return None
        idx = self.sampler.next(self.schedule.batch_size_at(self.step))
        index = torch.from_numpy(idx).to(self.device)
        return self.train.X[index], self.train.y[index]

    def update(self, batch: tuple[Tensor, Tensor] | None) -> dict[str, Any]:
        """Compute the step's gradient, take the step, return the ``train`` row.

        Args:
            batch: The step's mini-batch (None for full-batch rules).

        Returns:
            The row (``step``, ``lr``, ``batch_size``, ``loss`` before the update).
        """
        lr = self.schedule.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        if batch is not None:
            loss = self.loss.mean(self.model(batch[0]), batch[1])
            loss.backward()
            value, b = float(loss.detach()), int(batch[0].shape[0])
        else:
            value, b = self._full_batch_gradient()
        row = {"step": self.step, "lr": lr, "batch_size": b, "loss": value}
        if np.isfinite(value):
            self.optimizer.step()
        self.step += 1
        return row

    def _full_batch_gradient(self) -> tuple[float, int]:
        cfg, params = self.cfg, list(self.model.parameters())
        if cfg.optim.name == "noisy_gd":
            b = cfg.noise.batch_size or self.schedule.batch_size_at(self.step)
            res = noisy_gradient(
                self.model,
                self.loss,
                self.train,
                kind=cfg.noise.kind,
                batch_size=b,
                gen=self.noise_gen,
                chunk_size=cfg.optim.chunk_size,
                replacement=cfg.noise.replacement,
            )
            for p, g in zip(params, res.grads, strict=True):
                p.grad = g.detach().clone()
            return res.loss, b
        n, total = len(self.train), 0.0
        for X, y in self.train.chunks(cfg.optim.chunk_size):
            chunk_loss = self.loss.mean(self.model(X), y, n)
            chunk_loss.backward()
            total += float(chunk_loss.detach())
        return total, n

    def diverged(self, value: float | None) -> bool:
        """Whether a training loss signals divergence.

        Args:
            value: A training loss (None: nothing to check).

        Returns:
            True for NaN/inf or a loss above ``diverge_factor`` × initial loss.
        """
        if value is None:
            return False
        return not np.isfinite(value) or value > self.cfg.diverge_factor * max(
            self.ref_loss, 1e-12
        )


def _check_batch_sizes(cfg: TrainConfig, n: int) -> None:
    sizes = {
        "batch_size": max([cfg.batch_size, *cfg.schedule.batch_size_values]),
        "track.minibs_batch_size": cfg.track.minibs_batch_size or 1,
        "noise.batch_size": cfg.noise.batch_size or 1,
    }
    for name, size in sizes.items():
        if size > n:
            raise ValueError(f"{name}={size} exceeds the {n} training points")


def _to_cpu(obj: Any) -> Any:
    """Deep copy to CPU (``.cpu()`` alone would alias live CPU tensors)."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def build_trainer(
    cfg: TrainConfig,
    *,
    data: tuple[ArrayDataset, ArrayDataset | None] | None = None,
    data_root: str | None = None,
    device: str | torch.device = "cpu",
    state: dict[str, Any] | None = None,
) -> Trainer:
    """A :class:`Trainer` at step 0, or at ``state``.

    Args:
        cfg: The config.
        data: (train, test) already loaded, or None to load ``cfg.data``.
        data_root: CIFAR-10 data root when loading.
        device: Torch device.
        state: A checkpoint state to continue from.

    Returns:
        The trainer.
    """
    train, test = data or load_train_test(cfg.data, seed=cfg.seed, root=data_root)
    trainer = Trainer(cfg, train, test, torch.device(device))
    if state is not None:
        trainer.load_state_dict(state)
    return trainer


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

    Returns:
        How the run ended.
    """
    t0 = time.perf_counter()
    trainer = build_trainer(
        cfg, data=data, data_root=data_root, device=device, state=state
    )
    loop = _Loop(trainer, on_record, on_checkpoint, progress, should_stop)
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
    """The step loop of :func:`run` (callbacks, checkpoints, divergence)."""

    def __init__(
        self,
        trainer: Trainer,
        on_record: OnRecord | None,
        on_checkpoint: OnCheckpoint | None,
        progress: Progress | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.t = trainer
        self.emit_record = on_record or _noop
        self.emit_checkpoint = on_checkpoint or _noop
        self.progress = progress or _noop
        self.should_stop = should_stop or (lambda: False)
        self.start = trainer.step
        self.last_checkpoint: int | None = None
        self.n_records = 0
        self.last: dict[str, float] = dict(trainer.tracker.last)

    def record(self, table: str, row: dict[str, Any]) -> None:
        self.n_records += 1
        self.emit_record(table, row)

    def checkpoint(self, force: bool = False) -> None:
        step, cfg = self.t.step, self.t.cfg
        due = step % cfg.checkpoint.every == 0 or step == cfg.steps
        resumed_here = step == self.start and self.start > 0
        if (due or force) and not resumed_here and self.last_checkpoint != step:
            self.emit_checkpoint(step, self.t.state_dict())
            self.last_checkpoint = step

    def boundary(self, batch_size: int, batch: Any) -> str | None:
        step = self.t.step
        for change in self.t.schedule.changes_at(step):
            self.record("event", _event(change))
        for table, row in self.t.tracker.measure(
            step, self.t.model, batch_size=batch_size, step_batch=batch
        ):
            self.record(table, row)
            if table == "eval" and self.t.diverged(row["train_loss"]):
                return f"train_loss {row['train_loss']} at step {step}"
        self.last.update(self.t.tracker.last)
        return None

    def go(self) -> tuple[str, str | None]:
        """Run to the end; return (status, reason)."""
        t, total = self.t, self.t.cfg.steps
        while True:
            if self.should_stop():
                self.checkpoint(force=True)
                return "interrupted", "stop requested"
            self.checkpoint()
            batch = t.draw_batch() if t.step < total else None
            reason = self.boundary(t.schedule.batch_size_at(t.step), batch)
            if reason is None and t.step < total:
                row = t.update(batch)
                self.record("train", row)
                self.last["loss"], self.last["lr"] = row["loss"], row["lr"]
                if t.diverged(row["loss"]):
                    reason = f"loss {row['loss']} at step {row['step']}"
                self.progress(t.step, total, self.last)
            elif reason is None:
                return "finished", None
            if reason is not None:
                self.record("event", _diverged_event(t.step, reason))
                return "diverged", reason


def _event(change: Any) -> dict[str, Any]:
    return {
        "step": change.step,
        "kind": change.kind,
        "old": change.old,
        "new": change.new,
    }


def _diverged_event(step: int, reason: str) -> dict[str, Any]:
    return {
        "step": step,
        "kind": "diverged",
        "old": None,
        "new": None,
        "reason": reason,
    }
