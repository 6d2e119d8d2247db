"""An exclusive lock on a run directory, held by every process that writes it.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on ``<run_dir>/.lock``, whose content is
the holder's pid. The kernel drops an ``flock`` when its holder dies (even by
``kill -9``), so a lock file left by a dead process is *stale*: the next writer
takes it over at once (and logs the dead pid). A live holder makes
:meth:`RunLock.acquire` raise :class:`RunLockedError`, whose one-line message names
the holder's pid. Within one process the lock is re-entrant: every
:class:`RunLock` of the same folder shares one file descriptor, and the lock is
dropped when the last of them is released (or the process ends).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

LOCK_FILE = ".lock"

log = logging.getLogger(__name__)

# Locks this process holds: resolved folder -> [file descriptor, holders].
_HELD: dict[Path, list[int]] = {}


class RunLockedError(Exception):
    """The run directory is locked by another live process."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Exclusive, process-wide lock of one run directory.

    Args:
        folder: The run directory (must exist).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._key: Path | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._key is not None

    def acquire(self) -> RunLock:
        """Take the lock, or fail at once if a live process holds it.

        Returns:
            self.

        Raises:
            RunLockedError: If another process holds the lock.
            FileNotFoundError: If the run directory does not exist.
        """
        if self._key is not None:
            return self
        if not self.folder.is_dir():
            raise FileNotFoundError(f"no run directory at {self.folder}")
        key = self.folder.resolve()
        if key in _HELD:
            _HELD[key][1] += 1
            self._key = key
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise RunLockedError(
                f"{self.folder} is in use by {who} (lock {self.path}); "
                "wait for it to end or stop it first"
            ) from None
        old = _read_pid(fd)
        if old and old != os.getpid() and not _pid_alive(old):
            log.warning("taking over the stale lock of dead pid %d on %s", old, self)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        _HELD[key] = [fd, 1]
        self._key = key
        return self

    def release(self) -> None:
        """Drop the lock (the file stays; an unlocked file is never stale)."""
        if self._key is None:
            return
        key, self._key = self._key, None
        entry = _HELD[key]
        entry[1] -= 1
        if entry[1] > 0:
            return
        fd = _HELD.pop(key)[0]
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __str__(self) -> str:
        return str(self.folder)


def lock_holder(folder: str | Path) -> int | None:
    """The pid recorded in a run directory's lock file, if that process is alive.

    Args:
        folder: The run directory.

    Returns:
        The live holder's pid, or None (no lock file, empty, or a dead pid).
    """
    path = Path(folder) / LOCK_FILE
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    pid = int(text) if text.isdigit() else 0
    return pid if pid and _pid_alive(pid) else None


def _read_pid(fd: int) -> int:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else 0
