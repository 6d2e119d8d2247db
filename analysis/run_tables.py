"""A training run's records as column arrays, split into constant-(η, b) phases.

Reads a run directory written by ``eoss train`` (schema: docs/records.md):
``config.json``, ``env.json``, ``status.json`` and the ``metrics.jsonl`` tables
``train``, ``eval``, ``step_sharpness``, ``minibs``, ``fullbs``, ``ntk``, ``event``.
Reading only; nothing here writes files. ``null`` values become NaN.

A *phase* is a maximal step range with constant learning rate η and batch size b,
as recorded in the ``train`` table (each row holds the step's ``lr`` and
``batch_size``); without ``train`` rows the config's top-level ``lr`` /
``batch_size`` define one phase. Phase boundaries are the first steps at which a new
(η, b) was used; the ``event`` table names what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

TABLES = ("train", "eval", "step_sharpness", "minibs", "fullbs", "ntk")


@dataclass(frozen=True)
class Phase:
    """Steps [start, end) trained with one (η, b).

    Attributes:
        index: 0 for the first phase.
        start: First step of the phase.
        end: First step of the next phase (for the last phase: the step count in
            status.json, or one past the last recorded step).
        lr: Learning rate η.
        batch_size: Batch size b.
        change: What started this phase: "start", "lr_down", "lr_up",
            "batch_size_up", "batch_size_down", or "lr+batch_size". The first phase
            of a run forked with a changed η or b (``lr`` / ``batch_size`` events
            at or before its first step) carries that change instead of "start".
    """

    index: int
    start: int
    end: int
    lr: float
    batch_size: int
    change: str = "start"

    @property
    def threshold(self) -> float:
        """The EoS threshold 2/η."""
        return 2.0 / self.lr


@dataclass(frozen=True)
class RunTables:
    """Everything the analysis reads from one training run.

    Attributes:
        path: The run directory.
        run_id: Its folder name.
        config: config.json as a dict.
        env: env.json as a dict (empty if missing).
        status: status.json as a dict ({"status": "unknown"} if missing).
        tables: Table name → column name → float array (NaN for null); "step" is
            always present in a non-empty table.
        events: The ``event`` rows, in order.
    """

    path: Path
    run_id: str
    config: dict[str, Any]
    env: dict[str, Any]
    status: dict[str, Any]
    tables: dict[str, dict[str, NDArray[np.float64]]] = field(repr=False)
    events: tuple[dict[str, Any], ...] = ()

    def column(self, table: str, key: str) -> NDArray[np.float64]:
        """One column (empty array when the table or key is absent).

        Args:
            table: Table name.
            key: Column name.

        Returns:
            Float array, NaN where the value was null or missing.
        """
        return self.tables.get(table, {}).get(key, np.empty(0))

    def has(self, table: str) -> bool:
        """Whether ``table`` has at least one row.

        Args:
            table: Table name.

        Returns:
            True if non-empty.
        """
        return len(self.column(table, "step")) > 0

    @property
    def config_hash(self) -> str:
        """The config's hash (:func:`analysis.records.config_hash`, 8 hex digits)."""
        from analysis.records import config_hash

        return config_hash(self.config)

    @property
    def diverged(self) -> bool:
        """True if the status or an event says the run diverged."""
        return self.status.get("status") == "diverged" or any(
            e.get("kind") == "diverged" for e in self.events
        )


def find_key(obj: Any, *names: str) -> Any:
    """First value stored under any of ``names`` in nested dicts (breadth first).

    Args:
        obj: A nested dict (config).
        *names: Candidate keys, in order of preference at each depth.

    Returns:
        The value, or None.
    """
    queue = [obj]
    while queue:
        nxt = []
        for d in queue:
            if not isinstance(d, Mapping):
                continue
            for n in names:
                if n in d and not isinstance(d[n], Mapping):
                    return d[n]
            nxt.extend(v for v in d.values() if isinstance(v, Mapping))
        queue = nxt
    return None


def _columns(rows: list[dict[str, Any]]) -> dict[str, NDArray[np.float64]]:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k != "table"]
    out = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(v is None or isinstance(v, (int, float)) for v in vals):
            out[k] = np.array([np.nan if v is None else float(v) for v in vals])
    order = np.argsort(out["step"], kind="stable") if "step" in out else None
    return {k: v[order] for k, v in out.items()} if order is not None else out


def load_run(path: str | Path) -> RunTables:
    """Read a training run directory.

    Args:
        path: The run directory (holding config.json and metrics.jsonl).

    Returns:
        The run's tables, sorted by step.

    Raises:
        FileNotFoundError: If ``config.json`` is missing.
    """
    from analysis.records import read_json, read_jsonl

    path = Path(path)
    config = read_json(path / "config.json")
    env = read_json(path / "env.json") if (path / "env.json").is_file() else {}
    status = (
        read_json(path / "status.json")
        if (path / "status.json").is_file()
        else {"status": "unknown"}
    )
    metrics = path / "metrics.jsonl"
    records = read_jsonl(metrics) if metrics.is_file() else []
    tables = {}
    for name in TABLES:
        rows = [r for r in records if r.get("table") == name]
        tables[name] = _columns(rows) if rows else {}
    events = tuple(r for r in records if r.get("table") == "event")
    return RunTables(path, path.name, config, env, status, tables, events)


def _change(old: tuple[float, int], new: tuple[float, int]) -> str:
    lr_changed, b_changed = old[0] != new[0], old[1] != new[1]
    if lr_changed and b_changed:
        return "lr+batch_size"
    if lr_changed:
        return "lr_up" if new[0] > old[0] else "lr_down"
    return "batch_size_up" if new[1] > old[1] else "batch_size_down"


def _ffill(a: NDArray) -> NDArray:
    """Forward-fill NaNs (then back-fill a leading NaN run)."""
    a = a.copy()
    idx = np.where(np.isnan(a), 0, np.arange(len(a)))
    np.maximum.accumulate(idx, out=idx)
    a = a[idx]
    if np.isnan(a[0]) and not np.all(np.isnan(a)):
        a[np.isnan(a)] = a[~np.isnan(a)][0]
    return a


def _forked_from(
    run: RunTables, first: tuple[float, float], first_step: int
) -> tuple[float, float] | None:
    """(η, b) before the run's first step when it was forked with a change, else None.

    A fork (``eoss train --fork``) starts its own records at the fork step and logs
    ``lr`` / ``batch_size`` events with the source's old values at that step.
    """
    lr, b = first
    changed = False
    for e in run.events:
        kind, old = e.get("kind"), e.get("old")
        early = e.get("step", first_step + 1) <= first_step
        if kind in ("lr", "batch_size") and early and isinstance(old, (int, float)):
            lr, b = (float(old), b) if kind == "lr" else (lr, float(old))
            changed = True
    return (lr, b) if changed else None


def phases(run: RunTables) -> list[Phase]:
    """Split a run into constant-(η, b) phases (see the module docstring).

    Args:
        run: The run.

    Returns:
        The phases in order (one phase when nothing changed).

    Raises:
        ValueError: If neither ``train`` rows nor the config give η and b.
    """
    steps, lrs = run.column("train", "step"), run.column("train", "lr")
    bs = run.column("train", "batch_size")
    last = max(
        [float(np.nanmax(run.column(t, "step"))) for t in TABLES if run.has(t)] or [0]
    )
    if isinstance(run.status.get("step"), (int, float)):  # steps taken, if recorded
        last = max(last, float(run.status["step"]) - 1)
    if len(steps) == 0 or np.all(np.isnan(lrs)):
        lr, b = find_key(run.config, "lr"), find_key(run.config, "batch_size")
        if lr is None or b is None:
            raise ValueError(f"{run.path}: no lr/batch_size in train rows or config")
        return [Phase(0, 0, int(last) + 1, float(lr), int(b))]
    if np.any(np.isnan(bs)):  # batch_size missing from train rows: the config's
        b_cfg = find_key(run.config, "batch_size")
        bs = np.where(np.isnan(bs), np.nan if b_cfg is None else float(b_cfg), bs)
    lrs = _ffill(lrs)
    keys = list(zip(lrs.tolist(), _ffill(bs).tolist(), strict=True))
    starts = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]]
    out = []
    for j, i in enumerate(starts):
        end = int(steps[starts[j + 1]]) if j + 1 < len(starts) else int(last) + 1
        prev = (
            _forked_from(run, keys[0], int(steps[0])) if j == 0 else keys[starts[j - 1]]
        )
        change = "start" if prev is None or prev == keys[i] else _change(prev, keys[i])
        begin = 0 if j == 0 else int(steps[i])
        out.append(Phase(j, begin, end, keys[i][0], int(keys[i][1]), change))
    return out
