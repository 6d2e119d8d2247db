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
        """The config's hash (:func:`~eoss.analysis.records.env.config_hash`)."""
        from eoss.analysis.records.env import config_hash

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
    from eoss.analysis.records.io import read_json, read_jsonl

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








