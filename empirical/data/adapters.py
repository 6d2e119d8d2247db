r"""A user's data as an :class:`~eoss.empirical.data.arrays.ArrayDataset`.

Every estimator of eoss works on the whole data set held as two tensors, rows
addressed by index (so a batch is a fixed, reproducible set of rows).
:func:`as_dataset` builds that from what a user already has:

==================================================  ================================
``data``                                            becomes
==================================================  ================================
an :class:`ArrayDataset`                            itself (unchanged)
a pair ``(X, y)`` of tensors or numpy arrays        ``ArrayDataset(X, y)``
a ``torch.utils.data.TensorDataset`` of two         its two tensors
tensors
a map-style ``torch.utils.data.Dataset`` of         ``X = stack(inputs)``,
``(input, target)`` pairs                           ``y = stack(targets)`` (once)
anything with ``batch_fn``                          see below
==================================================  ================================

**Dtypes are kept.** Integer inputs (token ids for an ``nn.Embedding``) stay
integer, float64 stays float64; numpy arrays are converted without a copy where
possible. Targets are integer class labels (``(N,)``, or ``(N, T)`` per token)
or float regression targets.

**Structured records (the hook).** When an item is not an ``(input, target)``
pair -- a dict such as ``{"input_ids": ..., "label": ...}``, a triple, a custom
object -- pass ``batch_fn(record) -> (input, target)``. It is applied to each
item of a ``Dataset``, or once to a whole-data ``Mapping``/object given as
``data`` (then it returns the full ``(X, y)``)::

    ds = as_dataset(hf_like, batch_fn=lambda r: (r["input_ids"], r["label"]))
    ds = as_dataset({"x": X, "y": y}, batch_fn=lambda d: (d["x"], d["y"]))

The model is always called as ``model(X_B)`` on one tensor of rows. Models with
several inputs (ids and an attention mask, say) need them packed into one tensor
-- e.g. ``torch.stack([ids, mask], 1)`` -- and unpacked in ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eoss.empirical.data.arrays import ArrayDataset

BatchFn = Callable[[Any], tuple[Any, Any]]
DataLike = Any  # ArrayDataset | tuple[X, y] | torch Dataset | Mapping (with batch_fn)


def as_dataset(
    data: DataLike,
    *,
    batch_fn: BatchFn | None = None,
    name: str | None = None,
    num_classes: int | None = None,
) -> ArrayDataset:
    """The :class:`ArrayDataset` of a user's data (see the module docstring).

    Args:
        data: An ``ArrayDataset``, a pair ``(X, y)`` of tensors / numpy arrays, a
            map-style ``torch.utils.data.Dataset`` of ``(input, target)`` pairs,
            or (with ``batch_fn``) a Dataset of records or one whole-data record.
        batch_fn: Maps one record to ``(input, target)``; for a ``Dataset`` it is
            applied per item, otherwise once to ``data`` itself.
        name: Name for records (default: the type of ``data``).
        num_classes: Model outputs C recorded with the data (default: max label
            + 1 for integer targets, the trailing size for float targets).

    Returns:
        The data set; an ``ArrayDataset`` given without ``batch_fn`` is returned
        as is.

    Raises:
        TypeError: If ``data`` is none of the accepted kinds, or an item is not
            an ``(input, target)`` pair.
        ValueError: If the pieces do not stack or have different row counts.
    """
    if isinstance(data, ArrayDataset) and batch_fn is None:
        return data
    label = name or type(data).__name__
    if _is_map_dataset(data):
        X, y = _stack_items(data, batch_fn)
    elif batch_fn is not None:
        X, y = _pair(batch_fn(data), "batch_fn(data)")
    elif isinstance(data, Mapping):
        raise TypeError(
            "a dict of arrays needs batch_fn=lambda d: (d[<inputs>], d[<targets>])"
        )
    else:
        X, y = _pair(data, "data")
    X, y = _tensor(X, "inputs"), _tensor(y, "targets")
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("inputs and targets need a leading row dimension")
    return ArrayDataset(
        X,
        y,
        label,
        num_classes if num_classes is not None else _n_outputs(y),
        {"source": "as_dataset", "type": type(data).__name__},
    )


def _is_map_dataset(data: Any) -> bool:
    """A map-style torch Dataset (``__getitem__`` by index and ``__len__``)."""
    return isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__")


def _stack_items(data: Any, batch_fn: BatchFn | None) -> tuple[Tensor, Tensor]:
    """Stack every ``(input, target)`` item of a map-style Dataset (once)."""
    tensors = getattr(data, "tensors", None)
    if batch_fn is None and isinstance(tensors, tuple) and len(tensors) == 2:
        return tensors  # TensorDataset: already two stacked tensors
    n = len(data)
    if n == 0:
        raise ValueError("the data set is empty")
    pairs = [
        _pair(data[i] if batch_fn is None else batch_fn(data[i]), f"item {i}")
        for i in range(n)
    ]
    try:
        X = torch.stack([_tensor(x, "inputs") for x, _ in pairs])
        y = torch.stack([_tensor(t, "targets") for _, t in pairs])
    except RuntimeError as exc:
        raise ValueError(f"items do not stack into one tensor: {exc}") from None
    return X, y


def _pair(obj: Any, what: str) -> tuple[Any, Any]:
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return obj[0], obj[1]
    raise TypeError(
        f"{what} must be an (input, target) pair, got {type(obj).__name__}; "
        "pass batch_fn=... to map records to pairs"
    )


def _tensor(value: Any, what: str) -> Tensor:
    """A tensor keeping the dtype (numpy float64 stays float64, ints stay ints)."""
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, np.generic, int, float, bool, list)):
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"{what} of dtype object cannot become a tensor")
        return torch.from_numpy(np.ascontiguousarray(arr))
    raise TypeError(f"{what} must be tensors or numpy arrays, got {type(value)}")


def _n_outputs(y: Tensor) -> int:
    """C: max label + 1 for integer targets, the trailing size for float ones."""
    if y.is_floating_point():
        return 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    return int(y.max()) + 1 if y.numel() else 1
