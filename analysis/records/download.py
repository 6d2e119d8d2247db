"""Downloads with checksum and progress, a lock against parallel downloads, archives.

:func:`download_lock` is a *blocking* ``flock`` on ``<folder>/.download.lock``: a
second process that wants the same data waits for the first download and then
finds the files (unlike :class:`~eoss.analysis.records.lock.RunLock`, which
refuses at once). :func:`missing_parents` and :func:`remove_empty` let a caller
leave no folder behind when a download fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

DOWNLOAD_LOCK = ".download.lock"

log = logging.getLogger(__name__)

#: ``progress(bytes_done, bytes_total_or_None)``, called after every chunk.
Progress = Callable[[int, "int | None"], None]


@contextlib.contextmanager
def download_lock(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` for a download (waits for a holder).

    Creates ``folder`` if needed; the lock file is removed on release.

    Args:
        folder: The folder the download writes into.

    Yields:
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DOWNLOAD_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process downloading into %s", folder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def missing_parents(folder: str | Path) -> list[Path]:
    """The folders that creating ``folder`` would create, innermost first.

    Args:
        folder: A folder that may not exist.

    Returns:
        ``folder`` and its missing ancestors (empty if it exists).
    """
    out, cur = [], Path(folder).absolute()
    while not cur.exists() and cur != cur.parent:
        out.append(cur)
        cur = cur.parent
    return out


def remove_empty(folders: list[Path]) -> None:
    """Remove each folder in order if it exists and is empty (cleanup after a failure).

    Args:
        folders: Folders, innermost first (as :func:`missing_parents` gives them).
    """
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def download_file(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    timeout: float = 30.0,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying an MD5 checksum.

    Args:
        url: Source address.
        dest: Destination file (parent folders are created).
        md5: Expected hex MD5 of the content (None: no check).
        timeout: Socket timeout in seconds.
        progress: Called with (bytes so far, total bytes or None) per chunk.

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
            length = resp.headers.get("Content-Length")
            total, done = (int(length) if length else None), 0
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                fh.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
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
