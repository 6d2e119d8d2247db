"""Mini-batch sampling.

Uniform without replacement inside a batch, independent across batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

if TYPE_CHECKING:
    pass


class BatchSampler:
    """Mini-batch index sets of size b from N data points.

    * ``epoch``: a fresh random permutation per epoch, consumed in consecutive
      disjoint slices of b; when fewer than b indices remain, they are dropped
      and a new epoch starts (every batch has exactly b distinct points).
    * ``iid``: every batch an independent uniform b-subset (without replacement
      inside the batch).

    In both modes each batch is marginally a uniform random b-subset. The
    position (permutation, cursor, generator state) is saved and restored
    exactly by :meth:`state_dict` / :meth:`load_state_dict`.

    Args:
        n: Number of data points N.
        mode: ``epoch`` or ``iid``.
        rng: The generator (owned by the sampler from now on).

    Raises:
        ValueError: On n < 1 or an unknown mode.
    """

    def __init__(
        self, n: int, *, mode: Literal["epoch", "iid"], rng: np.random.Generator
    ) -> None:
        if n < 1:
            raise ValueError(f"need n >= 1, got {n}")
        if mode not in ("epoch", "iid"):
            raise ValueError(f"unknown sampling mode {mode!r}")
        self.n, self.mode, self.rng = n, mode, rng
        self._perm = np.zeros(0, dtype=np.int64)
        self._cursor = 0
        self.epoch = 0

    def next(self, b: int) -> np.ndarray:
        """The next batch.

        Args:
            b: Batch size, 1 ≤ b ≤ N.

        Returns:
            int64 array of shape (b,) of distinct indices.

        Raises:
            ValueError: If b is out of range.
        """
        if not 1 <= b <= self.n:
            raise ValueError(f"batch size {b} must be in [1, {self.n}]")
        if self.mode == "iid":
            return self.rng.choice(self.n, size=b, replace=False).astype(np.int64)
        if self._cursor + b > len(self._perm):
            self._perm = self.rng.permutation(self.n).astype(np.int64)
            self._cursor = 0
            self.epoch += 1
        out = self._perm[self._cursor : self._cursor + b]
        self._cursor += b
        return out.copy()

    def state_dict(self) -> dict[str, Any]:
        """The exact position, as tensors and plain values (checkpoint-safe).

        Returns:
            Dict with ``perm`` (int64 tensor), ``cursor``, ``epoch``, ``rng``.
        """
        return {
            "perm": torch.from_numpy(self._perm.copy()),
            "cursor": self._cursor,
            "epoch": self.epoch,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`.

        Args:
            state: The saved dict.
        """
        self._perm = np.asarray(state["perm"].numpy(), dtype=np.int64).copy()
        self._cursor = int(state["cursor"])
        self.epoch = int(state["epoch"])
        self.rng.bit_generator.state = state["rng"]
