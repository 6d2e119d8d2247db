"""The points of ``eoss sweep``: a grid's Cartesian product or named config files.

``--grid KEY=V1,V2`` items are parsed, typed by their :class:`TrainConfig` field and
multiplied out; ``--point NAME=CONFIG`` items each name one full config file. Either
way every point is resolved here, once, to a validated config (what its run's
``config.json`` will hold) before any process starts, and a point whose run folder
holds a different config is refused.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eoss.analysis.cli.train import base_config


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """Parse ``--grid key=v1,v2`` items.

    Args:
        items: Raw ``--grid`` values.

    Returns:
        [(key, [values...]), ...] in the given order.

    Raises:
        ValueError: On a malformed item or a repeated key.
    """
    out: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not vals:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        if any(k == key.strip() for k, _ in out):
            raise ValueError(f"--grid key {key.strip()!r} given twice")
        dup = sorted({v for v in vals if vals.count(v) > 1})
        if dup:
            repeated = ", ".join(dup)
            raise ValueError(f"--grid {key.strip()}: value(s) {repeated} repeated")
        out.append((key.strip(), vals))
    return out


def point_name(assignment: list[tuple[str, str]]) -> str:
    """Folder name of a grid point, e.g. ``batch_size=16,lr=0.01``.

    Args:
        assignment: (key, value) pairs.

    Returns:
        A file-system-safe name.
    """
    text = ",".join(f"{k}={v}" for k, v in assignment)
    return "".join(c if c.isalnum() or c in "=,._-" else "_" for c in text)


@dataclass(frozen=True)
class SweepPoint:
    """One grid point, resolved before anything runs.

    Attributes:
        name: Folder name (:func:`point_name`).
        overrides: The grid assignment, dotted field → typed value.
        config: The point's full resolved :class:`TrainConfig` as a dict (what
            the run's ``config.json`` will hold).
    """

    name: str
    overrides: Mapping[str, Any]
    config: Mapping[str, Any]


def typed_grid(grid: list[tuple[str, list[str]]]) -> list[tuple[str, list[Any]]]:
    """Parse each grid value with its :class:`TrainConfig` field's type.

    Args:
        grid: :func:`parse_grid` output.

    Returns:
        [(key, [typed values...]), ...].

    Raises:
        ValueError: On an unknown field or a value of the wrong type.
    """
    from eoss.analysis.cli.overrides import field_type, parse_text
    from eoss.empirical.training.config import TrainConfig

    out = []
    for key, texts in grid:
        hint = field_type(TrainConfig, key)
        values = [parse_text(t, hint, key) for t in texts]
        for i, v in enumerate(values):
            if v in values[:i]:
                raise ValueError(
                    f"--grid {key}: {texts[i]!r} repeats {texts[values.index(v)]!r}"
                )
        out.append((key, values))
    return out


def parse_points(items: list[str]) -> list[tuple[str, Path]]:
    """Parse ``--point NAME=CONFIG`` items.

    Args:
        items: Raw ``--point`` values.

    Returns:
        [(name, config path), ...] in the given order.

    Raises:
        ValueError: On a malformed item, an unsafe or repeated name, or a missing
            file.
    """
    out: list[tuple[str, Path]] = []
    for item in items:
        name, sep, path = (part.strip() for part in item.partition("="))
        if not sep or not name or not path:
            raise ValueError(f"--point expects NAME=CONFIG, got {item!r}")
        if name.startswith(".") or not all(c.isalnum() or c in "=,._-" for c in name):
            raise ValueError(f"--point name {name!r}: use letters, digits and =,._-")
        if any(n == name for n, _ in out):
            raise ValueError(f"--point name {name!r} given twice")
        if not Path(path).is_file():
            raise ValueError(f"--point {name}: config file {path} not found")
        out.append((name, Path(path)))
    return out


def _named_points(args: argparse.Namespace) -> list[SweepPoint]:
    """The ``--point`` runs, each its config file plus ``--set``."""
    from eoss.analysis.cli.overrides import apply_overrides, load_json_config, to_dict
    from eoss.empirical.training.config import TrainConfig

    if args.grid or args.preset or args.config or args.data:
        raise ValueError(
            "--point takes full configs: drop --grid/--preset/--config/--data"
        )
    points = []
    for name, path in parse_points(args.point):
        try:
            cfg = apply_overrides(
                TrainConfig, load_json_config(str(path)), args.set, {}
            )
        except ValueError as exc:
            raise ValueError(f"point {name} ({path}): {exc}") from None
        resolved = to_dict(cfg)
        _check_existing(Path(args.out) / "train" / name, resolved)
        points.append(SweepPoint(name, {}, resolved))
    return points


def plan(args: argparse.Namespace) -> list[SweepPoint]:
    """The grid points, each resolved to a validated config before anything runs.

    The base (preset or ``--config``, ``--data``, every ``--set``) and the point's
    typed grid assignment are applied once, here, so a bad value fails before any
    process starts and every child loads a complete config file.

    Args:
        args: Parsed arguments.

    Returns:
        One point per element of the grid's Cartesian product, or one per
        ``--point``.
    """
    from eoss.analysis.cli.overrides import apply_overrides, to_dict
    from eoss.empirical.training.config import TrainConfig

    if args.point:
        return _named_points(args)
    grid = parse_grid(args.grid)
    options = [
        [(key, text, value) for text, value in zip(texts, values, strict=True)]
        for (key, texts), (_, values) in zip(grid, typed_grid(grid), strict=True)
    ]
    base = base_config(args)
    points = []
    for combo in itertools.product(*options):
        texts = [(key, text) for key, text, _ in combo]
        values = {key: value for key, _, value in combo}
        cfg = apply_overrides(TrainConfig, base, args.set, values)
        name, resolved = point_name(texts), to_dict(cfg)
        _check_existing(Path(args.out) / "train" / name, resolved)
        points.append(SweepPoint(name, values, resolved))
    return points


def config_path(out: Path, name: str) -> Path:
    """Where ``eoss sweep`` writes the resolved config of point ``name``.

    Args:
        out: The sweep's ``--out``.
        name: The point's name.

    Returns:
        ``<out>/points/<name>.json``.
    """
    return out / "points" / f"{name}.json"


def _check_existing(run_dir: Path, config: Mapping[str, Any]) -> None:
    """Refuse to resume a point whose stored config differs from the plan."""
    from eoss.analysis import records

    if not (run_dir / "config.json").is_file():
        return
    if records.read_json(run_dir / "config.json") != config:
        raise ValueError(
            f"{run_dir} exists with a different config; use another --out "
            "or remove that run"
        )
