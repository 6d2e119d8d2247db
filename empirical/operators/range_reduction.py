"""Span reduction followed by range restriction: the range path's composition."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from eoss.empirical.losses import Loss
from eoss.empirical.operators.relu_mlp import (
    ReluMLPHessian,
    mlp_layout,
)
from eoss.empirical.operators.relu_mlp_range import MAX_RATIO, MLPRangeHessian
from eoss.empirical.operators.span_reduction import ReducedBatches, reduce_batches


@dataclass(frozen=True)
class RangeReduction:
    """Span reduction followed by the range restriction, for the estimators.

    Duck-types :class:`eoss.empirical.operators.span_reduction.ReducedBatches` where
    :func:`eoss.empirical.operators.batched.solve_stacked` uses it (``to_reduced``,
    ``to_full``, ``n_null``).

    Attributes:
        red: The first-layer span reduction, or None (the base operator lives in
            the full parameter space).
        op: The range-restricted operator.
    """

    red: ReducedBatches | None
    op: MLPRangeHessian

    @property
    def n_null(self) -> int:
        """Known zero eigenvalues of H_B outside the coordinates."""
        return (0 if self.red is None else self.red.n_null) + self.op.null_dim

    def to_reduced(self, v: Tensor) -> Tensor:
        """Full parameter vectors (P,) or (K, P) to coordinates (K, dim).

        Args:
            v: Full-space vector(s).

        Returns:
            (K, dim) coordinates.
        """
        if self.red is not None:
            v = self.red.to_reduced(v)
        return self.op.to_range(v.expand(self.op.K, -1) if v.ndim == 1 else v)

    def to_full(self, u: Tensor) -> Tensor:
        """Coordinates (K, dim) to full parameter vectors (K, P).

        Args:
            u: Coordinates.

        Returns:
            (K, P) vectors (isometric on the range of Πᵀ).
        """
        v = self.op.from_range(u)
        return v if self.red is None else self.red.to_full(v)


def range_operator(
    model: nn.Module,
    params: dict[str, Tensor],
    loss: Loss,
    X: Tensor,
    T: Tensor,
    max_ratio: float = MAX_RATIO,
) -> tuple[MLPRangeHessian, RangeReduction]:
    """Span-reduce K batches, then restrict their Hessians to the range.

    Args:
        model: A ReLU MLP (private copy; only its structure is read).
        params: Its (unstacked) parameters at the linearisation point.
        loss: Per-sample loss convention.
        X: (K, b, ...) inputs in the parameters' dtype and device.
        T: Targets from :func:`eoss.empirical.operators.stacked.stacked_targets`.
        max_ratio: As in :class:`MLPRangeHessian`.

    Returns:
        The operator and the maps to and from the full parameter space.

    Raises:
        ValueError: If the model is not a ReLU MLP with these parameters.
    """
    if mlp_layout(model, list(params)) is None:
        raise ValueError(
            "range_operator needs a ReLU MLP (see eoss.empirical.operators.relu_mlp)"
        )
    red = reduce_batches(model, params, X)
    op = MLPRangeHessian(ReluMLPHessian(model, loss, red.params, red.Z, T), max_ratio)
    return op, RangeReduction(red, op)
