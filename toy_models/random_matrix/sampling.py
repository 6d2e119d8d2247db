"""The mini-batch distribution: drawing index batches, and enumerating it exactly.

``without``: a uniformly random ``b``-subset of the ``n`` samples; ``with``:
``b`` i.i.d. uniform indices. Batches are sorted index rows, so a batch sum
does not depend on the order its terms were drawn in.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from eoss.toy_models.random_matrix.batch_spectra import PreparedSample, batch_tops
from eoss.toy_models.random_matrix.factor_sample import FactorSample

Sampling = Literal["without", "with", "online"]
SAMPLINGS = ("without", "with", "online")


def draw_batches(
    n: int,
    b: int,
    k: int,
    sampling: Sampling,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """``k`` index batches of size ``b`` from ``n`` samples, each row sorted.

    Args:
        n: Dataset size.
        b: Batch size.
        k: Number of batches.
        sampling: ``without`` (distinct indices) or ``with`` (i.i.d.).
        rng: Random generator.

    Returns:
        Array of shape (k, b).

    Raises:
        ValueError: If ``b > n`` without replacement, or sampling is ``online``.
    """
    if sampling == "with":
        return np.ascontiguousarray(np.sort(rng.integers(0, n, size=(k, b)), axis=1))
    if sampling != "without":
        raise ValueError(f"draw_batches needs 'with' or 'without', got {sampling!r}")
    if b > n:
        raise ValueError(f"batch size {b} > n={n} without replacement")
    perm = rng.permuted(np.broadcast_to(np.arange(n), (k, n)), axis=1)
    # C order matters: gathers with F-ordered indices give F-ordered blocks,
    # on which batched matmul is 10x slower.
    return np.ascontiguousarray(np.sort(perm[:, :b], axis=1))


@dataclass(frozen=True)
class ExactGap:
    """MiniBS and gap by enumerating every batch (small cases only).

    Attributes:
        batch_size: b.
        minibs: Exact E_B λ_max(H_B) over the uniform batch distribution.
        fullbs: λ_max(H).
        gap: minibs − fullbs.
        n_enumerated: Number of batches enumerated.
    """

    batch_size: int
    minibs: float
    fullbs: float
    gap: float
    n_enumerated: int


def exact_gap(
    sample: FactorSample,
    b: int,
    sampling: Sampling,
    *,
    max_batches: int = 200_000,
) -> ExactGap:
    """Exact MiniBS by enumeration: all b-subsets, or all n^b ordered draws.

    Every ``without`` batch is one of the C(n, b) subsets with equal probability;
    every ``with`` batch is one of the n^b ordered index tuples with equal
    probability. λ_max of each is computed on a direct (eigh) path.

    Args:
        sample: The dataset.
        b: Batch size.
        sampling: ``without`` or ``with``.
        max_batches: Refuse to enumerate more than this.

    Returns:
        The exact MiniBS, FullBS and gap.

    Raises:
        ValueError: If there are too many batches or the sampling is ``online``.
    """
    n = sample.n
    count = math.comb(n, b) if sampling == "without" else n**b
    if sampling not in ("with", "without") or count > max_batches:
        raise ValueError(f"cannot enumerate {count} batches ({sampling})")
    gen = (
        itertools.combinations(range(n), b)
        if sampling == "without"
        else itertools.product(range(n), repeat=b)
    )
    batches = np.sort(np.array(list(gen), dtype=np.int64).reshape(count, b), axis=1)
    data = PreparedSample.build(sample)
    direct = "gram" if data.psd or b * sample.rank <= sample.dim else "dense"
    rng = np.random.default_rng(0)  # unused by direct paths
    minibs = float(batch_tops(data, batches, path=direct, rng=rng).values.mean())
    full = batch_tops(data, np.arange(n)[None, :], path="dense", rng=rng).values[0]
    return ExactGap(b, minibs, float(full), minibs - float(full), count)
