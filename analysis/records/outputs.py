"""Checks of output locations, made before any work so a bad one fails at once.

A command that will write ``--out`` calls :func:`check_output_dir` (or
:func:`check_output_file` for a single file) before it loads data or computes: a
path that is a file where a folder is needed, a folder where a file is needed,
an existing folder that must be new, or a location the user cannot write gives
a one-line :class:`ValueError` naming the option and the path. Nothing is
created here.
"""

from __future__ import annotations

import os
from pathlib import Path


def _existing_ancestor(path: Path) -> Path:
    cur = path.absolute()
    while not cur.exists():
        if cur.parent == cur:
            break
        cur = cur.parent
    return cur


def _check_ancestor(path: Path, option: str) -> None:
    anc = _existing_ancestor(path)
    if not anc.is_dir():
        raise ValueError(f"{option} {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {anc} is not writable")


def check_output_dir(
    path: str | Path, option: str = "--out", *, new: bool = False
) -> Path:
    """Check that ``path`` can be (or already is) a writable folder.

    Args:
        path: The folder.
        option: The option it came from, for the message.
        new: The folder must not exist yet (a run folder to be created).

    Returns:
        The path.

    Raises:
        ValueError: If it is a file, exists while ``new``, or cannot be written.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{option} {path} is a file, not a folder")
        if new:
            raise ValueError(f"{option} {path} already exists; choose another name")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{option} {path} is not writable")
        return path
    _check_ancestor(path, option)
    return path


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` can be written as a file (created or replaced).

    Args:
        path: The file.
        option: The option it came from, for the message.

    Returns:
        The path.

    Raises:
        ValueError: If it is a folder or its folder cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {path} is not writable")
    _check_ancestor(path.parent if str(path.parent) else Path("."), option)
    return path
