"""Compact raw records: the small, re-analysable part of eoss outputs, gzipped.

A committed report must let a reader refit it. The part of a run folder that the
analysis reads is small (``config.json``, ``env.json``, ``status.json`` and the
``metrics.jsonl`` tables); checkpoints, logs and figures are not needed and are
large. :func:`archive_records` copies the first kind into a folder, with every
``*.jsonl`` file gzipped (``metrics.jsonl`` → ``metrics.jsonl.gz``, written with a
zero mtime so the bytes depend on the contents only). Every reader of eoss records
(:func:`eoss.analysis.records.io.iter_jsonl`, :func:`metrics_file`) reads the
gzipped form as it reads the plain one, so ``eoss report ARCHIVE --out DIR``
rebuilds a report from its archive.

Kept: ``*.json``, ``*.csv``, ``*.npz`` and ``*.jsonl`` (gzipped), and an archived
``*.jsonl.gz`` as it is where its plain table is absent (archiving a report rebuilt
from an archive keeps every table). Skipped: the
folders ``checkpoints``, ``logs`` and ``figures``, lock files, and everything else
(PNG/PDF figures, ``*.pt`` states).
"""

from __future__ import annotations

import gzip
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: File name suffixes copied as they are.
KEPT_SUFFIXES = (".json", ".csv", ".npz")
#: Folder names never archived.
SKIPPED_DIRS = ("checkpoints", "logs", "figures")
#: The name of a run's tables, plain and archived.
METRICS = "metrics.jsonl"
METRICS_GZ = METRICS + ".gz"


@dataclass(frozen=True)
class ArchiveResult:
    """What :func:`archive_records` wrote.

    Attributes:
        out: The archive folder.
        n_files: Files written.
        n_bytes: Their total size.
        source_bytes: Size of the files they came from (before compression).
    """

    out: Path
    n_files: int
    n_bytes: int
    source_bytes: int


def metrics_file(run_dir: str | Path) -> Path:
    """A run's ``metrics.jsonl``, or its archived ``metrics.jsonl.gz``.

    Args:
        run_dir: The run folder.

    Returns:
        The plain file when it exists, else the gzipped one when it exists, else
        the plain path (which does not exist).
    """
    run_dir = Path(run_dir)
    plain, packed = run_dir / METRICS, run_dir / METRICS_GZ
    return packed if not plain.is_file() and packed.is_file() else plain


def has_metrics(names: set[str]) -> bool:
    """Whether a folder listing holds a run's tables (plain or archived).

    Args:
        names: The file names in the folder.

    Returns:
        True if ``metrics.jsonl`` or ``metrics.jsonl.gz`` is among them.
    """
    return METRICS in names or METRICS_GZ in names


def _kept(path: Path) -> bool:
    if path.name.endswith(".jsonl.gz"):  # an archive's table: kept unless the plain
        return not path.with_name(path.name[: -len(".gz")]).is_file()  # one exists
    return path.suffix in KEPT_SUFFIXES or path.suffix == ".jsonl"


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source] if _kept(source) else []
    out = []
    for p in sorted(source.rglob("*")):
        rel = p.relative_to(source).parts
        if any(part in SKIPPED_DIRS for part in rel[:-1]) or not p.is_file():
            continue
        if _kept(p):
            out.append(p)
    return out


def _gzip_copy(src: Path, dest: Path) -> None:
    """Compress ``src`` into ``dest`` with no name or time in the gzip header."""
    with src.open("rb") as fin, dest.open("wb") as raw:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
        with gz:
            shutil.copyfileobj(fin, gz)


def archive_records(
    sources: Sequence[str | Path],
    out: str | Path,
    root: str | Path,
    *,
    fresh: bool = False,
) -> ArchiveResult:
    """Copy the re-analysable records under ``sources`` into ``out``.

    Paths are kept relative to ``root``: ``root/sweep/train/b=4/metrics.jsonl``
    becomes ``out/sweep/train/b=4/metrics.jsonl.gz``.

    Args:
        sources: Files and folders (each under ``root``).
        out: The archive folder (created; files in it are replaced).
        root: The folder the archive's paths are relative to.
        fresh: Remove ``out`` first (a report's own ``raw/``, so that records of
            runs no longer among the inputs do not linger).

    Returns:
        Counts and sizes.

    Raises:
        ValueError: If a source is not under ``root``.
    """
    root, out = Path(root).resolve(), Path(out)
    for source in map(Path, sources):
        try:
            source.resolve().relative_to(root)
        except ValueError:
            raise ValueError(f"{source} is not under {root}") from None
    if fresh and out.is_dir():
        shutil.rmtree(out)
    n_files = n_bytes = source_bytes = 0
    for source in map(Path, sources):
        for path in _files(source):
            dest = out / path.resolve().relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            source_bytes += path.stat().st_size
            if path.suffix == ".jsonl":
                dest = dest.with_name(dest.name + ".gz")
                tmp = dest.with_name(dest.name + ".tmp")
                _gzip_copy(path, tmp)
                tmp.replace(dest)
            else:
                shutil.copyfile(path, dest)
            n_files += 1
            n_bytes += dest.stat().st_size
    log.info("archived %d files (%d -> %d bytes) into %s", n_files, source_bytes,
             n_bytes, out)  # fmt: skip
    return ArchiveResult(out, n_files, n_bytes, source_bytes)
