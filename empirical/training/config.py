"""Typed configuration of a training run (``eoss train``).

One frozen :class:`TrainConfig` holds everything that determines a run's numbers:
the top-level knobs (``lr``, ``batch_size``, ``steps``, ``seed``, ``loss``) and nested
groups (``model``, ``data``, ``optim``, ``noise``, ``schedule``, ``track``,
``checkpoint``). Every group validates itself in ``__post_init__`` and the whole
config checks cross-field constraints, so a bad value fails before any work with
a one-line message. Where the data lives and which device runs the numbers are
*not* part of the config (they do not change the mathematics); they are recorded
in the run's ``env.json``.

Build configs with :func:`eoss.analysis.cli.overrides.apply_overrides` from a preset
(:mod:`eoss.empirical.training.presets`) or a JSON file plus ``--set group.key=value``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from eoss.empirical.losses import LOSS_NAMES
from eoss.empirical.models import ModelSpec

OptimName = Literal["sgd", "gd", "momentum", "noisy_gd"]
NoiseKind = Literal["none", "gaussian", "diagonal", "isotropic"]


@dataclass(frozen=True)
class Cadence:
    """When a quantity is measured: every ``every`` steps and/or log-spaced.

    The measurement steps are the multiples of ``every`` (if > 0) united with
    ``log_points`` geometrically spaced steps in [1, steps] (rounded, if > 0),
    plus step 0 and the final step whenever the quantity is on. Both 0 → off.

    With ``thin`` = P > 0 the linear part thins out as the run goes on: step t is
    measured when it is a multiple of d(t) = ``every`` · 2^k, the largest such
    spacing with d(t) ≤ 0.2 t / (P + 1), so every trailing 20 % of a run (the
    stationarity tail) still holds at least P measurements (once it can: t ≥
    5 (P + 1) ``every``) while the spacing doubles at t = 10 (P + 1) ``every``,
    20 (P + 1) ``every``, … (about 5 (P + 1) to 10 (P + 1) points per doubling of t)
    (:func:`eoss.empirical.training.schedules.cadence_steps`).

    Attributes:
        every: Linear spacing in SGD steps (0: none).
        log_points: Number of log-spaced steps (0: none).
        thin: P, the measurements kept in every trailing 20 % window (0: no
            thinning, every multiple of ``every``).
    """

    every: int = 0
    log_points: int = 0
    thin: int = 0

    def __post_init__(self) -> None:
        if self.every < 0 or self.log_points < 0 or self.thin < 0:
            raise ValueError(
                f"cadence every, log_points and thin must be >= 0, "
                f"got {self.every}, {self.log_points}, {self.thin}"
            )
        if self.thin and not self.every:
            raise ValueError("cadence thin needs every > 0")

    @property
    def enabled(self) -> bool:
        """Whether the quantity is measured at all."""
        return self.every > 0 or self.log_points > 0


@dataclass(frozen=True)
class DataConfig:
    """The training and test data.

    Attributes:
        name: ``cifar10`` (the python-version batches under the data root),
            ``synthetic`` (seeded Gaussian mixture) or ``npz`` (``path``).
        n_train: Size n of the seeded, class-covering training subset (cifar10,
            synthetic); ignored for npz (used exactly as given).
        n_test: Test images (None: the whole test set; 0: no test set).
        seed: Seed of the subset choice (None: the run's seed).
        normalize: Per-channel standardisation with the training subset's
            mean and std (cifar10).
        path: The ``.npz`` file (arrays ``X``, ``y``) for ``name="npz"``.
        input_dim: Input dimension of the synthetic set.
        num_classes: Classes of the synthetic set.
    """

    name: Literal["cifar10", "synthetic", "npz"] = "cifar10"
    n_train: int = 8192
    n_test: int | None = None
    seed: int | None = None
    normalize: bool = True
    path: str | None = None
    input_dim: int = 32
    num_classes: int = 10

    def __post_init__(self) -> None:
        if self.n_train < 1:
            raise ValueError(f"data.n_train must be >= 1, got {self.n_train}")
        if self.n_test is not None and self.n_test < 0:
            raise ValueError(f"data.n_test must be >= 0, got {self.n_test}")
        if self.name == "npz" and not self.path:
            raise ValueError("data.name=npz needs data.path (or --data FILE.npz)")
        if self.input_dim < 1 or self.num_classes < 2:
            raise ValueError("data.input_dim must be >= 1 and num_classes >= 2")
        if self.name == "cifar10" and self.n_train < 10:
            raise ValueError("cifar10 needs n_train >= 10 (every class present)")


@dataclass(frozen=True)
class OptimConfig:
    """The update rule (η and b are the top-level ``lr`` and ``batch_size``).

    * ``sgd``: θ ← θ − η g_B, B a mini-batch of size b (the default).
    * ``gd``: θ ← θ − η ∇L (full batch, chunked; b is ignored).
    * ``momentum``: heavy ball v ← μ v + g_B, θ ← θ − η v (torch's SGD momentum,
      dampening 0; Nesterov with ``nesterov``).
    * ``noisy_gd``: θ ← θ − η (∇L + ξ), ξ from :class:`NoiseConfig`.

    Attributes:
        name: One of the rules above.
        momentum: μ for ``momentum``.
        nesterov: Nesterov momentum.
        sampling: ``epoch`` (reshuffle each epoch, consecutive disjoint batches,
            the last incomplete batch of an epoch dropped) or ``iid`` (each
            step an independent uniform b-subset).
        chunk_size: Physical batch size of full-batch gradients (gd, noisy_gd).
    """

    name: OptimName = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    sampling: Literal["epoch", "iid"] = "epoch"
    chunk_size: int = 1024

    def __post_init__(self) -> None:
        if not 0 <= self.momentum < 1:
            raise ValueError(f"optim.momentum must be in [0, 1), got {self.momentum}")
        if self.chunk_size < 1:
            raise ValueError(f"optim.chunk_size must be >= 1, got {self.chunk_size}")


@dataclass(frozen=True)
class NoiseConfig:
    """Gradient noise of noise-injected GD (see :mod:`eoss.empirical.training.noise`).

    Attributes:
        kind: ``gaussian`` (exact mini-batch covariance C_b), ``diagonal``
            (diag C_b), ``isotropic`` (tr C_b / P · I) or ``none``.
        batch_size: b of the imitated mini-batch noise (None: the run's
            ``batch_size``, following its schedule).
        replacement: Imitate sampling with replacement (factor 1/b) instead of
            without ((N − b) / (b (N − 1))).
    """

    kind: NoiseKind = "none"
    batch_size: int | None = None
    replacement: bool = False

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"noise.batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class ScheduleConfig:
    """Piecewise-constant changes of η and b at given steps (paper Figs. 3–5).

    ``lr_values[i]`` takes effect at step ``lr_at[i]`` (before that step's
    update); likewise for the batch size.

    Attributes:
        lr_at: Strictly increasing steps ≥ 1.
        lr_values: New learning rates (> 0), one per step in ``lr_at``.
        batch_size_at: Strictly increasing steps ≥ 1.
        batch_size_values: New batch sizes (≥ 1).
    """

    lr_at: tuple[int, ...] = ()
    lr_values: tuple[float, ...] = ()
    batch_size_at: tuple[int, ...] = ()
    batch_size_values: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name, at, vals in (
            ("lr", self.lr_at, self.lr_values),
            ("batch_size", self.batch_size_at, self.batch_size_values),
        ):
            if len(at) != len(vals):
                raise ValueError(
                    f"schedule.{name}_at and schedule.{name}_values need equal "
                    f"lengths, got {len(at)} and {len(vals)}"
                )
            if any(s < 1 for s in at) or any(
                b <= a for a, b in zip(at, at[1:], strict=False)
            ):
                raise ValueError(
                    f"schedule.{name}_at must be strictly increasing steps >= 1"
                )
            if any(not (v > 0 and math.isfinite(v)) for v in vals):
                raise ValueError(f"schedule.{name}_values must be > 0 (and finite)")


@dataclass(frozen=True)
class TrackConfig:
    """What is measured during training, each quantity on its own cadence.

    Attributes:
        eval: Train loss/accuracy on the whole training subset, test accuracy.
        fullbs: FullBS, λ_max of the full-batch Hessian (chunked, exact weights).
        minibs: MiniBS over ``n_batches`` fresh batches (with batch sharpness and,
            when FullBS is measured at the same step, the control-variate gap).
        step_sharpness: λ_max of the Hessian of the step's own batch.
        ntk: λ_max of the averaged mini-batch NTK (Gauss–Newton) matrix.
        n_batches: K, batches per MiniBS / NTK measurement.
        minibs_batch_size: b of the measurement (None: the current batch size).
        batch_sharpness: Also measure E_B[g_Bᵀ H_B g_B / ‖g_B‖²].
        tol: Relative eigen-residual tolerance of the solver.
        chunk_size: Physical batch size of full-batch products.
        bn_mode: BatchNorm during measurements: ``eval`` (running statistics) or
            ``train`` (batch statistics, running statistics untouched).
    """

    eval: Cadence = field(default_factory=Cadence)
    fullbs: Cadence = field(default_factory=Cadence)
    minibs: Cadence = field(default_factory=Cadence)
    step_sharpness: Cadence = field(default_factory=Cadence)
    ntk: Cadence = field(default_factory=Cadence)
    n_batches: int = 32
    minibs_batch_size: int | None = None
    batch_sharpness: bool = True
    tol: float = 1e-3
    chunk_size: int = 1024
    bn_mode: Literal["eval", "train"] = "eval"

    def __post_init__(self) -> None:
        if self.n_batches < 2:
            raise ValueError(
                f"track.n_batches must be >= 2 (for a standard error), "
                f"got {self.n_batches}"
            )
        if self.minibs_batch_size is not None and self.minibs_batch_size < 1:
            raise ValueError("track.minibs_batch_size must be >= 1")
        if not 0 < self.tol < 1:
            raise ValueError(f"track.tol must be in (0, 1), got {self.tol}")
        if self.chunk_size < 1:
            raise ValueError(f"track.chunk_size must be >= 1, got {self.chunk_size}")


@dataclass(frozen=True)
class CheckpointConfig:
    """Resumable checkpoints (``checkpoints/step_<STEP>.pt``).

    Attributes:
        every: Steps between checkpoints (the final step is always saved).
        keep_last: Most recent checkpoints kept (older ones are deleted).
        keep_every: Also keep, forever, checkpoints at multiples of this (0: none),
            e.g. for ``--fork`` and ``eoss static-gap`` at chosen steps.
    """

    every: int = 1000
    keep_last: int = 2
    keep_every: int = 0

    def __post_init__(self) -> None:
        if self.every < 1 or self.keep_last < 1 or self.keep_every < 0:
            raise ValueError(
                "checkpoint.every and keep_last must be >= 1, keep_every >= 0"
            )


#: The rules ``stop.rule`` may name (:mod:`eoss.empirical.training.stationarity`).
STATIONARITY_RULES = ("point", "equivalence")


@dataclass(frozen=True)
class StopConfig:
    """Training until stationary, with ``steps`` as the cap.

    With ``until_stationary`` the run evaluates the stationarity rule
    (:mod:`eoss.empirical.training.stationarity`, the one the analysis uses) at
    every multiple of ``check_every`` from ``min_steps`` on, measuring FullBS,
    MiniBS and the training loss there whatever their cadences; it ends as
    ``finished`` at the first stationary check (reason ``stationary at step s``)
    or at ``steps`` (reason ``cap``).

    Attributes:
        until_stationary: Stop at the first stationary check.
        check_every: Steps between checks.
        min_steps: No check before this step.
        min_points: Measurements of each series the tail must hold.
        drift_tol: τ, in units of 2/η.
        rule: ``"point"`` (|drift| ≤ τ) or ``"equivalence"`` (the drift's 90 %
            interval inside ±τ): the stationarity module's rules.
    """

    until_stationary: bool = False
    check_every: int = 1000
    min_steps: int = 0
    min_points: int = 8
    drift_tol: float = 0.05
    rule: str = "point"

    def __post_init__(self) -> None:
        if self.check_every < 1 or self.min_steps < 0:
            raise ValueError("stop.check_every must be >= 1 and min_steps >= 0")
        if self.min_points < 3:
            raise ValueError(f"stop.min_points must be >= 3, got {self.min_points}")
        if not (self.drift_tol > 0 and math.isfinite(self.drift_tol)):
            raise ValueError(f"stop.drift_tol must be > 0, got {self.drift_tol}")
        if self.rule not in STATIONARITY_RULES:
            raise ValueError(f"stop.rule must be one of {STATIONARITY_RULES}")


@dataclass(frozen=True)
class TrainConfig:
    """A training run.

    Attributes:
        lr: Learning rate η (> 0) at step 0.
        batch_size: Mini-batch size b at step 0 (ignored by ``gd``/``noisy_gd``).
        steps: Number of updates.
        seed: Seed of all random streams (init, data, batches, noise, tracking).
        loss: Per-sample loss convention (:mod:`eoss.empirical.losses`).
        dtype: Parameter and data dtype.
        diverge_factor: The run stops as diverged when a loss is NaN/inf or
            exceeds ``diverge_factor`` × the initial training loss.
        model: Architecture.
        data: Data set.
        optim: Update rule.
        noise: Injected noise (``optim.name == "noisy_gd"``).
        schedule: η and b changes.
        track: Measurements.
        checkpoint: Checkpoints.
        stop: Training until stationary (``steps`` is then the cap).
    """

    lr: float = 0.01
    batch_size: int = 16
    steps: int = 10_000
    seed: int = 0
    loss: str = "mse"
    dtype: Literal["float32", "float64"] = "float32"
    diverge_factor: float = 1000.0
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    stop: StopConfig = field(default_factory=StopConfig)

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be > 0 (and finite), got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.loss not in LOSS_NAMES:
            raise ValueError(
                f"unknown loss {self.loss!r}; choose from {', '.join(LOSS_NAMES)}"
            )
        if not (self.diverge_factor > 1 and math.isfinite(self.diverge_factor)):
            raise ValueError(
                f"diverge_factor must be > 1 (and finite), got {self.diverge_factor}"
            )
        noisy = self.optim.name == "noisy_gd"
        if noisy != (self.noise.kind != "none"):
            raise ValueError(
                "noise.kind must be set (gaussian, diagonal, isotropic) exactly "
                "when optim.name=noisy_gd"
            )
        if self.stop.until_stationary and not (
            self.track.fullbs.enabled and self.track.minibs.enabled
        ):
            raise ValueError(
                "stop.until_stationary needs track.fullbs and track.minibs on"
            )
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Batch sizes against the training-set size (when it is known here)."""
        if self.data.name == "npz":
            return  # n is known only once the file is read (checked by train.run)
        sizes = [
            self.batch_size,
            *self.schedule.batch_size_values,
            self.track.minibs_batch_size or 1,
            self.noise.batch_size or 1,
        ]
        if max(sizes) > self.data.n_train:
            raise ValueError(
                f"batch size {max(sizes)} exceeds the training set "
                f"(data.n_train={self.data.n_train})"
            )
