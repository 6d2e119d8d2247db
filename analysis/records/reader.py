"""A training run's records as column arrays, and its config by named accessors.

Reads a run directory written by ``eoss train`` (schema: docs/records.md):
``config.json``, ``env.json``, ``status.json`` and the ``metrics.jsonl`` tables
declared by the row types of :mod:`eoss.empirical.training.rows` (``train``,
``eval``, ``step_sharpness``, ``minibs``, ``fullbs``, ``ntk``, ``event``). Reading
only; nothing here writes files. ``null`` values become NaN.

The config is a stored :class:`eoss.empirical.training.config.TrainConfig`; what
the analysis needs from it is read through :class:`RunTables`' accessors (``lr``,
``batch_size``, ``n_train``, ``noise_kind``, ...), each at a field path of
:data:`CONFIG_FIELDS`. Those paths are checked against the dataclass by the tests
(:func:`dataclass_paths`), so renaming a TrainConfig field fails a test instead of
silently reading None. (TrainConfig is not imported here: it pulls in torch, which
reading records does not need.)
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoss.empirical.training.rows import COLUMN_TABLES, COLUMNS, TABLES, EventRow

__all__ = [
    "COLUMNS",
    "COLUMN_TABLES",
    "CONFIG_FIELDS",
    "TABLES",
    "RunTables",
    "config_value",
    "dataclass_paths",
    "load_run",
]

# Field path in TrainConfig of each config accessor of RunTables.
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "lr": ("lr",),
    "batch_size": ("batch_size",),
    "steps": ("steps",),
    "seed": ("seed",),
    "n_train": ("data", "n_train"),
    "optimizer": ("optim", "name"),
    "sampling": ("optim", "sampling"),
    "noise_kind": ("noise", "kind"),
}


def dataclass_paths(cls: type) -> frozenset[tuple[str, ...]]:
    """Every field path of a (nested) config dataclass, groups included.

    Args:
        cls: A dataclass type, e.g. TrainConfig.

    Returns:
        Paths such as ``("lr",)``, ``("data",)`` and ``("data", "n_train")``.
    """
    out: set[tuple[str, ...]] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        out.add((f.name,))
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out |= {(f.name, *p) for p in dataclass_paths(kind)}
    return frozenset(out)


def config_value(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a field path of a stored config.

    Args:
        config: A config as stored (nested dicts).
        path: Field names from the top, e.g. ``("noise", "kind")``.

    Returns:
        The value, or None when a key is missing or the value is a group.
    """
    node: Any = config
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return None if isinstance(node, Mapping) else node


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class RunTables:
    """Everything the analysis reads from one training run.

    Attributes:
        path: The run directory.
        run_id: Its folder name.
        config: config.json as a dict.
        env: env.json as a dict (empty if missing).
        status: status.json as a dict ({"status": "unknown"} if missing).
        tables: Table name (:data:`COLUMN_TABLES`) → column name → float array
            (NaN for null); "step" is always present in a non-empty table.
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
            key: Column name (:data:`COLUMNS` of the table; non-numeric columns
                are not kept).

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

    def config_field(self, name: str) -> Any:
        """The config value of an accessor of :data:`CONFIG_FIELDS`, as stored.

        Args:
            name: An accessor name (``lr``, ``noise_kind``, ...).

        Returns:
            The value, or None when the config does not record it.
        """
        return config_value(self.config, CONFIG_FIELDS[name])

    @property
    def lr(self) -> float | None:
        """η at step 0 (TrainConfig ``lr``), if recorded."""
        return _number(self.config_field("lr"))

    @property
    def batch_size(self) -> int | None:
        """Batch size b at step 0 (TrainConfig ``batch_size``), if recorded."""
        b = _number(self.config_field("batch_size"))
        return None if b is None else int(b)

    @property
    def steps(self) -> int | None:
        """Number of updates configured (TrainConfig ``steps``), if recorded."""
        n = _number(self.config_field("steps"))
        return None if n is None else int(n)

    @property
    def seed(self) -> int | None:
        """The run's seed (TrainConfig ``seed``), if recorded."""
        n = _number(self.config_field("seed"))
        return None if n is None else int(n)

    @property
    def n_train(self) -> int | None:
        """Training-set size n (TrainConfig ``data.n_train``), if recorded."""
        n = _number(self.config_field("n_train"))
        return None if n is None else int(n)

    @property
    def optimizer(self) -> str | None:
        """The update rule (TrainConfig ``optim.name``: sgd, gd, ...), if recorded."""
        name = self.config_field("optimizer")
        return None if name is None else str(name)

    @property
    def sampling(self) -> str | None:
        """Mini-batch sampling (TrainConfig ``optim.sampling``), if recorded."""
        mode = self.config_field("sampling")
        return None if mode is None else str(mode)

    @property
    def noise_kind(self) -> str | None:
        """Injected-noise kind (TrainConfig ``noise.kind``), if recorded."""
        kind = self.config_field("noise_kind")
        return None if kind is None else str(kind)

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


def _checked_records(path: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl``, each value of the declared type.

    Raises:
        ValueError: Naming the file and line of a record whose ``step`` is not a
            non-negative integer or whose numeric column holds another type.
    """
    from eoss.analysis.records.io import iter_jsonl

    out = []
    for line, rec in iter_jsonl(path):
        table, step = rec.get("table"), rec.get("step")
        if not isinstance(table, str):
            raise ValueError(f"{path}:{line}: record has no table name")
        if table in TABLES and (
            isinstance(step, bool) or not isinstance(step, int) or step < 0
        ):
            raise ValueError(
                f"{path}:{line}: step must be an integer >= 0, got {step!r}"
            )
        if table in COLUMN_TABLES:
            for key in COLUMNS[table]:
                val = rec.get(key)
                if val is not None and not isinstance(val, (int, float)):
                    raise ValueError(
                        f"{path}:{line}: {table}.{key} must be a number, got {val!r}"
                    )
        out.append(rec)
    return out


def load_run(path: str | Path) -> RunTables:
    """Read a training run directory.

    Args:
        path: The run directory (holding config.json and metrics.jsonl).

    Returns:
        The run's tables, sorted by step.

    Raises:
        FileNotFoundError: If ``config.json`` is missing.
        ValueError: On a malformed ``config.json`` or ``metrics.jsonl`` line
            (the message names the file and line).
    """
    from eoss.analysis.records.io import read_json

    path = Path(path)
    config = read_json(path / "config.json")
    if not isinstance(config, dict):
        raise ValueError(f"{path / 'config.json'} must hold a JSON object")
    env = read_json(path / "env.json") if (path / "env.json").is_file() else {}
    status = (
        read_json(path / "status.json")
        if (path / "status.json").is_file()
        else {"status": "unknown"}
    )
    from eoss.analysis.records.archive import metrics_file

    metrics = metrics_file(path)  # plain, or gzipped in a report's archive
    records = _checked_records(metrics) if metrics.is_file() else []
    tables = {}
    for name in COLUMN_TABLES:
        rows = [r for r in records if r.get("table") == name]
        tables[name] = _columns(rows) if rows else {}
    events = tuple(r for r in records if r.get("table") == EventRow.table)
    return RunTables(path, path.name, config, env, status, tables, events)
