"""In-memory data sets, mini-batch sampling, and data sets by name.

A :class:`ArrayDataset` is the whole training set as two tensors. Everything the
spectral core and the training loop need (chunks, batches, subsets) is built from
it by index, so a batch is always a fixed, reproducible set of rows.
:class:`BatchSampler` draws the index sets of SGD's mini-batches from a numpy
generator and can save and restore its exact position. :func:`load_train_test`
builds the data of a :class:`eoss.empirical.training.config.DataConfig` (CIFAR-10,
synthetic or
a user's ``.npz``); it reads files but never writes or downloads (see
``eoss.analysis.cli.data_root`` for the download).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class ArrayDataset:
    """A labelled data set held in memory.

    Attributes:
        X: Inputs, shape (N, *input_shape), floating point or integer (token
            ids, kept integer by :meth:`to`).
        y: Integer labels (N,) or float targets (N, C).
        name: Short description for records.
        num_classes: Number of model outputs C.
        provenance: JSON-safe facts about where the data came from.
    """

    X: Tensor
    y: Tensor
    name: str
    num_classes: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.X.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"X has {self.X.shape[0]} rows but y has {self.y.shape[0]}"
            )
        if self.X.is_complex() or self.X.dtype == torch.bool:
            # integer inputs (token ids for nn.Embedding) are kept as integers
            raise ValueError(f"X must be float or integer, got {self.X.dtype}")
        if self.X.shape[0] == 0:
            raise ValueError("the data set is empty")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(self.X.shape[1:])

    def subset(self, index: Tensor | np.ndarray) -> ArrayDataset:
        """Rows ``index`` as a new data set (provenance kept).

        Args:
            index: Integer row indices.

        Returns:
            The subset.
        """
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return ArrayDataset(
            self.X[idx], self.y[idx], self.name, self.num_classes, self.provenance
        )

    def to(
        self, device: torch.device | str, dtype: torch.dtype | None = None
    ) -> ArrayDataset:
        """Copy to a device (and float dtype for X; labels keep theirs).

        Args:
            device: Target device.
            dtype: Optional floating dtype for X (and float targets).

        Returns:
            The moved data set.
        """
        y = self.y.to(device)
        if dtype is not None and y.is_floating_point():
            y = y.to(dtype)
        keep = dtype is None or not self.X.is_floating_point()  # ids stay integer
        X = self.X.to(device=device, dtype=self.X.dtype if keep else dtype)
        if not keep and dtype != self.X.dtype:
            check_range(X, "X")  # e.g. float64 values beyond float32's range
        if dtype is not None and y.is_floating_point() and y.dtype != self.y.dtype:
            check_range(y, "y")
        return ArrayDataset(X, y, self.name, self.num_classes, self.provenance)

    def chunks(self, size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Consecutive chunks of at most ``size`` rows (the last may be ragged).

        Args:
            size: Chunk size (physical batch size), >= 1.

        Yields:
            (X_chunk, y_chunk) pairs covering every row exactly once.

        Raises:
            ValueError: If ``size`` < 1.
        """
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}")
        for start in range(0, len(self), size):
            yield self.X[start : start + size], self.y[start : start + size]


def check_range(values: Tensor | np.ndarray, name: str) -> None:
    """Refuse values that are non-finite or whose squares overflow their dtype.

    Losses, gradients and Hessian products are quadratic in the inputs and
    targets, so every |value| must stay below √(largest float) of the dtype
    (about 1.8·10¹⁹ in float32): larger ones turn the first loss into inf.

    Args:
        values: A float array or tensor.
        name: Its name for the message (``X``, ``y``).

    Raises:
        ValueError: On NaN/inf or a value too large for the dtype.
    """
    t = torch.as_tensor(values)
    if t.numel() == 0:
        return
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf")
    limit = float(np.sqrt(torch.finfo(t.dtype).max))
    big = float(t.abs().max())
    if big >= limit:
        raise ValueError(
            f"{name} holds a value of magnitude {big:.3g}, too large for "
            f"{str(t.dtype).removeprefix('torch.')} (its square overflows); "
            "rescale the data"
        )


def load_npz(path: str | Path) -> ArrayDataset:
    """Load a user's data set from an ``.npz`` with arrays ``X`` and ``y``.

    ``X`` (float) is used exactly as given (no normalisation); integer ``y`` are
    class labels 0..C-1, float ``y`` are regression targets.

    Args:
        path: The ``.npz`` file.

    Returns:
        The data set, in float32 unless X is float64.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the arrays are missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise ValueError(f"cannot read {path}: not an .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "X" not in npz or "y" not in npz:
                raise ValueError(
                    f"{path} must hold arrays 'X' and 'y', found {sorted(npz.files)}"
                )
            X, y = npz["X"], npz["y"]
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return dataset_from_arrays(
        X, y, name=path.name, provenance={"source": "npz", "path": str(path)}
    )


def dataset_from_arrays(
    X: np.ndarray, y: np.ndarray, *, name: str, provenance: dict[str, Any] | None = None
) -> ArrayDataset:
    """Validate numpy arrays and wrap them as an :class:`ArrayDataset`.

    Args:
        X: Float inputs, shape (N, ...).
        y: Integer labels (N,) or float targets (N,) / (N, C).
        name: Data-set name.
        provenance: Optional JSON-safe facts.

    Returns:
        The data set.

    Raises:
        ValueError: On non-float X, non-finite values or bad labels.
    """
    X, y = np.asarray(X), np.asarray(y)
    if not np.issubdtype(X.dtype, np.floating) and not np.issubdtype(
        X.dtype, np.integer
    ):
        raise ValueError(f"X must be a float or integer array, got {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"X must have shape (N, features...), got {X.shape}")
    if X.shape[0] == 0 or X[0].size == 0:
        raise ValueError(f"X must have N >= 1 rows of >= 1 feature, got {X.shape}")
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has shape {y.shape}")
    if np.issubdtype(X.dtype, np.floating):
        check_range(X, "X")
    dtype = torch.float64 if X.dtype == np.float64 else torch.float32
    if np.issubdtype(y.dtype, np.integer):
        if y.ndim != 1 or y.min() < 0:
            raise ValueError("integer labels y must be a 1-d array of values >= 0")
        labels = torch.as_tensor(y.astype(np.int64))
        n_out = int(y.max()) + 1
    elif np.issubdtype(y.dtype, np.floating):
        if y.ndim > 2 or (y.ndim == 2 and y.shape[1] == 0):
            raise ValueError(f"float targets y must be (N,) or (N, C), got {y.shape}")
        labels = torch.as_tensor(y, dtype=dtype)
        check_range(labels, "y")  # NaN/inf targets, or values beyond the dtype
        n_out = 1 if y.ndim == 1 else int(y.shape[1])
    else:
        raise ValueError(f"y must be integer labels or float targets, got {y.dtype}")
    x_dtype = torch.int64 if np.issubdtype(X.dtype, np.integer) else dtype
    return ArrayDataset(
        torch.as_tensor(X, dtype=x_dtype), labels, name, n_out, dict(provenance or {})
    )


def synthetic_classification(
    n: int,
    input_shape: tuple[int, ...] = (32,),
    num_classes: int = 10,
    *,
    gen: torch.Generator,
    noise: float = 0.5,
) -> ArrayDataset:
    """A seeded Gaussian-mixture classification set for fast tests.

    Class ``c`` has a random unit mean μ_c; ``x = 2 μ_c + noise · ε`` with standard
    normal ε, labels are balanced (``n // C`` per class, remainder to the first
    classes) and shuffled.

    Args:
        n: Number of samples.
        input_shape: Shape of one input.
        num_classes: Number of classes C.
        gen: CPU generator.
        noise: Standard deviation of the within-class noise.

    Returns:
        The data set (float32).

    Raises:
        ValueError: If ``n`` < 1 or ``num_classes`` < 2.
    """
    if n < 1 or num_classes < 2:
        raise ValueError(f"need n >= 1 and num_classes >= 2, got {n}, {num_classes}")
    d = int(np.prod(input_shape))
    means = torch.randn(num_classes, d, generator=gen)
    means = means / means.norm(dim=1, keepdim=True)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=gen)]
    X = 2.0 * means[labels] + noise * torch.randn(n, d, generator=gen)
    return ArrayDataset(
        X.reshape(n, *input_shape),
        labels,
        f"synthetic-{num_classes}class",
        num_classes,
        {
            "source": "synthetic",
            "n": n,
            "input_shape": list(input_shape),
            "noise": noise,
        },
    )




