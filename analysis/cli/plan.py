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
   lowered / raised and b raised (the paper's Figs. 3–5); a study may first train
   the static curve's network on (``static source``, a fork) and add single runs
   (``runs``: constant-setting references of the forks, η-sensitivity runs);
6. ``noise``    — full-batch GD with injected noise of SGD's full covariance, its
   diagonal, isotropic noise, plain GD and SGD (Fig. 10), run side by side as one
   ``eoss sweep --point NAME=CONFIG ...`` (the study's ``jobs`` at a time);
7. ``report``   — :func:`eoss.analysis.report.build.build_report` over everything above.

Training configs are composed here, typed: each run's full ``TrainConfig`` is the
study's ``eoss train`` preset with its override mappings (:mod:`.presets`) applied
once and validated, and reaches its command as a config file (``<root>/configs/``,
written just before the stage runs): ``eoss sweep --config`` (which resolves one
file per grid point itself), ``eoss train --fork RUN --config`` and
``eoss train --config``. Only the simulations and the static gap, whose commands
take no config file, are planned as plain arguments.

A stage whose output is complete is skipped, an interrupted training run is resumed
from its last checkpoint (``eoss sweep`` and ``eoss train --resume`` do this), so
re-running an interrupted reproduction continues it. This module only *plans*; the
command in :mod:`eoss.analysis.cli.reproduce` executes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eoss.analysis import records
from eoss.analysis.cli.presets import (
    PRESETS,
    Overrides,
    ReproducePreset,
    SimulationSpec,
    TrainingStudy,
    csv_list,
    get_preset,
)
from eoss.analysis.cli.progress import RowMeter, StepMeter
from eoss.analysis.cli.stage import ConfigFile, Stage

__all__ = [
    "PRESETS",
    "ConfigFile",
    "ReproducePreset",
    "SimulationSpec",
    "Stage",
    "TrainingStudy",
    "compose",
    "describe",
    "get_preset",
    "inputs_of",
    "plan",
]


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


def compose(preset: str, *overrides: Overrides) -> dict[str, Any]:
    """A full resolved ``TrainConfig``: an ``eoss train`` preset plus overrides.

    The mappings are merged in order (a later value of a key wins) and applied
    once, so only the composed config has to satisfy the cross-field checks.

    Args:
        preset: An ``eoss train`` preset name.
        *overrides: Typed override mappings (dotted field path → value).

    Returns:
        The validated config as a JSON-safe dict (what ``config.json`` holds).

    Raises:
        ValueError: On an unknown field, a bad value or an invalid config.
    """
    from eoss.analysis.cli.overrides import apply_overrides, to_dict
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.presets import preset as train_preset

    merged: dict[str, object] = {}
    for mapping in overrides:
        merged.update(mapping)
    return to_dict(apply_overrides(TrainConfig, train_preset(preset), values=merged))


def _training_stages(
    study: TrainingStudy, root: Path, common: tuple[str, ...]
) -> list[Stage]:
    sweep_dir, configs = root / "sweep", root / "configs"
    base = ConfigFile(configs / "sweep.json", compose(study.preset, study.base))
    stages = [
        Stage(
            "sweep",
            (
                "sweep",
                "--config",
                str(base.path),
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
            config=base,
            done_runs=tuple(
                sweep_dir / "train" / point_name(b, s)
                for b in study.batch_sizes
                for s in study.seeds
            ),
            meter=StepMeter(
                (),
                int(base.config["steps"]),
                count=len(study.batch_sizes) * len(study.seeds),
                folder=sweep_dir / "train",
                pattern="*",
            ),
        )
    ]
    if study.static_from is None:
        return stages
    source = sweep_dir / "train" / point_name(study.static_from, study.seeds[0])
    static_dir = root / "static-gap" / f"b{study.static_from}"
    frozen = source  # the network the static curve freezes
    if study.static_fork is not None:  # trained on (to convergence) first
        frozen = root / "static-source" / "train" / f"b{study.static_from}"
        point = {"batch_size": study.static_from, "seed": study.seeds[0]}
        composed = compose(study.preset, study.base, point, study.static_fork)
        cfg = ConfigFile(configs / "static-source.json", composed)
        fork_of = ("--fork", str(source))
        stages.append(_train_stage("static source", frozen, cfg, common, fork_of))
    stages.append(
        Stage(
            "static-gap",
            (
                "static-gap",
                str(frozen),
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
            meter=RowMeter(
                static_dir.parent,
                static_dir.name,
                "static_gap",
                # one solve per batch at each b; its cost grows about like b
                tuple(float(b + 16) for b in study.static_batch_sizes),
            ),
        )
    )
    fork_b = study.fork_from or study.static_from
    source = sweep_dir / "train" / point_name(fork_b, study.seeds[0])
    point = {"batch_size": fork_b, "seed": study.seeds[0]}
    for name, overrides in study.forks:
        fork = ConfigFile(
            configs / "forks" / f"{name}.json",
            compose(study.preset, study.base, point, overrides),
        )
        stages.append(
            _train_stage(
                f"fork {name}",
                root / "forks" / "train" / name,
                fork,
                common,
                ("--fork", str(source)),
            )
        )
    if study.noise:  # independent runs: one sweep of named points, study.jobs at once
        noise = {
            name: ConfigFile(
                configs / "noise" / f"{name}.json",
                compose(study.preset, study.base, study.noise_base, overrides),
            )
            for name, overrides in study.noise
        }
        stages.append(_points_stage("noise", root / "noise", noise, study.jobs, common))
    for name, overrides in study.runs:  # references and sensitivity runs
        single = ConfigFile(
            configs / "runs" / f"{name}.json",
            compose(study.preset, study.base, overrides),
        )
        run_dir = root / "runs" / "train" / name
        stages.append(_train_stage(f"run {name}", run_dir, single, common))
    return stages


def _points_stage(
    label: str,
    folder: Path,
    points: Mapping[str, ConfigFile],
    jobs: int,
    common: tuple[str, ...],
) -> Stage:
    """Independent runs as one ``eoss sweep --point NAME=CONFIG ...`` (resumable).

    The runs land in ``<folder>/train/<name>``, where single ``eoss train`` stages
    put them too, so a study planned either way reuses the other's runs.
    """
    argv: tuple[str, ...] = ("sweep",)
    for name, cfg in points.items():
        argv += ("--point", f"{name}={cfg.path}")
    argv += ("--jobs", str(jobs), "--out", str(folder), *common)
    runs = tuple(folder / "train" / name for name in points)
    steps = max(int(cfg.config["steps"]) for cfg in points.values())
    return Stage(
        label,
        argv,
        folder,
        points=tuple(points.values()),
        done_runs=runs,
        meter=StepMeter(runs, steps, count=len(runs)),
    )


def _train_stage(
    label: str,
    run_dir: Path,
    config: ConfigFile,
    common: tuple[str, ...],
    source: tuple[str, ...] = (),
) -> Stage:
    """A single ``eoss train`` run: fresh, resumed, or skipped when finished.

    The stage is also done when the run has finished by the time it is reached
    (``done_runs``), e.g. by a second ``eoss reproduce`` or ``eoss train`` on the
    same runs root.
    """
    status = records.RunDir(run_dir).status.get("status")
    if status in ("finished", "diverged"):
        return Stage(label, (), run_dir, run_dir / "status.json")
    meter = StepMeter((run_dir,), int(config.config["steps"]))
    done = (run_dir,)
    if (run_dir / "config.json").is_file():
        argv = ("train", "--resume", str(run_dir), *common)
        return Stage(label, argv, run_dir, meter=meter, done_runs=done)
    argv = (
        "train",
        *source,
        "--config",
        str(config.path),
        "--out",
        str(run_dir.parent.parent),
        "--name",
        run_dir.name,
        *common,
    )
    return Stage(label, argv, run_dir, config=config, meter=meter, done_runs=done)


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
