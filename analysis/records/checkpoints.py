"""Checkpoints: atomic torch state files of a run, by step.

``checkpoints/step_<STEP>.pt`` is a good (finite, not diverged) state: resume,
``--fork``, ``static-gap`` and ``sharpness --checkpoint`` use these. A state the
run found diverged is kept for inspection as ``step_<STEP>.diverged.pt``, which
no consumer loads (:func:`diverged_steps` lists them; asking for such a step
gives a one-line refusal) and which never pushes a good checkpoint out of the
rotation.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eoss.analysis.records.io import atomic_write_bytes, delete_file


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Atomically save a training checkpoint with ``torch.save``.

    Checkpoints hold tensors (model/optimiser state, generator states) and plain
    Python values; they are resumable state, not results.

    Args:
        path: Destination (``.pt``).
        state: The state dict.

    Returns:
        The path.
    """
    import torch

    buf = io.BytesIO()
    torch.save(dict(state), buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Args:
        path: The file.

    Returns:
        The state dict.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is truncated, corrupt or not an eoss state dict.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ValueError(f"{path} is not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict) or "format" not in state or "model" not in state:
        raise ValueError(f"{path} is not an eoss training checkpoint")
    return state


CKPT_DIR = "checkpoints"


_CKPT_RE = re.compile(r"^step_(\d+)\.pt$")
_DIVERGED_RE = re.compile(r"^step_(\d+)\.diverged\.pt$")


# ---- checkpoints -------------------------------------------------------------
def _steps(run_dir: str | Path, pattern: re.Pattern[str]) -> list[int]:
    folder = Path(run_dir) / CKPT_DIR
    if not folder.is_dir():
        return []
    found = (pattern.match(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Steps of the checkpoints present in a run directory, ascending.

    Args:
        run_dir: The run directory.

    Returns:
        The steps.
    """
    return _steps(run_dir, _CKPT_RE)


def diverged_steps(run_dir: str | Path) -> list[int]:
    """Steps of the checkpoints marked diverged (never loaded), ascending.

    Args:
        run_dir: The run directory.

    Returns:
        The steps.
    """
    return _steps(run_dir, _DIVERGED_RE)


def diverged_path(run_dir: str | Path, step: int) -> Path:
    """Path of the diverged state of ``step``.

    Args:
        run_dir: The run directory.
        step: The step.

    Returns:
        ``run_dir/checkpoints/step_<step>.diverged.pt``.
    """
    return Path(run_dir) / CKPT_DIR / f"step_{step}.diverged.pt"


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    """Path of the checkpoint of ``step``.

    Args:
        run_dir: The run directory.
        step: The step.

    Returns:
        ``run_dir/checkpoints/step_<step>.pt``.
    """
    return Path(run_dir) / CKPT_DIR / f"step_{step}.pt"


class CheckpointKeeper:
    """Writes checkpoints atomically and deletes the ones no longer kept.

    Kept: the ``keep_last`` newest, every multiple of ``keep_every`` (if > 0), and
    any step in ``protect`` (e.g. the step a fork started from).

    Args:
        run_dir: The run directory.
        keep_last: Newest checkpoints kept.
        keep_every: Keep multiples of this forever (0: none).
        protect: Steps never deleted.
    """

    def __init__(
        self,
        run_dir: str | Path,
        keep_last: int,
        keep_every: int = 0,
        protect: tuple[int, ...] = (),
    ) -> None:
        self.run_dir, self.keep_last = Path(run_dir), keep_last
        self.keep_every, self.protect = keep_every, set(protect)
        self.last: int | None = None

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write the checkpoint of ``step``, then prune older ones.

        A state carrying ``"diverged"`` (the reason, set by the training loop) is
        written to :func:`diverged_path` instead and prunes nothing.

        Args:
            step: Its step.
            state: The trainer state.

        Returns:
            The checkpoint path.
        """
        if state.get("diverged"):
            return save_checkpoint(diverged_path(self.run_dir, step), state)
        path = save_checkpoint(checkpoint_path(self.run_dir, step), state)
        self.last = step
        steps = checkpoint_steps(self.run_dir)
        newest = set(steps[-self.keep_last :])
        for s in steps:
            periodic = self.keep_every > 0 and s % self.keep_every == 0
            if s not in newest and not periodic and s not in self.protect:
                delete_file(checkpoint_path(self.run_dir, s))
        return path
