"""Data sets by name for the CLI: CIFAR-10 (with download), synthetic, ``.npz``.

The CIFAR-10 data root comes from ``--data-root``, else the ``EOSS_DATA_ROOT``
environment variable, else the user cache folder ``$XDG_CACHE_HOME/eoss`` (default
``~/.cache/eoss``), never a folder next to the checkout (:func:`resolve_data_root`).
When the batches are missing, :func:`ensure_cifar10` downloads the official archive
once into the root (progress on stderr, MD5 checked), holding a lock so parallel
jobs wait for one download instead of racing; on an offline machine it fails with
one line saying where to put the files, and leaves no folder behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from eoss.analysis import records
from eoss.analysis.records import download as fetching

if TYPE_CHECKING:
    from eoss.empirical.data.arrays import ArrayDataset
    from eoss.empirical.training.config import DataConfig

ENV_VAR = "EOSS_DATA_ROOT"


def default_data_root() -> Path:
    """The user cache folder for data: ``$XDG_CACHE_HOME/eoss`` or ``~/.cache/eoss``.

    Returns:
        The folder (not created).
    """
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "eoss"


def resolve_data_root(arg: str | None) -> Path:
    """The data root: the argument, else ``$EOSS_DATA_ROOT``, else the user cache.

    Args:
        arg: Value of ``--data-root`` (may be None).

    Returns:
        The root folder (it may not exist yet).
    """
    value = arg or os.environ.get(ENV_VAR)
    return Path(value).expanduser() if value else default_data_root()


def ensure_cifar10(root: Path | None, *, download: bool = True) -> Path:
    """A data root that holds the CIFAR-10 batches, downloading them if needed.

    Args:
        root: The data root (None: error).
        download: Try the official archive when the files are missing.

    Returns:
        The root (the folder holding ``cifar-10-batches-py`` or the folder itself).

    Raises:
        FileNotFoundError: With a one-line message if the data cannot be found
            or downloaded (then no folder is left behind).
        NotADirectoryError: If the root is a file.
    """
    from eoss.empirical.data import cifar10

    if root is None:
        raise FileNotFoundError(
            f"CIFAR-10 needs a data root: pass --data-root DIR or set {ENV_VAR}"
        )
    try:
        cifar10.locate(root)
        return root
    except FileNotFoundError:
        if not download:
            raise
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"data root {root} is a file, not a folder")
    created = fetching.missing_parents(root)
    try:
        with fetching.download_lock(root):
            try:  # another process may have finished the download meanwhile
                cifar10.locate(root)
                return root
            except FileNotFoundError:
                pass
            _download(root)
    except (OSError, ValueError) as exc:
        fetching.remove_empty(created)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise FileNotFoundError(
            f"{cifar10.missing_message(root)}, or point --data-root or {ENV_VAR} "
            f"at an existing copy (download failed: {reason})"
        ) from None
    cifar10.locate(root)
    return root


def _download(root: Path) -> None:
    """Fetch, check and unpack the official archive into ``root`` (lock held)."""
    from eoss.analysis.cli.progress import ByteProgress
    from eoss.empirical.data import cifar10

    archive = root / "cifar-10-python.tar.gz"
    bar = ByteProgress(f"eoss: downloading CIFAR-10 into {root}")
    try:
        records.download_file(
            cifar10.URL, archive, md5=cifar10.ARCHIVE_MD5, progress=bar
        )
    finally:
        bar.close()
    records.extract_tar(archive, root)
    records.delete_file(archive)


def load_for_config(
    cfg: DataConfig, *, seed: int, root: Path | None, download: bool = True
) -> tuple[ArrayDataset, ArrayDataset | None]:
    """The (train, test) data of a training config.

    Args:
        cfg: The data config.
        seed: The run's seed.
        root: CIFAR-10 data root.
        download: Allow downloading CIFAR-10.

    Returns:
        (train, test).
    """
    from eoss.empirical.data.loading import load_train_test

    check_data_size(cfg)
    if cfg.name == "cifar10":
        root = ensure_cifar10(root, download=download)
    return load_train_test(cfg, seed=seed, root=root)


def check_data_size(cfg: DataConfig) -> None:
    """Refuse a data set that cannot fit in memory, before reading or drawing it.

    Synthetic sets are ``(n_train + n_test) × input_dim`` values; an ``.npz`` is
    sized by its members' uncompressed sizes (a small compressed file can hold
    huge arrays); CIFAR-10 is bounded by its 60,000 images.

    Args:
        cfg: The data config.

    Raises:
        ValueError: If it would not fit.
    """
    import zipfile

    from eoss.analysis.cli.limits import check_memory, check_rows

    if cfg.name == "synthetic":
        n = cfg.n_train + (cfg.n_test if cfg.n_test is not None else cfg.n_train)
        check_rows(n, cfg.input_dim, f"the synthetic data set ({n} rows)")
    elif cfg.name == "npz" and cfg.path and Path(cfg.path).is_file():
        try:
            with zipfile.ZipFile(cfg.path) as zf:
                size = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError):
            return  # load_npz gives the precise message
        check_memory(2.0 * size, f"the arrays of {cfg.path}")


def load_dataset(
    name: str,
    *,
    n: int = 8192,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool = True,
) -> ArrayDataset:
    """A training set by name, for ``eoss sharpness`` and scripts.

    Args:
        name: ``cifar10``, ``synthetic`` or a path to an ``.npz`` file.
        n: Training points (cifar10 subset, synthetic size).
        seed: Seed of the subset / synthetic draw.
        root: CIFAR-10 data root (default ``$EOSS_DATA_ROOT``).
        download: Allow downloading CIFAR-10.

    Returns:
        The training set (the same subset a training run with this seed uses).

    Raises:
        ValueError: On an unknown name.
    """
    from eoss.empirical.training.config import DataConfig

    if name.endswith(".npz"):
        cfg = DataConfig(name="npz", path=name)
    elif name in ("cifar10", "synthetic"):
        cfg = DataConfig(name=name, n_train=n, n_test=0)
    else:
        raise ValueError(
            f"unknown dataset {name!r}: use cifar10, synthetic or a FILE.npz"
        )
    base = resolve_data_root(str(root) if root is not None else None)
    return load_for_config(cfg, seed=seed, root=base, download=download)[0]
