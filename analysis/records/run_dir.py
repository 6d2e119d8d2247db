"""A run directory: config, env, status, append-only metrics, command files.

``status.json`` records the folder's ``kind`` (the command that wrote it: ``train``,
``static-gap``, ...) next to its status, so readers classify folders by what they
declare rather than by the files they happen to hold.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eoss.analysis.records.env import config_hash, env_info
from eoss.analysis.records.io import JsonlWriter, read_json, read_jsonl, write_json
from eoss.analysis.records.lock import RunLock

if TYPE_CHECKING:
    from eoss.empirical.training.rows import Row

STATUSES = ("running", "finished", "diverged", "interrupted", "failed")


class RunDir:
    """A run directory: config, env, status, append-only metrics, extra files.

    Args:
        path: The directory (must exist; use :meth:`create` or :meth:`open`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._metrics: JsonlWriter | None = None
        self._kind: str | None = None
        self._lock = RunLock(self.path)

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
            kind: Command kind (``train``, ``static-gap``, ...), also written to
                ``status.json``.
            config: Resolved config as a dict.
            name: Folder name; default ``<UTC time>_<config hash>``.
            env: Environment facts (default :func:`env_info`).
            exist_ok: Reuse an existing folder (resume) instead of failing.

        Returns:
            The run directory, locked by this process (:meth:`lock`) until
            :meth:`unlock` or the end of the process.

        Raises:
            FileExistsError: If the folder exists and ``exist_ok`` is False.
        """
        path = planned_path(root, kind, config, name)
        if path.exists() and not exist_ok:
            raise FileExistsError(f"run directory {path} already exists")
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.lock()
        run._kind = kind
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

    def lock(self) -> RunDir:
        """Take the folder's exclusive writer lock (:mod:`.lock`).

        Returns:
            self.

        Raises:
            RunLockedError: If another live process holds it (message names its
                pid).
        """
        self._lock.acquire()
        return self

    def unlock(self) -> None:
        """Release the writer lock (if held)."""
        self._lock.release()

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

    @property
    def kind(self) -> str | None:
        """The folder's kind, from ``status.json`` (None for older folders)."""
        if self._kind is None:
            kind = self.status.get("kind")
            self._kind = kind if isinstance(kind, str) else None
        return self._kind

    def set_status(self, status: str, **extra: Any) -> None:
        """Atomically record the run's status (keeping the folder's ``kind``).

        Args:
            status: One of :data:`STATUSES`.
            **extra: More JSON-able facts (wall time, last step, reason).

        Raises:
            ValueError: On an unknown status.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        kind = {} if self.kind is None else {"kind": self.kind}
        record = {"status": status, **kind, "utc": stamp, **extra}
        write_json(self.path / "status.json", record)

    def append(self, table: str, row: Mapping[str, Any]) -> None:
        """Append one record to ``metrics.jsonl`` (tagged with its table).

        Args:
            table: Record kind (``history``, ``eigs``, ...).
            row: JSON-able fields.
        """
        if self._metrics is None:
            self._metrics = JsonlWriter(self.path / "metrics.jsonl")
        self._metrics.write({"table": table, **row})

    def append_row(self, row: Row) -> None:
        """Append one typed row (:mod:`eoss.empirical.training.rows`).

        Args:
            row: The row; its type names the table.
        """
        self.append(row.table, row.record())

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


def check_name(name: str) -> str:
    """Check a run-folder name: one path component, no ``..``, no separators.

    Args:
        name: The ``--name`` value.

    Returns:
        The name.

    Raises:
        ValueError: If it would write outside its parent folder or is empty.
    """
    bad = not name or name in (".", "..") or "/" in name or "\\" in name
    if bad or "\0" in name or name != name.strip():
        raise ValueError(
            f"--name {name!r} must be a plain folder name (no '/', '..' or "
            "surrounding spaces)"
        )
    return name


def planned_path(
    root: str | Path, kind: str, config: Mapping[str, Any], name: str | None
) -> Path:
    """Where :meth:`RunDir.create` puts a run (``root/kind/name``).

    Args:
        root: Root folder.
        kind: Command kind.
        config: Resolved config (for the default name's hash).
        name: Folder name or None for ``<UTC time>_<config hash>``.

    Returns:
        The folder path (not created).

    Raises:
        ValueError: On a name that is not a plain folder name.
    """
    if name is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}_{config_hash(config)}"
    return Path(root) / kind / check_name(name)


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
