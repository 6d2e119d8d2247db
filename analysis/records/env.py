"""The environment of a run: versions, device, git revision, seeds, config hash."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eoss.analysis.records.io import jsonable


def git_revision(start: Path | None = None) -> str | None:
    """The git commit of the eoss checkout (with ``+dirty``), or None.

    Args:
        start: The checkout's top folder (default: the one holding this file's
            ``analysis/`` folder).

    Returns:
        The revision string, or None outside git or when the enclosing git
        repository is not eoss's own checkout (eoss installed inside it).
    """
    here = start or Path(__file__).resolve().parent
    # eoss's own checkout is the folder above analysis/records/; an installed copy
    # inside a user's git repository must not record that repository's revision.
    own_root = (start or Path(__file__).resolve().parents[2]).resolve()
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != own_root:
            return None
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def env_info(
    *, device: str | None = None, seeds: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Facts about the software and hardware a result was produced with.

    Args:
        device: The torch device used ("cpu", "cuda:0", ...), if any.
        seeds: Named seed streams used.

    Returns:
        JSON-safe dict: python, platform, package versions, device name, threads,
        float precision and determinism flags (``precision``:
        :func:`eoss.empirical.precision.precision_flags`), git revision, command
        line, UTC time, seeds.
    """
    import importlib.metadata as md

    versions = {}
    for pkg in (
        "eoss",
        "numpy",
        "scipy",
        "sympy",
        "torch",
        "statsmodels",
        "matplotlib",
    ):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "git_revision": git_revision(),
        "argv": sys.argv,
        "utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if device is not None:
        info["device"] = device
        if "torch" in sys.modules:
            import torch

            from eoss.empirical.precision import precision_flags

            info["torch_threads"] = torch.get_num_threads()
            info["precision"] = precision_flags()
            if device.startswith("cuda") and torch.cuda.is_available():
                info["device_name"] = torch.cuda.get_device_name(torch.device(device))
            else:
                info["device_name"] = platform.processor() or platform.machine()
    if seeds is not None:
        info["seeds"] = dict(seeds)
    return info


def config_hash(config: Mapping[str, Any]) -> str:
    """Short stable hash of a config dict (8 hex digits).

    Args:
        config: JSON-able config.

    Returns:
        The hash.
    """
    text = json.dumps(jsonable(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
