"""A stage of ``eoss reproduce``: one ``eoss`` command, its config files and its output.

:mod:`eoss.analysis.cli.plan` builds the stages; :mod:`eoss.analysis.cli.reproduce`
runs them (a stage whose output is complete is skipped).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eoss.analysis import records
from eoss.analysis.cli.progress import Meter

__all__ = ["ConfigFile", "Stage"]


@dataclass(frozen=True)
class ConfigFile:
    """A resolved config that a stage's command loads.

    Attributes:
        path: Where it is written (just before the stage runs).
        config: The full resolved ``TrainConfig`` as a dict.
    """

    path: Path
    config: Mapping[str, Any]

    def write(self) -> None:
        """Write the config (atomically) to :attr:`path`."""
        records.write_json(self.path, dict(self.config))


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
        config: The config file ``argv`` names, to write before running (None:
            the command takes none).
        points: The config files of a sweep of named points (``eoss sweep
            --point NAME=CONFIG``), written before running too.
        done_runs: Run folders that are all finished when the stage is complete
            (a sweep's points; used when ``done_file`` is None).
        meter: Reads the stage's progress from its records while it runs (None:
            only elapsed time is shown).
    """

    name: str
    argv: tuple[str, ...]
    output: Path
    done_file: Path | None = None
    capture: bool = False
    config: ConfigFile | None = None
    points: tuple[ConfigFile, ...] = ()
    done_runs: tuple[Path, ...] = ()
    meter: Meter | None = dataclasses.field(default=None, compare=False)

    def prepare(self) -> None:
        """Write the stage's config files, if any (call before running)."""
        for cfg in (self.config, *self.points):
            if cfg is not None:
                cfg.write()

    def is_done(self) -> bool:
        """Whether the stage's output is already complete.

        Returns:
            True when ``done_file`` exists, or every one of ``done_runs`` has
            finished (or diverged, which is final too).
        """
        if self.done_file is not None:
            return self.done_file.is_file()
        return bool(self.done_runs) and all(
            records.RunDir(r).status.get("status") in ("finished", "diverged")
            for r in self.done_runs
        )
