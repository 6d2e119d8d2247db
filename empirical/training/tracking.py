"""Measurements during training, each quantity on its own cadence.

:class:`Tracker` is called by the training loop at every step boundary with the
current model (θ_step, before that step's update) and returns typed rows of the
``metrics.jsonl`` tables (:mod:`eoss.empirical.training.rows`); it never writes
anything:

* ``eval``: ``train_loss``, ``train_acc`` (whole training subset), ``test_loss``,
  ``test_acc`` (None without a test set or for float targets).
* ``fullbs``: FullBS = λ_max(∇²L) over the whole training subset (chunked, each
  chunk weighted by its rows), warm-started from the previous top eigenvector.
* ``minibs``: MiniBS = mean over K fresh uniform batches of λ_max(H_B) ± SE, batch
  sharpness E_B[g_Bᵀ H_B g_B / ‖g_B‖²] ± SE and, when FullBS was measured at the
  same step, the control-variate gap mean_B[λ_max(H_B) − vᵀH_B v] ± SE.
* ``step_sharpness``: λ_max of the Hessian of the batch the step is about to use.
* ``ntk``: λ_max of the averaged mini-batch NTK (Gauss–Newton) matrix ± SE.

Every solver record carries its residual, matvec count and seconds. Each quantity
draws from its own named random stream, so switching one on or off never changes
another's numbers; the streams' states and the warm-start vector are part of
:meth:`Tracker.state_dict` (exact resume). MiniBS draws its K batches from its
stream, then one seed for a child generator of the solver's start vectors, so the
stream advances the same whatever the solver path or the number of ranks.

Data-parallel (``torchrun``; a ``process_group``): every rank holds the same
replica; before the measurements of a step rank 0's parameters and buffers are
copied to the others (:func:`eoss.empirical.distributed.broadcast_module`). FullBS
splits the rows over the ranks (one ``all_reduce`` per product) and MiniBS / batch
sharpness split the K batches; eval, step sharpness and the NTK are computed
whole on every rank.

The eigen-solvers are the spectral core's
(:mod:`eoss.empirical.estimators.minibatch`,
:mod:`eoss.empirical.operators.gauss_newton`); this module only schedules and
records them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.distributed import broadcast_module
from eoss.empirical.losses import Loss
from eoss.empirical.operators.batched import sample_batches
from eoss.empirical.operators.params import eval_mode, kept_modes
from eoss.empirical.rng import numpy_rng
from eoss.empirical.training.config import TrackConfig
from eoss.empirical.training.rows import (
    EvalRow,
    FullBSRow,
    MiniBSRow,
    NTKRow,
    Row,
    StepSharpnessRow,
)
from eoss.empirical.training.schedules import CadenceSet

QUANTITIES = (
    EvalRow.table,
    FullBSRow.table,
    MiniBSRow.table,
    StepSharpnessRow.table,
    NTKRow.table,
)


@torch.no_grad()
def evaluate(
    model: nn.Module, loss: Loss, data: ArrayDataset, chunk: int
) -> tuple[float, float | None]:
    """Mean loss L and accuracy over a data set, in eval mode.

    Every module's own train/eval flag is restored afterwards
    (:func:`eoss.empirical.operators.params.eval_mode`).

    Args:
        model: The network.
        loss: Per-sample loss.
        data: The data (on the model's device).
        chunk: Rows per forward pass.

    Returns:
        (L, accuracy); accuracy is None for float targets.
    """
    total, correct = 0.0, 0
    with eval_mode(model):
        for X, y in data.chunks(chunk):
            out = model(X)
            total += float(loss.per_sample(out, y).sum())
            if not y.is_floating_point():
                hit = (out.argmax(dim=-1) == y).double()  # per token for (N, T) y
                correct += float(hit.reshape(len(y), -1).mean(dim=1).sum())
    n = len(data)
    return total / n, (None if data.y.is_floating_point() else correct / n)


class Tracker:
    """Schedules and records the measurements of one run.

    Args:
        cfg: What to measure and how often.
        total_steps: Number of updates of the run (fixes the cadences).
        loss: Per-sample loss.
        train: The training subset (on the model's device).
        test: The test set, or None.
        seed: The run's seed (streams ``track_<quantity>``).
        extra: Further steps at which eval, FullBS and MiniBS are measured (when
            on): the stop checks of :class:`~eoss.empirical.training.config.StopConfig`.
        process_group: ``torch.distributed`` group to split FullBS and MiniBS over
            (every rank builds the same tracker), or None: one process.
    """

    def __init__(
        self,
        cfg: TrackConfig,
        *,
        total_steps: int,
        loss: Loss,
        train: ArrayDataset,
        test: ArrayDataset | None,
        seed: int,
        extra: tuple[int, ...] = (),
        process_group: Any | None = None,
    ) -> None:
        self.cfg, self.loss, self.train, self.test = cfg, loss, train, test
        self.group = process_group
        forced = (EvalRow.table, FullBSRow.table, MiniBSRow.table)
        self.cadence = {
            q: CadenceSet(getattr(cfg, q), total_steps, extra if q in forced else ())
            for q in QUANTITIES
        }
        self.rngs = {q: numpy_rng(seed, f"track_{q}") for q in QUANTITIES}
        self.vector: Tensor | None = None  # last FullBS top eigenvector (P,)
        self.vector_step: int | None = None
        self.last: dict[str, float] = {}

    def due(self, step: int) -> list[str]:
        """The quantities measured at ``step``.

        Args:
            step: A step.

        Returns:
            Names in measurement order.
        """
        return [q for q in QUANTITIES if step in self.cadence[q]]

    def measure(
        self,
        step: int,
        model: nn.Module,
        *,
        batch_size: int,
        step_batch: tuple[Tensor, Tensor] | None = None,
    ) -> list[Row]:
        """Run the measurements due at ``step`` (the model is not modified).

        Parameters, buffers and every module's train/eval flag are as before
        (the estimators work on private copies; the flags are also restored
        here, module by module). With a process group, the other ranks' replicas
        first take rank 0's parameters and buffers.

        Args:
            step: Number of updates taken so far.
            model: The network at θ_step.
            batch_size: The current b (used when ``minibs_batch_size`` is None).
            step_batch: (X_B, y_B) of the update about to be taken, if any.

        Returns:
            The rows, in measurement order.
        """
        out: list[Row] = []
        due = self.due(step)
        if due:
            broadcast_module(model, self.group)
        with kept_modes(model):
            for q in due:
                if q == StepSharpnessRow.table and step_batch is None:
                    continue
                row = getattr(self, f"_{q}")(step, model, batch_size, step_batch)
                out.append(row)
        return out

    def _eval(self, step: int, model: nn.Module, b: int, batch: Any) -> EvalRow:
        t0 = time.perf_counter()
        train_loss, train_acc = evaluate(
            model, self.loss, self.train, self.cfg.chunk_size
        )
        test_loss = test_acc = None
        if self.test is not None:
            test_loss, test_acc = evaluate(
                model, self.loss, self.test, self.cfg.chunk_size
            )
        self.last["train_loss"] = train_loss
        return EvalRow(
            step=step,
            train_loss=train_loss,
            train_acc=train_acc,
            test_loss=test_loss,
            test_acc=test_acc,
            seconds=time.perf_counter() - t0,
        )

    def _fullbs(self, step: int, model: nn.Module, b: int, batch: Any) -> FullBSRow:
        from eoss.empirical.estimators.full_batch import full_sharpness

        warm = self.vector is not None
        res = full_sharpness(
            model,
            self.loss,
            self.train,
            rng=self.rngs["fullbs"],
            chunk_size=self.cfg.chunk_size,
            tol=self.cfg.tol,
            v0=self.vector,
            bn_mode=self.cfg.bn_mode,
            process_group=self.group,
        )
        if res.eigenvector is not None:
            self.vector, self.vector_step = res.eigenvector.detach(), step
        self.last["fullbs"] = float(res.fullbs)
        return FullBSRow(
            step=step,
            fullbs=float(res.fullbs),
            residual=float(res.residual),
            converged=bool(res.converged),
            n_matvecs=int(res.n_matvecs),
            seconds=float(res.seconds),
            warm_start=warm,
        )

    def _minibs(self, step: int, model: nn.Module, b: int, batch: Any) -> MiniBSRow:
        from eoss.empirical.estimators.minibatch import minibatch_sharpness

        size = self.cfg.minibs_batch_size or b
        vec = self.vector if self.vector_step == step else None
        stream = self.rngs["minibs"]
        idx = sample_batches(len(self.train), size, self.cfg.n_batches, stream)
        res = minibatch_sharpness(
            model,
            self.loss,
            self.train,
            batch_size=size,
            n_batches=self.cfg.n_batches,
            rng=np.random.default_rng(int(stream.integers(2**63))),
            tol=self.cfg.tol,
            batch_sharpness=self.cfg.batch_sharpness,
            full_vector=vec,
            bn_mode=self.cfg.bn_mode,
            batch_indices=idx,
            process_group=self.group,
        )
        self.last["minibs"] = float(res.minibs)
        return MiniBSRow(
            step=step,
            batch_size=size,
            n_batches=self.cfg.n_batches,
            minibs=float(res.minibs),
            minibs_se=float(res.minibs_se),
            batch_sharpness=_opt(res.batch_sharpness),
            batch_sharpness_se=_opt(res.batch_sharpness_se),
            gap_cv=_opt(res.gap_cv) if vec is not None else None,
            gap_cv_se=_opt(res.gap_cv_se) if vec is not None else None,
            residual_max=float(np.max(np.asarray(res.residuals))),
            n_converged=int(np.sum(np.asarray(res.converged))),
            n_matvecs=int(res.n_matvecs),
            seconds=float(res.seconds),
        )

    def _step_sharpness(
        self, step: int, model: nn.Module, b: int, batch: tuple[Tensor, Tensor]
    ) -> StepSharpnessRow:
        from eoss.empirical.estimators.minibatch import batch_lambda_max

        res = batch_lambda_max(
            model,
            self.loss,
            batch[0],
            batch[1],
            rng=self.rngs["step_sharpness"],
            tol=self.cfg.tol,
            bn_mode=self.cfg.bn_mode,
        )
        return StepSharpnessRow(
            step=step,
            batch_size=int(batch[0].shape[0]),
            lambda_max=float(res.fullbs),
            residual=float(res.residual),
            converged=bool(res.converged),
            n_matvecs=int(res.n_matvecs),
            seconds=float(res.seconds),
        )

    def _ntk(self, step: int, model: nn.Module, b: int, batch: Any) -> NTKRow:
        from eoss.empirical.estimators.ntk import ntk_lambda_max

        size = self.cfg.minibs_batch_size or b
        res = ntk_lambda_max(
            model,
            self.loss,
            self.train,
            batch_size=size,
            n_batches=self.cfg.n_batches,
            rng=self.rngs["ntk"],
            tol=self.cfg.tol,
            bn_mode=self.cfg.bn_mode,
        )
        return NTKRow(
            step=step,
            batch_size=size,
            n_batches=self.cfg.n_batches,
            ntk_lambda_max=float(res.ntk_lambda_max),
            ntk_lambda_max_se=float(res.ntk_lambda_max_se),
            residual_max=float(np.max(np.asarray(res.residuals))),
            n_matvecs=int(res.n_matvecs),
            seconds=float(res.seconds),
        )

    def state_dict(self) -> dict[str, Any]:
        """Random-stream states and the warm-start vector (checkpoint-safe).

        Returns:
            Dict of plain values and CPU tensors.
        """
        return {
            "rngs": {q: r.bit_generator.state for q, r in self.rngs.items()},
            "vector": None if self.vector is None else self.vector.to("cpu", copy=True),
            "vector_step": self.vector_step,
            "last": dict(self.last),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore a state saved by :meth:`state_dict`.

        Args:
            state: The saved dict.
            device: Device of the model (for the warm-start vector).
        """
        for q, s in state["rngs"].items():
            if q in self.rngs:
                self.rngs[q].bit_generator.state = s
        vec = state.get("vector")
        self.vector = None if vec is None else vec.to(device)
        self.vector_step = state.get("vector_step")
        self.last = dict(state.get("last", {}))


def _opt(value: Any) -> float | None:
    """Float or None (for absent / NaN estimates)."""
    if value is None:
        return None
    val = float(value)
    return val if np.isfinite(val) else None
