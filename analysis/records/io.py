"""All file I/O of eoss: run directories, JSON/JSONL/CSV/NPZ records, checkpoints.

Library code (``toy_models``, ``empirical``) returns objects; this module is the
only place that writes them. Guarantees:

* JSON, NPZ and checkpoint files are written atomically (temp file in the same
  folder, ``fsync``, ``os.replace``): a crash leaves the old file or the new one.
* JSONL logs are append-only and flushed after every record, so ``kill -9`` loses
  at most the record being written; :func:`read_jsonl` skips a torn last line.
* Non-finite floats are written as JSON ``null`` (strict JSON), numpy scalars
  and arrays as numbers and lists.

Run-directory schema (``RunDir``)::

    <root>/<kind>/<name>/
        config.json     resolved config (dataclass as dict)
        env.json        versions, device, git revision, seeds, command line
        status.json     {"status": running|finished|diverged|interrupted|failed, ...}
        metrics.jsonl   one JSON object per line, each with a "table" key
        ...             command-specific files (results.csv, checkpoints/, ...)
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)



def jsonable(obj: Any) -> Any:
    """Convert ``obj`` to strict-JSON-safe Python (NaN/inf → None).

    Args:
        obj: Nested dicts/lists/tuples/dataclasses/numpy/torch scalars and arrays.

    Returns:
        An object ``json.dumps(..., allow_nan=False)`` accepts.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return jsonable(obj.to_dict())
        return jsonable({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        val = float(obj)
        return val if math.isfinite(val) else None
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if type(obj).__module__.startswith("torch"):
        return jsonable(
            obj.detach().cpu().numpy() if hasattr(obj, "detach") else str(obj)
        )
    return obj


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (see :func:`jsonable`).

    Args:
        obj: The object.
        indent: Indentation (None for one line).

    Returns:
        The JSON string.
    """
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False, sort_keys=False)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename).

    Args:
        path: Destination; parent folders are created.
        data: Content.

    Returns:
        The path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shareable
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented strict JSON.

    Args:
        path: Destination.
        obj: Any :func:`jsonable` object.

    Returns:
        The path.
    """
    return atomic_write_bytes(path, (dumps(obj) + "\n").encode())


def read_json(path: str | Path) -> Any:
    """Read a JSON file.

    Args:
        path: The file.

    Returns:
        The parsed object.

    Raises:
        FileNotFoundError: If it does not exist.
        ValueError: If it is not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


class JsonlWriter:
    """Append-only JSON-lines log, flushed after every record.

    Args:
        path: The ``.jsonl`` file (created if missing, appended to otherwise).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - long-lived

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a line and flush it to the OS.

        Args:
            record: JSON-able mapping.
        """
        self._fh.write(dumps(record, indent=None) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Flush, fsync and close the file."""
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | Path, *, table: str | None = None) -> list[dict[str, Any]]:
    """Read a JSONL log, skipping a torn (partially written) last line.

    Args:
        path: The file.
        table: If given, keep only records whose ``"table"`` equals it.

    Returns:
        The records in order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If a line other than the last is not valid JSON, or a line
            is not a JSON object.
    """
    return [
        rec
        for _, rec in iter_jsonl(path)
        if table is None or rec.get("table") == table
    ]


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of a JSONL log with their line numbers (see :func:`read_jsonl`).

    Args:
        path: The file; a ``.gz`` name is read through gzip (archived records,
            :mod:`eoss.analysis.records.archive`).

    Yields:
        (1-based line number, record).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: On invalid JSON before the last line, or a non-object line
            (the message names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except (gzip.BadGzipFile, EOFError):
        raise ValueError(f"{path} is not a complete gzip file") from None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i >= len(lines) - 2:  # the last non-empty line may be torn by a kill
                break
            raise ValueError(f"{path}:{i + 1} is not valid JSON") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{path}:{i + 1} is not a JSON object")
        yield i + 1, rec


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Atomically write rows (dicts) as CSV; the header is the union of keys.

    Args:
        path: Destination.
        rows: Records; missing keys are left empty, None is written empty.

    Returns:
        The path.
    """
    rows = [jsonable(r) for r in rows]
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return atomic_write_bytes(path, buf.getvalue().encode())


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Read a CSV file into a list of string dicts.

    Args:
        path: The file.

    Returns:
        Rows as dicts of strings.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it has no header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise ValueError(f"{path} is empty (no CSV header)")
        return list(reader)


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Atomically write numpy arrays to an ``.npz`` (no pickled objects).

    Args:
        path: Destination.
        **arrays: Named arrays.

    Returns:
        The path.
    """
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())
















# ---- additions for training runs (resume, checkpoint rotation, data download) ----


def rewrite_jsonl(path: str | Path, keep: Any) -> int:
    """Atomically rewrite a JSONL log with only the records ``keep`` accepts.

    A torn last line (from a killed writer) is dropped too. Used when a run
    resumes from a checkpoint: records newer than the checkpoint are regenerated.

    Args:
        path: The ``.jsonl`` file (nothing happens if it does not exist).
        keep: Predicate ``keep(record) -> bool``.

    Returns:
        The number of records dropped (a torn line counts as one).
    """
    path = Path(path)
    if not path.is_file():
        return 0
    n_lines = sum(1 for line in path.read_text(encoding="utf-8").split("\n") if line)
    kept = [rec for rec in read_jsonl(path) if keep(rec)]
    text = "".join(dumps(rec, indent=None) + "\n" for rec in kept)
    atomic_write_bytes(path, text.encode())
    return n_lines - len(kept)


def delete_file(path: str | Path) -> bool:
    """Remove a file written by eoss (e.g. a rotated checkpoint).

    Args:
        path: The file.

    Returns:
        Whether a file was removed.
    """
    path = Path(path)
    if not path.is_file():
        return False
    path.unlink()
    return True




