"""The tables of a training run's ``metrics.jsonl``: one frozen row type per table.

Every line of ``metrics.jsonl`` is ``{"table": <name>, **row.record()}`` for one
of the row types below; their fields, in order, are the table's columns, so these
declarations are the schema (docs/records.md). Every row carries ``step``, the
number of SGD updates taken before the measurement (θ_step).

* :class:`TrainRow` (``train``): the step's η, b and batch loss before the update.
* :class:`EvalRow` (``eval``): loss and accuracy on the training subset and test set.
* :class:`StepSharpnessRow` (``step_sharpness``): λ_max(H_B) of the step's batch.
* :class:`MiniBSRow` (``minibs``): MiniBS = mean_B λ_max(H_B) ± SE over K batches,
  batch sharpness mean_B g_Bᵀ H_B g_B / ‖g_B‖² ± SE and the control-variate gap
  mean_B [λ_max(H_B) − vᵀ H_B v] ± SE (v the FullBS eigenvector of the same step).
* :class:`FullBSRow` (``fullbs``): FullBS = λ_max(∇²L) over the training subset.
* :class:`NTKRow` (``ntk``): mean_B λ_max of the mini-batch NTK (Gauss–Newton) ± SE.
* :class:`EventRow` (``event``): a change of η or b, a resume, a fork, divergence.

``null`` in the file is ``None`` here (absent or non-finite estimates). Changing a
field changes the file format: old run directories must still read
(:mod:`eoss.analysis.records.reader`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Row:
    """Base of the row types: the table name and the JSON record.

    Attributes:
        table: The table's name (the ``table`` key of its lines).
        optional: Columns left out of the record when None.
    """

    table: ClassVar[str] = ""
    optional: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The table's columns, in the order they are written.

        Returns:
            Field names (``step`` first).
        """
        return tuple(f.name for f in fields(cls))

    def record(self) -> dict[str, Any]:
        """The row as written to ``metrics.jsonl`` (without the ``table`` key).

        Returns:
            Column → value, in column order (:attr:`optional` columns only when
            not None).
        """
        out = {name: getattr(self, name) for name in self.columns()}
        return {k: v for k, v in out.items() if v is not None or k not in self.optional}


@dataclass(frozen=True)
class TrainRow(Row):
    """One update: θ_{t+1} = θ_t − η g_B (or the rule's variant).

    Attributes:
        step: t, updates taken before this one.
        lr: η used by the update.
        batch_size: b of the update (n for full-batch rules, the imitated b for
            noise-injected GD).
        loss: L_B(θ_t), the loss of the step's batch before the update.
    """

    table: ClassVar[str] = "train"
    step: int
    lr: float
    batch_size: int
    loss: float


@dataclass(frozen=True)
class EvalRow(Row):
    """Mean loss and accuracy of θ_step (eval mode).

    Attributes:
        step: Updates taken.
        train_loss: L(θ) over the whole training subset.
        train_acc: Training accuracy (None for float targets).
        test_loss: Test loss (None without a test set).
        test_acc: Test accuracy (None without a test set or for float targets).
        seconds: Wall time of the evaluation.
    """

    table: ClassVar[str] = "eval"
    step: int
    train_loss: float
    train_acc: float | None
    test_loss: float | None
    test_acc: float | None
    seconds: float


@dataclass(frozen=True)
class StepSharpnessRow(Row):
    """λ_max(H_B) of the batch B the step is about to use.

    Attributes:
        step: Updates taken.
        batch_size: |B|.
        lambda_max: λ_max(H_B).
        residual: Eigen-residual ‖H_B v − λ v‖.
        converged: Whether the solver met its tolerance.
        n_matvecs: Hessian-vector products spent.
        seconds: Wall time.
    """

    table: ClassVar[str] = "step_sharpness"
    step: int
    batch_size: int
    lambda_max: float
    residual: float
    converged: bool
    n_matvecs: int
    seconds: float


@dataclass(frozen=True)
class MiniBSRow(Row):
    """MiniBS over K fresh uniform batches, with batch sharpness and the CV gap.

    MiniBS = (1/K) Σ_k λ_max(H_{B_k}), SE = std(ddof=1)/√K.

    Attributes:
        step: Updates taken.
        batch_size: b of the measured batches.
        n_batches: K.
        minibs: MiniBS.
        minibs_se: Its standard error.
        batch_sharpness: mean_B g_Bᵀ H_B g_B / ‖g_B‖² (None when not measured).
        batch_sharpness_se: Its standard error.
        gap_cv: mean_B [λ_max(H_B) − vᵀ H_B v], v the FullBS eigenvector of the
            same step (None unless FullBS was measured at this step).
        gap_cv_se: Its standard error.
        residual_max: Largest eigen-residual over the K batches.
        n_converged: Batches whose solver met its tolerance.
        n_matvecs: Hessian-vector products spent.
        seconds: Wall time.
    """

    table: ClassVar[str] = "minibs"
    step: int
    batch_size: int
    n_batches: int
    minibs: float
    minibs_se: float
    batch_sharpness: float | None
    batch_sharpness_se: float | None
    gap_cv: float | None
    gap_cv_se: float | None
    residual_max: float
    n_converged: int
    n_matvecs: int
    seconds: float


@dataclass(frozen=True)
class FullBSRow(Row):
    """FullBS = λ_max(∇²L(θ)) over the whole training subset.

    Attributes:
        step: Updates taken.
        fullbs: λ_max of the full-batch Hessian.
        residual: Eigen-residual ‖H v − λ v‖.
        converged: Whether the solver met its tolerance.
        n_matvecs: Hessian-vector products spent.
        seconds: Wall time.
        warm_start: Whether the solver started from the previous eigenvector.
    """

    table: ClassVar[str] = "fullbs"
    step: int
    fullbs: float
    residual: float
    converged: bool
    n_matvecs: int
    seconds: float
    warm_start: bool


@dataclass(frozen=True)
class NTKRow(Row):
    """λ_max of the averaged mini-batch NTK (Gauss–Newton) matrix over K batches.

    Attributes:
        step: Updates taken.
        batch_size: b of the measured batches.
        n_batches: K.
        ntk_lambda_max: (1/K) Σ_k λ_max(G_{B_k}).
        ntk_lambda_max_se: Its standard error.
        residual_max: Largest eigen-residual over the K batches.
        n_matvecs: Matrix-vector products spent.
        seconds: Wall time.
    """

    table: ClassVar[str] = "ntk"
    step: int
    batch_size: int
    n_batches: int
    ntk_lambda_max: float
    ntk_lambda_max_se: float
    residual_max: float
    n_matvecs: int
    seconds: float


EVENT_KINDS = ("lr", "batch_size", "resume", "fork", "diverged", "stop")


@dataclass(frozen=True)
class EventRow(Row):
    """Something that changed the run at a step boundary.

    ``kind`` is one of :data:`EVENT_KINDS`: ``lr`` / ``batch_size`` (old → new
    value), ``resume`` (old: last step seen before the resume, new: the resumed
    step), ``fork`` (old: the source run's folder, new: the fork step),
    ``diverged`` (old and new None, with a ``reason``) or ``stop`` (a run with
    ``stop.until_stationary`` ended: old and new None, ``reason`` the stationary
    check or ``cap: ...``).

    Attributes:
        step: Updates taken.
        kind: What happened.
        old: The value before.
        new: The value after.
        reason: Why the run diverged or stopped; written only when not None.

    Raises:
        ValueError: On a kind outside :data:`EVENT_KINDS`.
    """

    table: ClassVar[str] = "event"
    optional: ClassVar[tuple[str, ...]] = ("reason",)
    step: int
    kind: str
    old: Any
    new: Any
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")


ROW_TYPES: tuple[type[Row], ...] = (
    TrainRow,
    EvalRow,
    StepSharpnessRow,
    MiniBSRow,
    FullBSRow,
    NTKRow,
    EventRow,
)
# Every table name of metrics.jsonl, its row type and its columns.
TABLES: tuple[str, ...] = tuple(t.table for t in ROW_TYPES)
ROW_TYPE: dict[str, type[Row]] = {t.table: t for t in ROW_TYPES}
COLUMNS: dict[str, tuple[str, ...]] = {t.table: t.columns() for t in ROW_TYPES}
# The tables read as numeric column arrays (``event`` rows carry strings).
COLUMN_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t != EventRow.table)
