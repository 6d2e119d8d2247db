"""Discover the inputs of a report: training runs, gap tables, derivation documents.

Given files and folders, walks them (sorted, so the same inputs are always found in
the same order) and classifies each record folder by the ``kind`` it declares
(docs/records.md): ``status.json``'s ``kind`` for run directories
(:class:`eoss.analysis.records.run_dir.RunDir`), ``results.json``'s ``kind`` for
random-matrix simulations:

* ``train`` (with a ``metrics.jsonl``) → a training run (``eoss train``; sweep
  folders are just folders of runs);
* ``static-gap`` (with ``static_gap.csv``) → a static gap curve (``eoss static-gap``);
* ``simulate`` (with ``results.csv``) → a random-matrix gap curve
  (``eoss simulate gap``);
* a ``.json`` file containing claim verdicts (dicts with ``"claim"`` and
  ``"verdict"``) → a derivation document (``eoss derive … --json``).

Folders written before the kind was recorded are classified by their file names
(``static_gap.csv``, ``results.csv``, then ``config.json`` with ``metrics.jsonl``).

Reading only; nothing here writes files.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoss.analysis.records.archive import METRICS, has_metrics
from eoss.analysis.records.reader import RunTables, config_value, load_run
from eoss.analysis.stats.compare import GapCurve

log = logging.getLogger(__name__)

# Declared folder kind → (group of ReportInputs, the file the folder must hold).
_KINDS = {
    "train": ("runs", "metrics.jsonl"),
    "static-gap": ("static", "static_gap.csv"),
    "simulate": ("simulate", "results.csv"),
}
# Config keys of the gap tables: ``eoss static-gap``'s config.json (n_train,
# sampling) and ``eoss simulate gap``'s GapConfig fields (n, sampling).
_GAP_N = {"static": "n_train", "simulate": "n"}
_GAP_SAMPLING = "sampling"

# JSON files that belong to other records and are never derivation documents.
_NOT_DERIVE = {
    "config.json",
    "env.json",
    "status.json",
    "results.json",
    "static_gap.json",
    "sweep.json",
    "fits.json",
}


@dataclass(frozen=True)
class GapTable:
    """A gap-vs-batch-size table (``static_gap.csv`` or ``results.csv``).

    Attributes:
        path: Its folder.
        kind: "static" or "simulate".
        columns: Column → float array (NaN for empty / non-numeric cells).
        config: The ``config`` object of the matching JSON file ({} if absent).
        env: The folder's env.json, else the JSON file's ``env`` ({} if neither).
        theory: The JSON file's ``theory`` block (overlays of ``eoss simulate``).
    """

    path: Path
    kind: str
    columns: dict[str, NDArray[np.float64]] = field(repr=False)
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    theory: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int | None:
        """The data-set size n (config ``n_train`` / ``n``), if recorded."""
        val = config_value(self.config, (_GAP_N[self.kind],))
        return int(val) if isinstance(val, (int, float)) else None

    @property
    def sampling(self) -> str | None:
        """How batches were drawn ("without", "with", "online"), if recorded."""
        val = config_value(self.config, (_GAP_SAMPLING,))
        return None if val is None else str(val)

    def rows(self) -> list[dict[str, float]]:
        """The table as row dicts (NaN for empty cells).

        Returns:
            One dict per batch size, in ascending b.
        """
        keys = list(self.columns)
        return [{k: float(self.columns[k][i]) for k in keys} for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.columns["batch_size"])

    @property
    def gap_column(self) -> str:
        """``gap_cv`` when every row has it (same mean, less variance), else ``gap``."""
        cv = self.columns.get("gap_cv")
        if cv is not None and len(cv) and np.all(np.isfinite(cv)):
            return "gap_cv"
        return "gap"

    @property
    def unconverged(self) -> NDArray[np.bool_]:
        """Rows whose eigen-solver did not converge (``n_converged`` < ``n_batches``).

        All False when the table does not record ``n_converged``.
        """
        k, nb = self.columns.get("n_converged"), self.columns.get("n_batches")
        if k is None or nb is None:
            return np.zeros(len(self), bool)
        return k < nb

    def curve(self, label: str) -> GapCurve:
        """The gap curve (see :attr:`gap_column`), unconverged rows set to NaN.

        Args:
            label: Label for tables and legends.

        Returns:
            The curve (SEs included when the table has them); rows of
            :attr:`unconverged` have a NaN gap, so fits drop (and count) them.
        """
        col = self.gap_column
        se = self.columns.get(f"{col}_se")
        gap = np.where(self.unconverged, np.nan, self.columns[col])
        return GapCurve.of(self.columns["batch_size"], gap, se, label)


@dataclass(frozen=True)
class DeriveDoc:
    """A derivation document (``eoss derive … --json``).

    Attributes:
        path: The file.
        doc: Its parsed content.
    """

    path: Path
    doc: Any = field(repr=False)


@dataclass(frozen=True)
class ReportInputs:
    """Everything found, each group sorted by path.

    Attributes:
        runs: Training runs.
        static: Static gap tables.
        simulate: Random-matrix gap tables.
        derive: Derivation documents.
        root: Common parent folder of the inputs (paths are shown relative to it).
    """

    runs: tuple[RunTables, ...]
    static: tuple[GapTable, ...]
    simulate: tuple[GapTable, ...]
    derive: tuple[DeriveDoc, ...]
    root: Path

    def relative(self, path: Path) -> str:
        """``path`` relative to :attr:`root` (POSIX separators).

        Args:
            path: A path under the root.

        Returns:
            The relative path (the folder's name for the root itself).
        """
        rel = Path(os.path.relpath(path, self.root)).as_posix()
        return Path(path).name if rel == "." else rel


def _read_table(folder: Path, stem: str, kind: str) -> GapTable:
    from eoss.analysis.records.io import read_csv, read_json

    rows = read_csv(folder / f"{stem}.csv")
    if not rows or "batch_size" not in rows[0]:
        raise ValueError(f"{folder / (stem + '.csv')} has no batch_size column")
    cols: dict[str, NDArray[np.float64]] = {}
    for key in rows[0]:
        vals = []
        for r in rows:
            try:
                vals.append(float(r[key]) if r[key] not in (None, "") else np.nan)
            except ValueError:
                vals.append(np.nan)
        cols[key] = np.array(vals)
    meta_path = folder / f"{stem}.json"
    meta = read_json(meta_path) if meta_path.is_file() else {}
    meta = meta if isinstance(meta, dict) else {}
    config = meta.get("config", {})
    env = meta.get("env", {})  # results.json carries its env; run dirs have env.json
    if (folder / "env.json").is_file():
        env = read_json(folder / "env.json")
    order = np.argsort(cols["batch_size"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    config = config if isinstance(config, dict) else {}
    env = env if isinstance(env, dict) else {}
    theory = meta.get("theory") if isinstance(meta.get("theory"), dict) else {}
    return GapTable(folder, kind, cols, config, env, theory)


def has_verdicts(obj: Any) -> bool:
    """Whether a JSON value contains a dict with both "claim" and "verdict".

    Args:
        obj: Parsed JSON.

    Returns:
        True if some nested dict looks like a claim verdict.
    """
    if isinstance(obj, dict):
        if "claim" in obj and "verdict" in obj:
            return True
        return any(has_verdicts(v) for v in obj.values())
    if isinstance(obj, list):
        return any(has_verdicts(v) for v in obj)
    return False


def _derive_doc(path: Path) -> DeriveDoc | None:
    if path.name in _NOT_DERIVE or path.suffix != ".json":
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return DeriveDoc(path, doc) if has_verdicts(doc) else None


def declared_kind(folder: Path) -> str | None:
    """The kind a record folder declares, if it does.

    Args:
        folder: A folder.

    Returns:
        ``status.json``'s ``kind`` (run directories), else ``results.json``'s
        (simulations), else None.
    """
    from eoss.analysis.records.io import read_json

    for name in ("status.json", "results.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            kind = read_json(path).get("kind")
        except (ValueError, AttributeError):
            continue
        if isinstance(kind, str):
            return kind
    return None


def _add(group: str, folder: Path, found: dict[str, list]) -> None:
    if group == "runs":
        found["runs"].append(load_run(folder))
    elif group == "static":
        found["static"].append(_read_table(folder, "static_gap", "static"))
    else:
        found["simulate"].append(_read_table(folder, "results", "simulate"))


def _classify_folder(folder: Path, found: dict[str, list]) -> bool:
    """Add ``folder`` to ``found`` if it is a record folder; True stops descending."""
    names = {p.name for p in folder.iterdir()}
    kind = declared_kind(folder)
    if kind in _KINDS:
        group, needed = _KINDS[kind]
        if needed in names or (needed == METRICS and has_metrics(names)):
            _add(group, folder, found)
        else:  # started, failed or still running: nothing to read yet
            log.info("skipping %s folder %s: no %s", kind, folder, needed)
        return True
    # Folders written before status.json / results.json recorded their kind (and
    # kinds the report does not read): classified by the files they hold.
    if "static_gap.csv" in names:
        found["static"].append(_read_table(folder, "static_gap", "static"))
        return True
    if "results.csv" in names:
        found["simulate"].append(_read_table(folder, "results", "simulate"))
        return True
    if "config.json" in names and has_metrics(names):
        found["runs"].append(load_run(folder))
        return True
    return False


def _walk(path: Path, found: dict[str, list]) -> None:
    if path.is_file():
        doc = _derive_doc(path)
        if doc is not None:
            found["derive"].append(doc)
        return
    if _classify_folder(path, found):
        return
    for child in sorted(path.iterdir()):
        skip = child.name in ("checkpoints", "figures")
        if (child.is_dir() and not skip) or child.suffix == ".json":
            _walk(child, found)


def discover_inputs(paths: list[str | Path]) -> ReportInputs:
    """Find every eoss output under ``paths`` (see the module docstring).

    Args:
        paths: Files and folders.

    Returns:
        The inputs, grouped and sorted by path; duplicates removed.

    Raises:
        FileNotFoundError: If a path does not exist.
        ValueError: If nothing usable was found.
    """
    if not paths:
        raise ValueError("no inputs given")
    resolved = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
        resolved.append(p.resolve())
    found: dict[str, list] = {"runs": [], "static": [], "simulate": [], "derive": []}
    for p in sorted(set(resolved)):
        _walk(p, found)
    if not any(found.values()):
        raise ValueError(
            "found no eoss outputs (training runs, static_gap.csv, results.csv or "
            f"derivation JSON) under {', '.join(map(str, paths))}"
        )
    dedup = {
        k: sorted({x.path: x for x in v}.values(), key=lambda x: str(x.path))
        for k, v in found.items()
    }
    root = Path(
        os.path.commonpath([str(p if p.is_dir() else p.parent) for p in resolved])
    )
    return ReportInputs(
        runs=tuple(dedup["runs"]),
        static=tuple(dedup["static"]),
        simulate=tuple(dedup["simulate"]),
        derive=tuple(dedup["derive"]),
        root=root,
    )
