r"""Sharpness of a user's own training loop, recorded as an eoss run directory.

Three lines in a plain PyTorch loop::

    mon = eoss.SharpnessMonitor(model, loss, (X, y), "runs", every=100,
                                batch_size=64, lr=0.05)
    for step in range(steps):
        mon.step(step)          # measures θ_step when step % every == 0
        ...                     # the user's own forward / backward / opt.step()
    mon.close()

Every ``every`` steps it measures, on the whole of ``data`` (the training set):

* ``eval``: the mean loss L(θ) (and accuracy for integer labels);
* ``fullbs``: FullBS = λ_max(∇²L), warm-started from the previous eigenvector;
* ``minibs``: MiniBS = mean over K fresh batches of size b of λ_max(∇²L_B),
  batch sharpness mean_B g_Bᵀ∇²L_B g_B/‖g_B‖² and, as FullBS is measured at the
  same step, the control-variate gap, each ± SE;
* optionally ``step_sharpness`` (λ_max of the step's own batch, when ``batch`` is
  passed) and ``ntk``.

The rows are those of ``eoss train`` (:mod:`eoss.empirical.training.rows`), written
to ``<out_dir>/train/<name>/metrics.jsonl`` next to ``config.json`` (η, b, loss,
model and data description, the tracking settings), ``env.json`` and
``status.json``, so ``eoss report <out_dir>`` reads the folder like any training
run. The measurements are the in-loop
:class:`~eoss.empirical.training.tracking.Tracker`'s (same estimators, random
streams ``track_<quantity>`` of ``seed``).

**The user's model is left as it was**: parameters, buffers, ``.grad`` and every
module's train/eval mode are the same after a measurement (modes and gradients
are also restored here, whatever the estimators do).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from torch import Tensor, nn

from eoss.analysis.records.run_dir import RunDir
from eoss.empirical.data.adapters import as_dataset
from eoss.empirical.losses import get_loss
from eoss.empirical.training.config import Cadence, TrackConfig
from eoss.empirical.training.rows import EventRow, Row, TrainRow
from eoss.empirical.training.tracking import QUANTITIES, Tracker

log = logging.getLogger(__name__)


class _Every:
    """Steps that are multiples of ``k`` (``k = 0``: none); a cadence for Tracker."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __contains__(self, step: int) -> bool:
        return self.k > 0 and step % self.k == 0


class SharpnessMonitor:
    """MiniBS, batch sharpness and FullBS every ``every`` steps of a user's loop.

    Args:
        model: The user's network (never modified).
        loss: An eoss loss name (``mse``, ``ce``, ...), a ``Loss``, or a callable
            ``loss(outputs, targets) -> per-sample losses`` (see
            :func:`eoss.empirical.losses.get_loss`).
        data: The training set: anything :func:`eoss.as_dataset` accepts.
        out_dir: Root folder; the run goes to ``out_dir/train/<name>``.
        every: Steps between measurements (step 0 included).
        batch_size: b of the user's SGD (the MiniBS batches have this size).
        lr: η of the user's SGD (recorded; ``eoss report`` compares with 2/η).
        n_batches: K, batches per MiniBS measurement (>= 2).
        fullbs: Measure FullBS (and the control-variate gap).
        minibs: Measure MiniBS and batch sharpness.
        evaluate: Measure the full training loss (and accuracy).
        step_sharpness: Measure λ_max of the batch passed to :meth:`step`.
        ntk: Measure the mini-batch NTK λ_max.
        tol: Relative eigen-residual target.
        chunk_size: Rows per chunk of full-batch products.
        bn_mode: BatchNorm during measurements (``eval``: running statistics;
            ``train``: each batch's own statistics, running ones untouched).
        seed: Seed of the measurements' random streams.
        name: Run folder name (default ``<UTC time>_<config hash>``).
        batch_fn: Record → ``(input, target)`` hook of :func:`eoss.as_dataset`.
        config: More JSON-able facts for ``config.json`` (optimiser, model
            hyper-parameters, ...).

    Raises:
        ValueError: On a bad cadence, batch size or learning rate.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Any,
        data: Any,
        out_dir: str | Path,
        *,
        every: int = 100,
        batch_size: int,
        lr: float | None = None,
        n_batches: int = 8,
        fullbs: bool = True,
        minibs: bool = True,
        evaluate: bool = True,
        step_sharpness: bool = False,
        ntk: bool = False,
        tol: float = 1e-3,
        chunk_size: int = 1024,
        bn_mode: str = "eval",
        seed: int = 0,
        name: str | None = None,
        batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if lr is not None and not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.model, self.every = model, every
        self.loss = loss if hasattr(loss, "per_sample") else get_loss(loss)
        like = next(iter(model.parameters()))
        self.data = as_dataset(data, batch_fn=batch_fn).to(like.device, like.dtype)
        if not 1 <= batch_size <= len(self.data):
            raise ValueError(
                f"batch_size must be in [1, {len(self.data)}], got {batch_size}"
            )
        self.batch_size, self.lr = batch_size, lr
        on = {"eval": evaluate, "fullbs": fullbs, "minibs": minibs}
        on |= {"step_sharpness": step_sharpness, "ntk": ntk}
        self.track = TrackConfig(
            **{q: Cadence(every=every if on[q] else 0) for q in QUANTITIES},
            n_batches=n_batches,
            tol=tol,
            chunk_size=chunk_size,
            bn_mode=bn_mode,  # type: ignore[arg-type]
        )
        self.tracker = Tracker(
            self.track,
            total_steps=0,
            loss=self.loss,
            train=self.data,
            test=None,
            seed=seed,
        )
        # the user's loop has no known length: "due" is simply step % every == 0
        self.tracker.cadence = {q: _Every(every if on[q] else 0) for q in QUANTITIES}
        self.run = RunDir.create(
            out_dir, "train", self._config(seed, config), name=name
        )
        self.measured: set[int] = set()
        self.n_updates = 0  # updates the user's loop has taken (as far as we know)
        self._closed = False

    @property
    def path(self) -> Path:
        """The run directory (``out_dir/train/<name>``)."""
        return self.run.path

    @property
    def last(self) -> dict[str, float]:
        """The latest values: ``train_loss``, ``fullbs``, ``minibs`` (when measured)."""
        return dict(self.tracker.last)

    def _config(self, seed: int, extra: dict[str, Any] | None) -> dict[str, Any]:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {
            "source": "SharpnessMonitor",
            "lr": self.lr,
            "batch_size": self.batch_size,
            "seed": seed,
            "loss": getattr(self.loss, "name", repr(self.loss)),
            "loss_formula": getattr(self.loss, "formula", None),
            "model": {"name": type(self.model).__name__, "n_params": n_params},
            "data": {"name": self.data.name, "n_train": len(self.data)},
            "optim": {"name": "user"},
            "every": self.every,
            "track": dataclasses.asdict(self.track),
            **(extra or {}),
        }

    def step(
        self, step: int, *, batch: tuple[Tensor, Tensor] | None = None
    ) -> list[Row]:
        """Measure θ_step when ``step`` is a multiple of ``every``.

        Call it at the top of the loop body, before the update that takes θ_step
        to θ_{step+1} (``step`` = updates taken so far). A step is measured once.

        Args:
            step: Updates taken so far.
            batch: ``(X_B, y_B)`` the update is about to use (for
                ``step_sharpness``).

        Returns:
            The rows written (empty when nothing was due).

        Raises:
            RuntimeError: After :meth:`close`.
        """
        self.n_updates = max(self.n_updates, step + 1)  # the update follows
        return self._measure(step, batch)

    def _measure(self, step: int, batch: tuple[Tensor, Tensor] | None) -> list[Row]:
        if self._closed:
            raise RuntimeError("the monitor is closed")
        if step in self.measured or not self.tracker.due(step):
            return []
        self.measured.add(step)
        with _Untouched(self.model):
            rows = self.tracker.measure(
                step, self.model, batch_size=self.batch_size, step_batch=batch
            )
        for row in rows:
            self.run.append_row(row)
        log.info("step %d: %s", step, {k: round(v, 6) for k, v in self.last.items()})
        return rows

    def after_step(
        self,
        step: int,
        loss: float | Tensor | None = None,
        *,
        lr: float | None = None,
        batch_size: int | None = None,
    ) -> list[Row]:
        """Record the update of ``step`` and measure θ_{step+1} when it is due.

        The alternative to :meth:`step`, for the bottom of the loop body (call
        ``mon.step(0)`` before the loop to also measure the initialisation).

        Args:
            step: The update just taken (θ_step → θ_{step+1}).
            loss: L_B(θ_step), the batch loss the update used (a ``train`` row).
            lr: η of this update, when it changed (an ``lr`` event).
            batch_size: b of this update, when it changed (a ``batch_size`` event).

        Returns:
            The rows written.

        Raises:
            RuntimeError: After :meth:`close`.
        """
        if self._closed:
            raise RuntimeError("the monitor is closed")
        self.n_updates = max(self.n_updates, step + 1)
        rows: list[Row] = []
        if lr is not None and lr != self.lr:
            rows.append(EventRow(step, "lr", self.lr, lr))
            self.lr = lr
        if batch_size is not None and batch_size != self.batch_size:
            rows.append(EventRow(step, "batch_size", self.batch_size, batch_size))
            self.batch_size = batch_size
        if loss is not None and self.lr is not None:
            rows.append(TrainRow(step, self.lr, self.batch_size, float(loss)))
        for row in rows:
            self.run.append_row(row)
        return rows + self._measure(step + 1, None)

    def close(self, status: str = "finished") -> None:
        """Record the final status and release the run directory.

        Args:
            status: ``finished`` (default), ``diverged``, ``interrupted`` or
                ``failed``.
        """
        if self._closed:
            return
        self._closed = True
        self.run.set_status(status, step=self.n_updates, last=self.last)
        self.run.close()
        self.run.unlock()

    def __enter__(self) -> SharpnessMonitor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            interrupted = issubclass(kind, KeyboardInterrupt)
            self.close("interrupted" if interrupted else "failed")


class _Untouched:
    """Restores every module's mode, and each parameter's ``.grad`` and flag."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.params = [(p, p.grad, p.requires_grad) for p in self.model.parameters()]

    def __exit__(self, *exc: object) -> None:
        for module, mode in self.modes:
            module.training = mode
        for p, grad, flag in self.params:
            p.grad = grad
            p.requires_grad_(flag)
