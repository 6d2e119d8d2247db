r"""Loss conventions, stated and recorded.

Every empirical quantity in eoss is a derivative of the empirical risk

.. math::

    L(\theta) = \frac{1}{N} \sum_{n=1}^{N} \ell(f_\theta(x_n), y_n),

averaged over **data points** (never over batches). Only the per-sample loss
:math:`\ell` changes between conventions; with :math:`t_n` the one-hot target of
integer label :math:`y_n` (or the float target itself) and :math:`C` outputs:

============  =====================================================  ==================
name          :math:`\ell(f, y)`                                     note
============  =====================================================  ==================
``mse``       :math:`\sum_c (f_c - t_c)^2`                           official EoS code
``mse_half``  :math:`\tfrac12 \sum_c (f_c - t_c)^2`                  textbook scaling
``mse_mean``  :math:`\tfrac1C \sum_c (f_c - t_c)^2`                  torch MSELoss
``ce``        :math:`-\log \operatorname{softmax}(f)_{y}`            cross-entropy
============  =====================================================  ==================

Sharpness scales linearly with the convention (``mse`` = 2 × ``mse_half`` = C ×
``mse_mean``), so every record carries :attr:`Loss.name` and :attr:`Loss.formula`.

``ce`` also takes sequence outputs (N, T, C) with labels (N, T); then
:math:`\ell_n` is the mean of the T per-token cross-entropies.

**Callables.** Any ``loss(outputs, targets) -> per-sample losses`` works too
(:meth:`Loss.from_callable`, or :func:`get_loss` with a callable): it must
return shape (N,), or (N, ...) which is averaged over the trailing dimensions
(e.g. per-token losses (N, T) for (N, T, V) outputs), so that still
:math:`L = \frac1N \sum_n \ell_n`. A torch loss object therefore needs
``reduction="none"``. Its name is recorded as ``"callable:<qualname>"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

LossName = Literal["mse", "mse_half", "mse_mean", "ce"]
LOSS_NAMES: tuple[str, ...] = ("mse", "mse_half", "mse_mean", "ce")

_FORMULAS = {
    "mse": "l(f,y) = sum_c (f_c - onehot(y)_c)^2; L = (1/N) sum_n l",
    "mse_half": "l(f,y) = 1/2 sum_c (f_c - onehot(y)_c)^2; L = (1/N) sum_n l",
    "mse_mean": "l(f,y) = (1/C) sum_c (f_c - onehot(y)_c)^2; L = (1/N) sum_n l",
    "ce": "l(f,y) = -log softmax(f)_y; L = (1/N) sum_n l",
}
_MSE_FACTOR = {"mse": 1.0, "mse_half": 0.5}
CALLABLE_PREFIX = "callable:"
PerSampleFn = Callable[[Tensor, Tensor], Tensor]


def callable_name(fn: PerSampleFn) -> str:
    """The recorded name ``"callable:<qualname>"`` of a loss callable.

    Args:
        fn: A function, or an object with ``__call__`` (e.g. a torch loss module).

    Returns:
        The name; objects without ``__qualname__`` use their class's.
    """
    qual = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{CALLABLE_PREFIX}{qual}"


@dataclass(frozen=True)
class Loss:
    """A per-sample loss convention.

    Attributes:
        name: One of :data:`LOSS_NAMES`, or ``"callable:<qualname>"`` with ``fn``.
        fn: The user's per-sample loss callable (module docstring), or None.
    """

    name: str
    fn: PerSampleFn | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.fn is not None:
            if not callable(self.fn):
                raise TypeError(f"loss fn must be callable, got {type(self.fn)}")
            if not self.name.startswith(CALLABLE_PREFIX):
                raise ValueError(
                    f"a callable loss is named {CALLABLE_PREFIX!r}..., got "
                    f"{self.name!r} (use Loss.from_callable)"
                )
        elif self.name not in LOSS_NAMES:
            raise ValueError(
                f"unknown loss {self.name!r}; choose from {', '.join(LOSS_NAMES)}"
            )

    @classmethod
    def from_callable(cls, fn: PerSampleFn) -> Loss:
        """Wrap ``loss(outputs, targets) -> per-sample losses``.

        Args:
            fn: The callable (module docstring for the shape convention).

        Returns:
            A :class:`Loss` named ``"callable:<qualname>"``.
        """
        return cls(callable_name(fn), fn)

    @property
    def formula(self) -> str:
        """Plain-text definition of the per-sample loss and of the average."""
        if self.fn is not None:
            qual = self.name[len(CALLABLE_PREFIX) :]
            return (
                f"l(f,y)_n = mean over trailing dims of {qual}(f, y)[n, ...]; "
                "L = (1/N) sum_n l"
            )
        return _FORMULAS[self.name]

    @property
    def is_builtin(self) -> bool:
        """Whether this is one of :data:`LOSS_NAMES` (closed forms apply)."""
        return self.fn is None

    @property
    def is_mse(self) -> bool:
        """Whether the loss is a built-in squared error (any scaling)."""
        return self.fn is None and self.name != "ce"

    def per_sample(self, outputs: Tensor, y: Tensor) -> Tensor:
        r"""Per-sample losses :math:`\ell(f(x_n), y_n)`.

        Args:
            outputs: Model outputs of shape (N, C) (``ce`` and callables: also
                (N, ..., C)).
            y: Integer labels of shape (N,) (one-hot encoded for squared errors), or
                float targets of shape (N, C) or (N,) when C = 1; for ``ce`` on
                (N, ..., C) outputs, labels (N, ...); anything for a callable.

        Returns:
            Tensor of shape (N,).

        Raises:
            ValueError: If cross-entropy gets float targets, shapes disagree, or a
                callable does not return one loss (or one row of losses) per
                sample.
        """
        if self.fn is not None:
            return _per_sample_mean(self.fn(outputs, y), outputs.shape[0])
        if self.name == "ce" and outputs.ndim > 2:
            if y.is_floating_point():
                raise ValueError("cross-entropy needs integer class labels")
            per = torch.nn.functional.cross_entropy(
                outputs.movedim(-1, 1), y, reduction="none"
            )
            return _per_sample_mean(per, outputs.shape[0])
        if outputs.ndim != 2:
            raise ValueError(
                f"outputs must have shape (N, C), got {tuple(outputs.shape)}"
            )
        if self.name == "ce":
            if y.is_floating_point():
                raise ValueError("cross-entropy needs integer class labels")
            return torch.nn.functional.cross_entropy(outputs, y, reduction="none")
        target = self.targets(outputs, y)
        sq = (outputs - target).square().sum(dim=1)
        if self.name == "mse_mean":
            return sq / outputs.shape[1]
        return _MSE_FACTOR[self.name] * sq

    @staticmethod
    def targets(outputs: Tensor, y: Tensor) -> Tensor:
        """Regression targets matching ``outputs``: one-hot labels or float targets.

        Args:
            outputs: Model outputs of shape (N, C).
            y: Integer labels (N,) or float targets (N, C) / (N,).

        Returns:
            Tensor of shape (N, C) with the dtype of ``outputs``.

        Raises:
            ValueError: If the target shape does not match the outputs.
        """
        if y.is_floating_point():
            target = y.reshape(outputs.shape[0], -1).to(outputs.dtype)
            if target.shape != outputs.shape:
                raise ValueError(
                    f"targets of shape {tuple(y.shape)} do not match outputs "
                    f"{tuple(outputs.shape)}"
                )
            return target
        return torch.nn.functional.one_hot(y, outputs.shape[1]).to(outputs.dtype)

    def mean(self, outputs: Tensor, y: Tensor, n_total: int | None = None) -> Tensor:
        r"""Loss summed over this chunk and divided by the data-set size.

        ``mean(f(X_chunk), y_chunk, N)`` summed over chunks equals :math:`L(\theta)`
        exactly, for ragged chunks too (weights by data points, not by chunks).

        Args:
            outputs: Model outputs (n, C) for a chunk of n samples.
            y: Labels or targets for the chunk.
            n_total: N, the number of data points of the whole risk; defaults to n.

        Returns:
            Scalar tensor :math:`\frac{1}{N}\sum_{n \in \text{chunk}} \ell_n`.
        """
        total = outputs.shape[0] if n_total is None else n_total
        return self.per_sample(outputs, y).sum() / total


def _per_sample_mean(per: Tensor, n: int) -> Tensor:
    """(n,) losses from (n,) or (n, ...) values (trailing dimensions averaged)."""
    if per.ndim == 0 or per.shape[0] != n:
        raise ValueError(
            f"a per-sample loss must have shape ({n},) or ({n}, ...), got "
            f"{tuple(per.shape)} (torch loss objects need reduction='none')"
        )
    return per.reshape(n, -1).mean(dim=1) if per.ndim > 1 else per


def get_loss(name: str | PerSampleFn | Loss) -> Loss:
    """Return the :class:`Loss` of the given name, callable or loss.

    Args:
        name: One of :data:`LOSS_NAMES`; a callable ``loss(outputs, targets)``
            returning per-sample losses (module docstring); or a :class:`Loss`
            (returned as is).

    Returns:
        The loss convention.
    """
    if isinstance(name, Loss):
        return name
    if isinstance(name, str):
        return Loss(name)
    return Loss.from_callable(name)
