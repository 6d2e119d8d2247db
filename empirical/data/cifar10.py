"""CIFAR-10 from the standard "python version" batches, with provenance.

The data root is either the folder that holds ``cifar-10-batches-py`` or that
folder itself. It must contain ``test_batch`` and at least one of
``data_batch_1`` … ``data_batch_5`` (any subset works; the training pool is the
concatenation of the batches present, in file order). Each batch is a pickled
dict with ``data`` (uint8, (10000, 3072), R, G, B planes of 32×32, row-major),
``labels`` and ``filenames``; it is read with a restricted unpickler that only
accepts numpy's array reconstruction (no arbitrary code from a data file).

:func:`load_cifar10` returns a seeded, class-covering random subset of n
training images and the test set as :class:`~eoss.empirical.data.arrays.ArrayDataset` in
float (pixels / 255, then per-channel standardised with the mean and std of the
*training subset*, which are recorded). Provenance records the files used and
their SHA-256, the subset's seed and hash, the normalisation, and a caveat when
the files are a JPEG-recompressed rebuild (detected by the ``.jpg`` entries of
``filenames`` or by the known hashes of such files), not the original pixels.

This module reads files only; the download of the official archive lives in
``eoss.analysis.cli.data_root`` (file writes belong to ``analysis``).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made, so that locating
    # the files (the offline check before a reproduction) costs no torch import
    import torch

    from eoss.empirical.data.arrays import ArrayDataset

DIRNAME = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# SHA-256 of batches rebuilt from a JPEG (quality 75) mirror of CIFAR-10: real
# images and labels in the official order, but lossy pixels (see the data README
# shipped with those files). Detection also works through the filenames entries.
JPEG_REBUILD_SHA256 = {
    "f847ed90580455111501f4e8eb442fc4091c5c4e4fd22ae3e680ccd028ebbd6b": "data_batch_1",
    "3bc0d3fcc8594e0bbcc98d1591faffa220973a324f9a4803081f43873b980b0f": "test_batch",
}
JPEG_CAVEAT = (
    "pixels went through a JPEG (quality 75, 4:2:0) round-trip: real CIFAR-10 images "
    "and labels in the official order, but not bit-exact (mean abs. error ~5.8/255);"
    " accuracies are close to, not exactly comparable with, published ones"
)


def missing_message(root: str | Path) -> str:
    """One-line instructions for a data root without the CIFAR-10 batches.

    Args:
        root: The data root that was searched.

    Returns:
        The message.
    """
    return (
        f"CIFAR-10 not found under {root}: put the python-version batches "
        f"(test_batch and data_batch_1..5, or some of them) in "
        f"{Path(root) / DIRNAME}, e.g. by extracting {URL}"
    )


def locate(root: str | Path) -> Path:
    """The folder holding the batches, given a data root.

    Args:
        root: ``…/cifar-10-batches-py`` itself or its parent.

    Returns:
        The batches folder.

    Raises:
        FileNotFoundError: If no folder with ``test_batch`` and a training batch
            is found.
    """
    root = Path(root).expanduser()
    for cand in (root / DIRNAME, root):
        if (cand / TEST_FILE).is_file() and any(
            (cand / f).is_file() for f in TRAIN_FILES
        ):
            return cand
    raise FileNotFoundError(missing_message(root))


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that only reconstructs numpy arrays (and bytes via codecs)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":  # numpy 2 moved numpy.core to numpy._core
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # pragma: no cover - numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return super().find_class(module, name)


@dataclass(frozen=True)
class CifarBatch:
    """One batch file.

    Attributes:
        data: uint8 pixels, shape (n, 3072) (R, G, B planes of 32×32).
        labels: int64 labels, shape (n,).
        filenames: The ``filenames`` entries (n,) as strings.
        sha256: SHA-256 of the file.
    """

    data: np.ndarray
    labels: np.ndarray
    filenames: tuple[str, ...]
    sha256: str


def read_batch(path: str | Path) -> CifarBatch:
    """Read one python-version batch file.

    Args:
        path: The file (``data_batch_k`` or ``test_batch``).

    Returns:
        The batch.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is not a valid CIFAR-10 batch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CIFAR-10 batch at {path}")
    raw = path.read_bytes()
    try:
        obj = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(obj[b"data"], dtype=np.uint8)
        labels = np.asarray(obj[b"labels"], dtype=np.int64)
        names = tuple(
            n.decode() if isinstance(n, bytes) else str(n)
            for n in obj.get(b"filenames", [])
        )
    except (pickle.UnpicklingError, KeyError, TypeError, EOFError) as exc:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: {exc}") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ValueError(f"{path}: unexpected shapes {data.shape}, {labels.shape}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels outside 0..9")
    return CifarBatch(data, labels, names, hashlib.sha256(raw).hexdigest())


def class_covering_subset(
    labels: np.ndarray, n: int, rng: np.random.Generator, n_classes: int = 10
) -> np.ndarray:
    """A uniform random subset of size n that contains every class.

    A uniform n-subset is drawn; if it misses a class (only likely for small n),
    for each missing class one random member replaces a random member of the
    most frequent class in the subset.

    Args:
        labels: Labels of the pool, shape (M,).
        n: Subset size, n_classes ≤ n ≤ M.
        rng: The generator.
        n_classes: Classes that must be present.

    Returns:
        Sorted int64 indices into the pool, shape (n,).

    Raises:
        ValueError: If n is out of range or the pool misses a class.
    """
    m = len(labels)
    if not n_classes <= n <= m:
        raise ValueError(f"subset size {n} must be in [{n_classes}, {m}]")
    present = np.unique(labels)
    if len(present) < n_classes:
        raise ValueError(f"the pool has only {len(present)} of {n_classes} classes")
    idx = rng.choice(m, size=n, replace=False)
    for c in range(n_classes):
        if np.any(labels[idx] == c):
            continue
        counts = np.bincount(labels[idx], minlength=n_classes)
        donors = np.flatnonzero(labels[idx] == counts.argmax())
        idx[rng.choice(donors)] = rng.choice(np.flatnonzero(labels == c))
    return np.sort(idx).astype(np.int64)


def _to_images(data: np.ndarray) -> torch.Tensor:
    """uint8 (n, 3072) → float32 (n, 3, 32, 32) in [0, 1]."""
    import torch

    return torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)


def _jpeg_rebuilt(batches: list[CifarBatch]) -> bool:
    by_hash = any(b.sha256 in JPEG_REBUILD_SHA256 for b in batches)
    by_name = any(b.filenames and b.filenames[0].endswith(".jpg") for b in batches)
    return by_hash or by_name


def _provenance(
    folder: Path,
    files: dict[str, str],
    pool: int,
    idx: np.ndarray,
    seed: int,
    normalize: bool,
    mean: torch.Tensor,
    std: torch.Tensor,
) -> dict[str, Any]:
    """JSON-safe facts about the files, the subset and the normalisation."""
    return {
        "source": "cifar10",
        "folder": str(folder.resolve()),
        "files_sha256": files,
        "train_pool": pool,
        "n_train": len(idx),
        "subset_seed": seed,
        "subset_sha256": hashlib.sha256(idx.tobytes()).hexdigest(),
        "normalize": normalize,
        "channel_mean": mean.tolist(),
        "channel_std": std.tolist(),
        "pixel_scale": "x / 255, then (x - mean_c) / std_c" if normalize else "x/255",
    }


def load_cifar10(
    root: str | Path,
    *,
    n_train: int = 8192,
    n_test: int | None = None,
    seed: int = 0,
    normalize: bool = True,
) -> tuple[ArrayDataset, ArrayDataset | None]:
    """Seeded class-covering training subset and the test set.

    Args:
        root: Data root (see :func:`locate`).
        n_train: Training images (drawn from the batches present).
        n_test: Test images (None: all; 0: no test set; else a seeded subset).
        seed: Seed of the subset choice (stream ``cifar_subset``).
        normalize: Standardise each channel with the training subset's
            mean and std (population std over pixels and images).

    Returns:
        (train, test) in float32, inputs (N, 3, 32, 32), integer labels.

    Raises:
        FileNotFoundError: If the batches are missing.
        ValueError: If n_train exceeds the images present or files are malformed.
    """
    import torch

    from eoss.empirical.data.arrays import ArrayDataset
    from eoss.empirical.rng import numpy_rng

    folder = locate(root)
    present = [f for f in TRAIN_FILES if (folder / f).is_file()]
    batches = [read_batch(folder / f) for f in present]
    pool_x = np.concatenate([b.data for b in batches])
    pool_y = np.concatenate([b.labels for b in batches])
    if n_train > len(pool_y):
        raise ValueError(
            f"n_train={n_train} exceeds the {len(pool_y)} training images in {folder}"
        )
    rng = numpy_rng(seed, "cifar_subset")
    idx = class_covering_subset(pool_y, n_train, rng)
    X = _to_images(pool_x[idx])
    mean = X.mean(dim=(0, 2, 3))
    std = X.std(dim=(0, 2, 3), correction=0)
    test_batch = read_batch(folder / TEST_FILE)
    files = {f: b.sha256 for f, b in zip(present, batches, strict=True)}
    files[TEST_FILE] = test_batch.sha256
    prov = _provenance(folder, files, len(pool_y), idx, seed, normalize, mean, std)
    if _jpeg_rebuilt([*batches, test_batch]):
        prov["caveat"] = JPEG_CAVEAT
    shift = mean.view(1, 3, 1, 1) if normalize else torch.zeros(1, 3, 1, 1)
    scale = std.view(1, 3, 1, 1) if normalize else torch.ones(1, 3, 1, 1)
    train = ArrayDataset(
        (X - shift) / scale, torch.from_numpy(pool_y[idx]), "cifar10", 10, prov
    )
    if n_test == 0:
        return train, None
    t_idx = np.arange(len(test_batch.labels))
    if n_test is not None and n_test < len(t_idx):
        t_idx = np.sort(numpy_rng(seed, "cifar_test").choice(t_idx, n_test, False))
    Xt = (_to_images(test_batch.data[t_idx]) - shift) / scale
    test = ArrayDataset(
        Xt, torch.from_numpy(test_batch.labels[t_idx]), "cifar10-test", 10, prov
    )
    return train, test
