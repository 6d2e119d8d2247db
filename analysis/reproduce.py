"""The whole pipeline as one resumable plan: derive, simulate, train, freeze, report.

``eoss reproduce --preset NAME`` runs, in order, stages that are each an ordinary
``eoss`` command (so every output is a normal, documented record folder):

1. ``derive``   — ``eoss derive all --json`` → ``<root>/derive/derive.json``;
2. ``simulate`` — ``eoss simulate gap`` per random-matrix setting;
3. ``sweep``    — ``eoss sweep``: SGD on real CIFAR-10 at several batch sizes (and
   seeds), sharpness tracked (the trained gap);
4. ``static``   — ``eoss static-gap`` on the final checkpoint of one sweep run (the
   frozen-network gap);
5. ``forks``    — ``eoss train --fork`` from a sweep run's final checkpoint with η
   lowered / raised and b raised (the paper's Figs. 3–5);
6. ``noise``    — full-batch GD with injected noise of SGD's full covariance, its
   diagonal, isotropic noise, plain GD and SGD (Fig. 10);
7. ``report``   — :func:`analysis.report.build_report` over everything above.

A stage whose output is complete is skipped, an interrupted training run is resumed
from its last checkpoint (``eoss sweep`` and ``eoss train --resume`` do this), so
re-running an interrupted reproduction continues it. This module only *plans*; the
command in :mod:`analysis.commands.reproduce` executes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import records


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
        base: ``--set`` overrides on top of ``preset`` shared by every run.
        preset: The ``eoss train`` preset the runs start from.
        batch_sizes: Sweep grid over b (each run at its own b; η fixed).
        seeds: Sweep grid over seeds.
        static_from: b of the sweep run whose final checkpoint is frozen.
        static_batch_sizes: b values of the static curve.
        static_batches: K batches per b of the static curve.
        forks: (name, overrides) forks from the ``static_from`` run's last checkpoint;
            overrides must extend ``steps``.
        noise: (name, overrides) runs of the noise comparison (empty: none).
        noise_base: Overrides shared by the noise runs (on top of ``base``).
        jobs: Parallel sweep processes.
    """

    base: tuple[str, ...]
    preset: str
    batch_sizes: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    static_from: int | None = None
    static_batch_sizes: tuple[int, ...] = ()
    static_batches: int = 32
    forks: tuple[tuple[str, tuple[str, ...]], ...] = ()
    noise: tuple[tuple[str, tuple[str, ...]], ...] = ()
    noise_base: tuple[str, ...] = ()
    jobs: int = 1


@dataclass(frozen=True)
class ReproducePreset:
    """A named reproduction.

    Attributes:
        name: Preset name (also the default report name ``eoss-<name>``).
        summary: One line on what it does and how long it takes.
        simulations: Random-matrix settings.
        study: The CIFAR-10 study (None: symbolic + simulation only).
    """

    name: str
    summary: str
    simulations: tuple[SimulationSpec, ...]
    study: TrainingStudy | None = None
    notes: tuple[str, ...] = field(default=())


def _pow2(lo: int, hi: int) -> tuple[int, ...]:
    out, b = [], lo
    while b <= hi:
        out.append(b)
        b *= 2
    return tuple(out)


def _csv(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)


_SPIKED = SimulationSpec(
    "spiked-without",
    (
        "--family",
        "spiked",
        "--dim",
        "200",
        "--n",
        "1024",
        "--sampling",
        "without",
        "--batch-sizes",
        _csv(_pow2(1, 1024)),
        "--batches",
        "200",
        "--seed",
        "0",
    ),
)
_SPIKED_WITH = SimulationSpec(
    "spiked-with",
    (
        "--family",
        "spiked",
        "--dim",
        "200",
        "--n",
        "1024",
        "--sampling",
        "with",
        "--batch-sizes",
        _csv(_pow2(1, 1024)),
        "--batches",
        "200",
        "--seed",
        "0",
    ),
)
_ISO_ONLINE = SimulationSpec(
    "isotropic-online",
    (
        "--family",
        "isotropic",
        "--dim",
        "64",
        "--n",
        "1024",
        "--sampling",
        "online",
        "--batch-sizes",
        _csv(_pow2(1, 4096)),
        "--batches",
        "100",
        "--seed",
        "0",
    ),
)
_ORTHOGONAL = SimulationSpec(
    "orthogonal-without",
    (
        "--family",
        "orthogonal",
        "--dim",
        "256",
        "--n",
        "256",
        "--sampling",
        "without",
        "--batch-sizes",
        _csv(_pow2(1, 256)),
        "--batches",
        "200",
        "--seed",
        "0",
    ),
)

_QUICK_BASE = (
    "model.width=256",
    "data.n_train=2048",
    "lr=0.04",
    "steps=4000",
    "track.eval.every=250",
    "track.fullbs.every=250",
    "track.minibs.every=250",
    "track.n_batches=16",
    "checkpoint.every=1000",
)
_CPU_BASE = (
    "data.n_train=4096",
    "lr=0.02",
    "steps=10000",
    "track.eval.every=250",
    "track.fullbs.every=250",
    "track.minibs.every=250",
    "track.ntk.every=1000",
    "track.n_batches=24",
    "checkpoint.every=1000",
)
_CPU_NOISE_BASE = (
    "data.n_train=1024",
    "batch_size=32",
    "steps=5000",
    "track.ntk.every=0",
)

PRESETS: dict[str, ReproducePreset] = {
    "smoke": ReproducePreset(
        name="smoke",
        summary="every stage at toy size on synthetic data in about a minute (tests "
        "the pipeline; its numbers mean nothing)",
        simulations=(
            SimulationSpec(
                "spiked-without",
                (
                    "--family",
                    "spiked",
                    "--dim",
                    "16",
                    "--n",
                    "64",
                    "--sampling",
                    "without",
                    "--batch-sizes",
                    _csv(_pow2(1, 64)),
                    "--batches",
                    "20",
                    "--seed",
                    "0",
                    "--no-figure",
                ),
            ),
        ),
        study=TrainingStudy(
            base=("steps=60",),
            preset="test",
            batch_sizes=(4, 16),
            static_from=4,
            static_batch_sizes=_pow2(1, 64),
            static_batches=4,
            forks=(("lr-down", ("lr=0.025", "steps=90")),),
            noise=(("noise-full", ("optim.name=noisy_gd", "noise.kind=gaussian")),),
        ),
    ),
    "quick": ReproducePreset(
        name="quick",
        summary="end to end on 2 CPU cores in under 10 minutes: derivations, two "
        "simulations, a 6-point trained sweep, a static curve and an eta fork on "
        "2048 CIFAR-10 images (MLP 2x256)",
        simulations=(_SPIKED, _SPIKED_WITH),
        study=TrainingStudy(
            base=_QUICK_BASE,
            preset="cpu-mlp",
            batch_sizes=(8, 16, 32, 64, 128, 256),
            static_from=32,
            static_batch_sizes=_pow2(1, 2048),
            static_batches=16,
            forks=(("lr-down", ("lr=0.02", "steps=5000")),),
            jobs=2,
        ),
    ),
    "cpu": ReproducePreset(
        name="cpu",
        summary="the fuller CPU study (about 1.5 h on 2 cores): four simulations, a "
        "9-point sweep (b = 4..1024) with two seeds on 4096 CIFAR-10 images (MLP "
        "2x512), a static curve, eta/b forks, noise-injected GD variants, NTK tracking",
        simulations=(_SPIKED, _SPIKED_WITH, _ISO_ONLINE, _ORTHOGONAL),
        study=TrainingStudy(
            base=_CPU_BASE,
            preset="cpu-mlp",
            batch_sizes=_pow2(4, 1024),
            seeds=(0, 1),
            static_from=64,
            static_batch_sizes=_pow2(1, 4096),
            static_batches=32,
            forks=(
                ("lr-down", ("lr=0.01", "steps=13000")),
                ("lr-up", ("lr=0.03", "steps=13000")),
                ("b-up", ("batch_size=256", "steps=13000")),
            ),
            noise=(
                ("sgd", ()),
                ("gd", ("optim.name=gd",)),
                ("noise-full", ("optim.name=noisy_gd", "noise.kind=gaussian")),
                ("noise-diagonal", ("optim.name=noisy_gd", "noise.kind=diagonal")),
                ("noise-isotropic", ("optim.name=noisy_gd", "noise.kind=isotropic")),
            ),
            noise_base=_CPU_NOISE_BASE,
            jobs=2,
        ),
    ),
    "paper": ReproducePreset(
        name="paper",
        summary="paper scale, for a GPU (days on a CPU): the paper MLP on 8192 images, "
        "b = 2..1024, 100k steps, two seeds, forks and noise variants",
        simulations=(_SPIKED, _SPIKED_WITH, _ISO_ONLINE, _ORTHOGONAL),
        study=TrainingStudy(
            base=(),
            preset="paper-mlp",
            batch_sizes=_pow2(2, 1024),
            seeds=(0, 1),
            static_from=16,
            static_batch_sizes=_pow2(1, 8192),
            static_batches=64,
            forks=(
                ("lr-down", ("lr=0.005", "steps=150000")),
                ("lr-up", ("lr=0.02", "steps=150000")),
                ("b-up", ("batch_size=64", "steps=150000")),
            ),
            noise=(
                ("sgd", ()),
                ("gd", ("optim.name=gd",)),
                ("noise-full", ("optim.name=noisy_gd", "noise.kind=gaussian")),
                ("noise-diagonal", ("optim.name=noisy_gd", "noise.kind=diagonal")),
                ("noise-isotropic", ("optim.name=noisy_gd", "noise.kind=isotropic")),
            ),
            noise_base=("data.n_train=2048", "batch_size=16", "steps=30000"),
            jobs=2,
        ),
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


@dataclass(frozen=True)
class Stage:
    """One command of the plan.

    Attributes:
        name: Stage label (for progress and the summary).
        argv: ``eoss`` arguments.
        output: Folder or file the stage produces.
        done_file: The file whose presence means the stage is complete (None: the
            command itself skips finished work, e.g. ``eoss sweep``).
        capture: Write the command's stdout to ``output`` (``eoss derive --json``).
    """

    name: str
    argv: tuple[str, ...]
    output: Path
    done_file: Path | None = None
    capture: bool = False

    def is_done(self) -> bool:
        """Whether the stage's output is already complete.

        Returns:
            True when ``done_file`` exists.
        """
        return self.done_file is not None and self.done_file.is_file()


def point_name(batch_size: int, seed: int) -> str:
    """Sweep point folder name (as ``eoss sweep`` names it).

    Args:
        batch_size: b.
        seed: Seed.

    Returns:
        ``batch_size=<b>,seed=<s>``.
    """
    return f"batch_size={batch_size},seed={seed}"


def _common(data_root: str | None, device: str | None) -> tuple[str, ...]:
    out: tuple[str, ...] = ("--quiet",)
    if data_root:
        out += ("--data-root", data_root)
    if device:
        out += ("--device", device)
    return out


def _training_stages(
    study: TrainingStudy, root: Path, common: tuple[str, ...]
) -> list[Stage]:
    sets = tuple(a for s in study.base for a in ("--set", s))
    sweep_dir = root / "sweep"
    stages = [
        Stage(
            "sweep",
            (
                "sweep",
                "--preset",
                study.preset,
                *sets,
                "--grid",
                f"batch_size={_csv(study.batch_sizes)}",
                "--grid",
                f"seed={_csv(study.seeds)}",
                "--jobs",
                str(study.jobs),
                "--out",
                str(sweep_dir),
                *common,
            ),
            sweep_dir,
        )
    ]
    if study.static_from is None:
        return stages
    source = sweep_dir / "train" / point_name(study.static_from, study.seeds[0])
    static_dir = root / "static-gap" / f"b{study.static_from}"
    stages.append(
        Stage(
            "static-gap",
            (
                "static-gap",
                str(source),
                "--batch-sizes",
                _csv(study.static_batch_sizes),
                "--batches",
                str(study.static_batches),
                "--out",
                str(root),
                "--name",
                static_dir.name,
                *common,
            ),
            static_dir,
            static_dir / "static_gap.json",
        )
    )
    for name, overrides in study.forks:
        stages.append(
            _train_stage(
                f"fork {name}",
                root / "forks" / "train" / name,
                ("--fork", str(source), *(a for s in overrides for a in ("--set", s))),
                common,
            )
        )
    noise_sets = tuple(a for s in study.base + study.noise_base for a in ("--set", s))
    for name, overrides in study.noise:
        stages.append(
            _train_stage(
                f"noise {name}",
                root / "noise" / "train" / name,
                (
                    "--preset",
                    study.preset,
                    *noise_sets,
                    *(a for s in overrides for a in ("--set", s)),
                ),
                common,
            )
        )
    return stages


def _train_stage(
    label: str, run_dir: Path, args: tuple[str, ...], common: tuple[str, ...]
) -> Stage:
    """A single ``eoss train`` run: fresh, resumed, or skipped when finished."""
    status = records.RunDir(run_dir).status.get("status")
    if status in ("finished", "diverged"):
        return Stage(label, (), run_dir, run_dir / "status.json")
    if (run_dir / "config.json").is_file():
        argv = ("train", "--resume", str(run_dir), *common)
    else:
        argv = (
            "train",
            *args,
            "--out",
            str(run_dir.parent.parent),
            "--name",
            run_dir.name,
            *common,
        )
    return Stage(label, argv, run_dir)


def plan(
    preset: ReproducePreset,
    root: Path,
    report_dir: Path,
    *,
    data_root: str | None = None,
    device: str | None = None,
) -> list[Stage]:
    """The stages of a reproduction, in execution order.

    Args:
        preset: What to run.
        root: Folder for every run record (``reports/runs/reproduce-<preset>``).
        report_dir: Where the report goes.
        data_root: CIFAR-10 data root (None: ``$EOSS_DATA_ROOT``).
        device: torch device (None: cuda when available).

    Returns:
        The stages; training-run stages are re-planned at execution time.
    """
    derive = root / "derive" / "derive.json"
    stages = [Stage("derive", ("derive", "all", "--json"), derive, derive, True)]
    for sim in preset.simulations:
        out = root / "simulate" / sim.name
        stages.append(
            Stage(
                f"simulate {sim.name}",
                ("simulate", "gap", *sim.args, "--out", str(out)),
                out,
                out / "results.json",
            )
        )
    if preset.study is not None:
        stages += _training_stages(preset.study, root, _common(data_root, device))
    return stages


def inputs_of(stages: list[Stage]) -> list[Path]:
    """The report's inputs: every stage output that exists, de-duplicated.

    Args:
        stages: The executed plan.

    Returns:
        Existing output paths, in plan order.
    """
    seen: list[Path] = []
    for st in stages:
        if st.output.exists() and st.output not in seen:
            seen.append(st.output)
    return seen


def describe(preset: ReproducePreset) -> dict[str, Any]:
    """JSON-safe description of a preset (for ``reproduce.json``).

    Args:
        preset: The preset.

    Returns:
        Its fields as plain data.
    """
    return records.jsonable(dataclasses.asdict(preset))
