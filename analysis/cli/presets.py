"""Presets of ``eoss reproduce``: what each reproduction runs, sized for its machine.

``smoke`` tests the pipeline at toy size; ``quick`` is the README's main job (400
CPU-seconds measured: 4 minutes on 2 idle CPU cores); ``cpu`` the fuller CPU study
behind the committed report;
``paper`` the paper-scale version for a GPU. Sizes were chosen from measured costs
(``docs/training.md``, ``benchmarks/RESULTS.md``).

A study's training runs are typed :data:`Overrides`: dotted
:class:`~eoss.empirical.training.config.TrainConfig` field paths mapped to values
(``{"lr": 0.02, "track.minibs.every": 250}``), applied on top of an ``eoss train``
preset; :mod:`eoss.analysis.cli.plan` composes each run's full config from them and
hands the child process a config file. :func:`check_study` validates every
mapping against ``TrainConfig`` (the test suite runs it for every preset, so a
renamed field fails a test, not a reproduction). The simulations stay argv
(:class:`SimulationSpec`), since ``eoss simulate gap`` takes no config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eoss.analysis.cli.noise_settings import (
    CPU_NOISE_BASE,
    GPU_NOISE,
    NOISE_VARIANTS,
    NOISY_GD,
    QUICK_NOISE_BASE,
)
from eoss.analysis.cli.paper_settings import (
    PAPER_CPU_BASE,
    PAPER_CPU_FORKS,
    PAPER_CPU_NOTES,
    PAPER_CPU_PROJECTION,
    PAPER_CPU_RUNS,
    PAPER_GPU_BASE,
    PAPER_GPU_FORKS,
    PAPER_GPU_NOTES,
    PAPER_GPU_RUNS,
    STATIC_FORK,
)

#: Typed config overrides: dotted ``TrainConfig`` field path → value.
Overrides = Mapping[str, object]


@dataclass(frozen=True)
class SimulationSpec:
    """One ``eoss simulate gap`` call.

    Attributes:
        name: Output folder name.
        args: Its command-line arguments (after ``simulate gap``).
    """

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class TrainingStudy:
    """The CIFAR-10 part of a preset.

    Attributes:
        base: Overrides on top of ``preset`` shared by every run.
        preset: The ``eoss train`` preset the runs start from.
        batch_sizes: Sweep grid over b (each run at its own b; η fixed).
        seeds: Sweep grid over seeds.
        static_from: b of the sweep run whose final checkpoint is frozen.
        static_batch_sizes: b values of the static curve.
        static_batches: K batches per b of the static curve.
        forks: (name, overrides) forks from the ``fork_from`` run's last checkpoint;
            overrides must extend ``steps``.
        noise: (name, overrides) runs of the noise comparison (empty: none).
        noise_base: Overrides shared by the noise runs (on top of ``base``).
        jobs: Parallel sweep processes.
        fork_from: b of the (first-seed) sweep run the forks start from (None:
            ``static_from``).
        static_fork: Overrides of a fork of the ``static_from`` run trained on
            before its final checkpoint is frozen for the static curve (None:
            freeze the sweep run's own last checkpoint).
        runs: (name, overrides) single fresh runs on top of ``base``: the forks'
            constant-setting references, η-sensitivity runs.
    """

    base: Overrides
    preset: str
    batch_sizes: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    static_from: int | None = None
    static_batch_sizes: tuple[int, ...] = ()
    static_batches: int = 32
    forks: tuple[tuple[str, Overrides], ...] = ()
    noise: tuple[tuple[str, Overrides], ...] = ()
    noise_base: Overrides = field(default_factory=dict)
    jobs: int = 1
    fork_from: int | None = None
    static_fork: Overrides | None = None
    runs: tuple[tuple[str, Overrides], ...] = ()

    def overrides(self) -> dict[str, Overrides]:
        """Every override mapping of the study, labelled (for validation).

        Returns:
            ``{"base": ..., "noise_base": ..., "fork <name>": ..., ...}``.
        """
        out: dict[str, Overrides] = {"base": self.base, "noise_base": self.noise_base}
        out.update({f"fork {name}": o for name, o in self.forks})
        out.update({f"noise {name}": o for name, o in self.noise})
        out.update({f"run {name}": o for name, o in self.runs})
        if self.static_fork is not None:
            out["static_fork"] = self.static_fork
        return out


@dataclass(frozen=True)
class ReproducePreset:
    """A named reproduction.

    Attributes:
        name: Preset name (also the default report name ``eoss-<name>``).
        summary: One line on what it does and how long it takes.
        simulations: Random-matrix settings.
        study: The CIFAR-10 study (None: symbolic + simulation only).
        notes: What the preset gives up or pairs (printed by ``--dry-run``).
        projection: (stage group, minutes) projected on 2 quiet CPU cores with
            every run at its step cap, from measured unit costs
            (``docs/training.md``); empty: not projected.
    """

    name: str
    summary: str
    simulations: tuple[SimulationSpec, ...]
    study: TrainingStudy | None = None
    notes: tuple[str, ...] = field(default=())
    projection: tuple[tuple[str, float], ...] = ()

    @property
    def projected_minutes(self) -> float | None:
        """The projected total (None when not projected).

        Returns:
            Minutes.
        """
        return sum(m for _, m in self.projection) if self.projection else None


def _pow2(lo: int, hi: int) -> tuple[int, ...]:
    out, b = [], lo
    while b <= hi:
        out.append(b)
        b *= 2
    return tuple(out)


def csv_list(values: tuple[int, ...]) -> str:
    """``(1, 2, 4)`` → ``"1,2,4"`` (command-line list).

    Args:
        values: Integers.

    Returns:
        The comma-separated text.
    """
    return ",".join(str(v) for v in values)


def _simulation(
    name: str, family: str, dim: int, n: int, sampling: str, b_max: int, batches: int
) -> SimulationSpec:
    return SimulationSpec(
        name,
        ("--family", family, "--dim", str(dim), "--n", str(n), "--sampling", sampling,
         "--batch-sizes", csv_list(_pow2(1, b_max)), "--batches", str(batches),
         "--seed", "0"),
    )  # fmt: skip


_SPIKED = _simulation("spiked-without", "spiked", 200, 1024, "without", 1024, 200)
_SPIKED_WITH = _simulation("spiked-with", "spiked", 200, 1024, "with", 1024, 200)
_ISO_ONLINE = _simulation(
    "isotropic-online", "isotropic", 64, 1024, "online", 4096, 100
)
_ORTHOGONAL = _simulation(
    "orthogonal-without", "orthogonal", 256, 256, "without", 256, 200
)
_SIMULATIONS = (_SPIKED, _SPIKED_WITH, _ISO_ONLINE, _ORTHOGONAL)

# Sized from measured costs: at n = 2048 each FullBS solve took 3.8 s of a 110 s
# run (17 tracking points of FullBS + MiniBS + eval = 94 s); n = 1024 halves it,
# and 3000 steps keep 13 tracking points, enough for a 20 % stationarity tail of
# 3 FullBS / batch-sharpness measurements.
_QUICK_BASE: Overrides = {
    "model.width": 256,
    "data.n_train": 1024,
    "lr": 0.04,
    "steps": 3000,
    "track.eval.every": 250,
    "track.fullbs.every": 250,
    "track.minibs.every": 250,
    # Fig. 2's per-step λ_max(H_B) cloud and Fig. 17's NTK levels, measured: 21 s
    # and 21 s of solver time over the 5 sweep runs (2 jobs: ~21 s of wall time in
    # all, ~8 % of the 278 s preset)
    "track.step_sharpness.every": 100,
    "track.ntk.every": 500,
    "track.n_batches": 12,
    "checkpoint.every": 1000,
}
_CPU_BASE: Overrides = {
    "data.n_train": 4096,
    "lr": 0.02,
    "steps": 10000,
    "track.eval.every": 250,
    "track.fullbs.every": 250,
    "track.minibs.every": 250,
    "track.ntk.every": 1000,
    "track.n_batches": 24,
    "checkpoint.every": 1000,
}
PRESETS: dict[str, ReproducePreset] = {
    "smoke": ReproducePreset(
        name="smoke",
        summary="every stage at toy size on synthetic data in about a minute (tests "
        "the pipeline; its numbers mean nothing)",
        simulations=(
            _simulation("spiked-without", "spiked", 16, 64, "without", 64, 20),
        ),
        study=TrainingStudy(
            base={"steps": 60},
            preset="test",
            batch_sizes=(4, 16),
            static_from=4,
            static_batch_sizes=_pow2(1, 64),
            static_batches=4,
            forks=(("lr-down", {"lr": 0.025, "steps": 90}),),
            noise=(("noise-full", NOISY_GD),),
        ),
    ),
    "quick": ReproducePreset(
        name="quick",
        summary="end to end in 400 CPU-seconds (measured: 242 s on 2 idle CPU "
        "cores, far longer on loaded ones): derivations, two "
        "simulations, a 5-point trained sweep (b = 8..128), a static curve and an "
        "eta fork on 1024 CIFAR-10 images (MLP 2x256), the five noise variants "
        "(SGD, GD, noise-injected GD) on 256",
        simulations=(_SPIKED, _SPIKED_WITH),
        study=TrainingStudy(
            base=_QUICK_BASE,
            preset="cpu-mlp",
            batch_sizes=(8, 16, 32, 64, 128),
            static_from=32,
            # b < n only: at b = n = 1024 the gap is 0 by construction
            static_batch_sizes=_pow2(1, 512),
            static_batches=16,
            forks=(("lr-down", {"lr": 0.02, "steps": 3750}),),
            noise=NOISE_VARIANTS,
            noise_base=QUICK_NOISE_BASE,
            jobs=2,
        ),
    ),
    "cpu": ReproducePreset(
        name="cpu",
        summary="the fuller CPU study (about 3 h on 2 cores, measured): four "
        "simulations, a 9-point sweep (b = 4..1024) with two seeds on 4096 CIFAR-10 "
        "images (MLP 2x512), a static curve, eta/b forks, noise-injected GD variants, "
        "NTK tracking",
        simulations=_SIMULATIONS,
        study=TrainingStudy(
            base=_CPU_BASE,
            preset="cpu-mlp",
            batch_sizes=_pow2(4, 1024),
            seeds=(0, 1),
            static_from=64,
            static_batch_sizes=(*_pow2(1, 2048), 3072, 4096),
            static_batches=32,
            forks=(
                ("lr-down", {"lr": 0.01, "steps": 13000}),
                ("lr-up", {"lr": 0.03, "steps": 13000}),
                ("b-up", {"batch_size": 256, "steps": 13000}),
            ),
            noise=NOISE_VARIANTS,
            noise_base=CPU_NOISE_BASE,
            jobs=2,
        ),
    ),
    "paper-cpu": ReproducePreset(
        name="paper-cpu",
        summary="the paper's Fig. 19 setting on 2 CPU cores (projected <= 3 h, "
        "resumable): MLP 2x512, 8192 CIFAR-10 images, eta = 0.01, b = 4..256 x 2 "
        "seeds + b = 512 x 1 until stationary (cap 20k steps), static curve at "
        "b = 256, eta/b forks with references, eta-sensitivity at 0.02",
        simulations=_SIMULATIONS,
        study=TrainingStudy(
            base=PAPER_CPU_BASE,
            preset="paper-mlp",
            batch_sizes=_pow2(4, 256),
            seeds=(0, 1),
            static_from=256,
            static_fork=STATIC_FORK,
            static_batch_sizes=(*_pow2(1, 4096), 6144),
            static_batches=16,
            fork_from=64,
            forks=PAPER_CPU_FORKS,
            runs=PAPER_CPU_RUNS,
            jobs=2,
        ),
        notes=PAPER_CPU_NOTES,
        projection=PAPER_CPU_PROJECTION,
    ),
    "paper": ReproducePreset(
        name="paper",
        summary="paper-cpu at the paper's eta = 0.004, for a GPU (days on a CPU): "
        "b = 2..1024 x 4 seeds until stationary (cap 100k), static curve, eta/b "
        "forks with references, eta-sensitivity, noise variants with GD and SGD "
        "controls at n = 8192",
        simulations=_SIMULATIONS,
        study=TrainingStudy(
            base=PAPER_GPU_BASE,
            preset="paper-mlp",
            batch_sizes=_pow2(2, 1024),
            seeds=(0, 1, 2, 3),
            static_from=256,
            static_fork={**STATIC_FORK, "steps": 200000},
            static_batch_sizes=(*_pow2(1, 4096), 6144, 8192),
            static_batches=64,
            fork_from=64,
            forks=PAPER_GPU_FORKS,
            runs=PAPER_GPU_RUNS,
            noise=GPU_NOISE,
            noise_base={"batch_size": 16, "steps": 50000},
            jobs=2,
        ),
        notes=PAPER_GPU_NOTES,
    ),
}


def get_preset(name: str) -> ReproducePreset:
    """The reproduction preset ``name``.

    Args:
        name: One of :data:`PRESETS`.

    Returns:
        The preset.

    Raises:
        ValueError: On an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def check_study(study: TrainingStudy) -> None:
    """Validate every override mapping of a study against ``TrainConfig``.

    Checks that each key is a leaf field and each value of that field's type
    (the composed configs' cross-field checks run when a plan is made).

    Args:
        study: The study.

    Raises:
        ValueError: Naming the mapping and the bad key or value.
    """
    from eoss.analysis.cli.overrides import check_overrides
    from eoss.empirical.training.config import TrainConfig

    for label, overrides in study.overrides().items():
        try:
            check_overrides(TrainConfig, overrides)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
