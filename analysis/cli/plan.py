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
7. ``report``   — :func:`eoss.analysis.report.build.build_report` over everything above.

A stage whose output is complete is skipped, an interrupted training run is resumed
from its last checkpoint (``eoss sweep`` and ``eoss train --resume`` do this), so
re-running an interrupted reproduction continues it. This module only *plans*; the
command in :mod:`eoss.analysis.cli.reproduce` executes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eoss.analysis import records
from eoss.analysis.cli.presets import (
    PRESETS,
    ReproducePreset,
    SimulationSpec,
    TrainingStudy,
    csv_list,
    get_preset,
)

__all__ = [
    "PRESETS",
    "ReproducePreset",
    "SimulationSpec",
    "Stage",
    "TrainingStudy",
    "describe",
    "get_preset",
    "inputs_of",
    "plan",
]


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
                f"batch_size={csv_list(study.batch_sizes)}",
                "--grid",
                f"seed={csv_list(study.seeds)}",
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
                csv_list(study.static_batch_sizes),
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
