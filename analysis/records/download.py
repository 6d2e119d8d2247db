"""Downloads with checksum, and archive extraction."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


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
