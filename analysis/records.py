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
import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)

STATUSES = ("running", "finished", "diverged", "interrupted", "failed")


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
        ValueError: If a line other than the last is not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    lines = path.read_text(encoding="utf-8").split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i >= len(lines) - 2:  # the last non-empty line may be torn by a kill
                break
            raise ValueError(f"{path}:{i + 1} is not valid JSON") from None
        if table is None or rec.get("table") == table:
            out.append(rec)
    return out


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
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def git_revision(start: Path | None = None) -> str | None:
    """The git commit of the eoss checkout (with ``+dirty``), or None.

    Args:
        start: Folder inside the checkout (default: this file's).

    Returns:
        The revision string or None outside git.
    """
    here = start or Path(__file__).resolve().parent
    try:
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
        git revision, command line, UTC time, seeds.
    """
    import importlib.metadata as md

    versions = {}
    for pkg in (
        "numpy",
        "scipy",
        "sympy",
        "torch",
        "statsmodels",
        "matplotlib",
        "pandas",
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

            info["torch_threads"] = torch.get_num_threads()
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


class RunDir:
    """A run directory: config, env, status, append-only metrics, extra files.

    Args:
        path: The directory (must exist; use :meth:`create` or :meth:`open`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._metrics: JsonlWriter | None = None

    @classmethod
    def create(
        cls,
        root: str | Path,
        kind: str,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        env: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> RunDir:
        """Make ``root/kind/name`` and write ``config.json``, ``env.json``, status.

        Args:
            root: Root folder (e.g. ``reports/runs``).
            kind: Command kind (``train``, ``simulate``, ...).
            config: Resolved config as a dict.
            name: Folder name; default ``<UTC time>_<config hash>``.
            env: Environment facts (default :func:`env_info`).
            exist_ok: Reuse an existing folder (resume) instead of failing.

        Returns:
            The run directory.

        Raises:
            FileExistsError: If the folder exists and ``exist_ok`` is False.
        """
        if name is None:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
            name = f"{stamp}_{config_hash(config)}"
        path = Path(root) / kind / name
        if path.exists() and not exist_ok:
            raise FileExistsError(f"run directory {path} already exists")
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        write_json(path / "config.json", config)
        write_json(path / "env.json", env if env is not None else env_info())
        run.set_status("running")
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Open an existing run directory.

        Args:
            path: The folder.

        Returns:
            The run directory.

        Raises:
            FileNotFoundError: If it has no ``config.json``.
        """
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a run directory (no config.json)")
        return cls(path)

    @property
    def config(self) -> dict[str, Any]:
        """The stored config."""
        return read_json(self.path / "config.json")

    @property
    def status(self) -> dict[str, Any]:
        """The stored status record (``{"status": "unknown"}`` if missing)."""
        try:
            return read_json(self.path / "status.json")
        except FileNotFoundError:
            return {"status": "unknown"}

    def set_status(self, status: str, **extra: Any) -> None:
        """Atomically record the run's status.

        Args:
            status: One of :data:`STATUSES`.
            **extra: More JSON-able facts (wall time, last step, reason).

        Raises:
            ValueError: On an unknown status.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        write_json(self.path / "status.json", {"status": status, "utc": stamp, **extra})

    def append(self, table: str, row: Mapping[str, Any]) -> None:
        """Append one record to ``metrics.jsonl`` (tagged with its table).

        Args:
            table: Record kind (``history``, ``eigs``, ...).
            row: JSON-able fields.
        """
        if self._metrics is None:
            self._metrics = JsonlWriter(self.path / "metrics.jsonl")
        self._metrics.write({"table": table, **row})

    def records(self, table: str | None = None) -> list[dict[str, Any]]:
        """Read back ``metrics.jsonl`` (optionally one table).

        Args:
            table: Table to keep, or None for all.

        Returns:
            The records (empty if the log does not exist yet).
        """
        path = self.path / "metrics.jsonl"
        return read_jsonl(path, table=table) if path.is_file() else []

    def close(self) -> None:
        """Close the metrics log."""
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


def iter_run_dirs(pattern_roots: Iterable[str | Path]) -> Iterator[RunDir]:
    """Run directories under the given folders (recursively, sorted).

    Args:
        pattern_roots: Folders that are run dirs or contain them.

    Yields:
        Each run directory found (a folder with ``config.json``).
    """
    for root in pattern_roots:
        root = Path(root)
        if (root / "config.json").is_file():
            yield RunDir(root)
            continue
        for cfg in sorted(root.rglob("config.json")):
            yield RunDir(cfg.parent)


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


def download_file(
    url: str, dest: str | Path, *, md5: str | None = None, timeout: float = 30.0
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying an MD5 checksum.

    Args:
        url: Source address.
        dest: Destination file (parent folders are created).
        md5: Expected hex MD5 of the content (None: no check).
        timeout: Socket timeout in seconds.

    Returns:
        The destination path.

    Raises:
        OSError: If the download fails (e.g. the machine is offline).
        ValueError: If the checksum does not match (nothing is kept).
    """
    import urllib.request

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    digest = hashlib.md5()
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout) as resp,
            os.fdopen(fd, "wb") as fh,
        ):
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if md5 is not None and digest.hexdigest() != md5:
            raise ValueError(
                f"checksum mismatch for {url}: md5 {digest.hexdigest()}, expected {md5}"
            )
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def extract_tar(archive: str | Path, dest: str | Path) -> Path:
    """Extract a (gzipped) tar archive safely (no absolute paths, links or ``..``).

    Args:
        archive: The ``.tar`` / ``.tar.gz`` file.
        dest: Folder to extract into.

    Returns:
        The destination folder.

    Raises:
        ValueError: If a member would escape ``dest`` or is not a plain file/dir.
    """
    import tarfile

    dest = Path(dest).resolve()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if dest not in target.parents and target != dest:
                raise ValueError(f"unsafe path in archive: {member.name}")
            if not (member.isfile() or member.isdir()):
                raise ValueError(f"unsupported member in archive: {member.name}")
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, **safe)  # members checked above
    return dest
