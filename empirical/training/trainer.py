"""The state of one training run and its update rules.

:class:`Trainer` owns the model, the optimiser (``torch.optim.SGD``: plain, heavy
ball or Nesterov), the mini-batch sampler, the noise generator, the schedule and the
:class:`~eoss.empirical.training.tracking.Tracker`. It takes one update at a time
(:meth:`Trainer.update`) and saves / restores everything that determines the
future of the run (:meth:`Trainer.state_dict`): parameters and buffers, optimiser
state, the sampler's permutation and cursor, every random stream, the FullBS
warm-start vector, the stationarity monitor's series and the divergence
reference loss. The loop, callbacks and
checkpoint cadence live in :mod:`eoss.empirical.training.loop`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.data.loading import load_train_test
from eoss.empirical.data.sampler import BatchSampler
from eoss.empirical.losses import Loss
from eoss.empirical.models import build_model
from eoss.empirical.rng import numpy_rng, torch_gen
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.noise import noisy_gradient
from eoss.empirical.training.rows import TrainRow
from eoss.empirical.training.schedules import Schedule
from eoss.empirical.training.stationarity import StationarityMonitor
from eoss.empirical.training.tracking import Tracker, evaluate

STATE_FORMAT = 1


class Trainer:
    """The state of one run: model, optimiser, sampler, streams, tracker.

    Args:
        cfg: The run's config.
        train: Training data.
        test: Test data or None.
        device: Torch device of the model and data.
        process_group: ``torch.distributed`` group the tracker splits FullBS
            and MiniBS over (``torchrun``: every rank builds the same trainer and
            takes the same updates), or None.

    Raises:
        ValueError: If a batch size exceeds the training set.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        train: ArrayDataset,
        test: ArrayDataset | None,
        device: torch.device,
        process_group: Any | None = None,
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
        self.monitor = StationarityMonitor(cfg)
        self.tracker = Tracker(
            cfg.track,
            total_steps=cfg.steps,
            loss=self.loss,
            train=self.train,
            test=self.test,
            seed=cfg.seed,
            extra=tuple(self.monitor.check_steps()),
            process_group=process_group,
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
            "stationarity": self.monitor.state_dict(),
            "ref_loss": self.ref_loss,
            "lr": self.schedule.lr_at(self.step),
            "batch_size": self.schedule.batch_size_at(self.step),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (possibly of another run).

        Args:
            state: The saved state.

        Raises:
            ValueError: On an unknown state format, or a state of another
                architecture, class count, optimiser or data-set size.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            got = state.get("format") if isinstance(state, dict) else type(state)
            raise ValueError(f"unknown checkpoint format {got!r}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.sampler.load_state_dict(state["sampler"])
            self.noise_gen.set_state(state["noise_gen"])
            self.tracker.load_state_dict(state["tracker"], self.device)
            self.monitor.load_state_dict(state.get("stationarity"))
            self.ref_loss = float(state["ref_loss"])
            self.step = int(state["step"])
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
            reason = _first(exc)
            msg = f"the checkpoint does not fit this run: {reason}"
            raise ValueError(msg) from None
        perm = torch.as_tensor(state["sampler"]["perm"])
        if perm.numel() and int(perm.max()) >= len(self.train):
            raise ValueError(
                "the checkpoint's batch sampler indexes rows beyond the "
                f"{len(self.train)} training points (another data set)"
            )
        if self.step < 0 or not params_finite(self.model):
            raise ValueError("the checkpoint holds a non-finite (diverged) state")

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

    def update(self, batch: tuple[Tensor, Tensor] | None) -> TrainRow:
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
        row = TrainRow(step=self.step, lr=lr, batch_size=b, loss=value)
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


def _first(exc: BaseException) -> str:
    """The first line of an exception's message (torch's are multi-line)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return " ".join(lines[:2])[:300] or type(exc).__name__


def params_finite(model: torch.nn.Module) -> bool:
    """Whether every parameter and buffer of ``model`` is finite.

    Args:
        model: The network.

    Returns:
        False if any floating-point entry is NaN or inf.
    """
    tensors = [*model.parameters(), *model.buffers()]
    flags = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def check_fit(cfg: TrainConfig, n: int, state: dict[str, Any] | None = None) -> None:
    """Check a config against a data-set size (and a state) without training.

    Called before a run folder is made, so that what :class:`Trainer` would
    refuse fails first.

    Args:
        cfg: The config.
        n: Training rows.
        state: A checkpoint state to be loaded (its step must not pass the end).

    Raises:
        ValueError: If a batch size exceeds ``n`` or the state is past the end.
    """
    _check_batch_sizes(cfg, n)
    if state is not None and int(state.get("step", 0)) > cfg.steps:
        raise ValueError(
            f"the checkpoint is at step {state['step']}, past steps={cfg.steps}"
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
    process_group: Any | None = None,
) -> Trainer:
    """A :class:`Trainer` at step 0, or at ``state``.

    Args:
        cfg: The config.
        data: (train, test) already loaded, or None to load ``cfg.data``.
        data_root: CIFAR-10 data root when loading.
        device: Torch device.
        state: A checkpoint state to continue from.
        process_group: See :class:`Trainer`.

    Returns:
        The trainer.
    """
    train, test = data or load_train_test(cfg.data, seed=cfg.seed, root=data_root)
    trainer = Trainer(cfg, train, test, torch.device(device), process_group)
    if state is not None:
        trainer.load_state_dict(state)
    return trainer
