"""The sample mean and its standard error sd/√k (independent replicates).

For k values x_1 … x_k,

    mean = Σ x_i / k,    SE = sd(x, ddof=1) / √k,

the standard error of the mean when the values are independent (block means,
per-run levels). With k = 1 the SE is undefined and returned as NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def mean_se(values: ArrayLike) -> tuple[float, float]:
    """Mean and standard error sd(ddof=1)/√k of k independent values.

    Values are used as given (no NaN dropping): filter them first if needed.

    Args:
        values: The values, shape (k,), k ≥ 1.

    Returns:
        (mean, se); se is NaN for k = 1.

    Raises:
        ValueError: If ``values`` is empty or not one-dimensional.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"need a non-empty 1-d array, got shape {x.shape}")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan")
    return mean, float(x.std(ddof=1) / np.sqrt(len(x)))
