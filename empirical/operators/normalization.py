r"""Normalisation layers written as elementary ops, exact under ``torch.func.vmap``.

Hessian-vector products of K stacked batches are one backward pass through
``vmap(grad(L_B))`` over stacked parameters
(:class:`eoss.empirical.operators.stacked.StackedBatchHessian`). With torch 2.13
the fused normalisation kernels give wrong second derivatives there whenever the
*affine parameters are batched and the statistics come from the input*: measured
in float64 on small networks, the relative error of the product was 4e-2 for
affine ``nn.LayerNorm``, 2–6e-2 for train-mode affine ``nn.BatchNorm{1,2}d`` and
2e-2 for affine ``nn.InstanceNorm2d``, against 1e-16 for non-affine layer norm,
eval-mode BatchNorm, ``nn.GroupNorm`` and ``nn.RMSNorm``. Written with means,
variances and broadcasting,

.. math::

    \operatorname{norm}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}
    \odot w + c, \qquad
    \mu = \operatorname{mean}_S(x), \quad
    \sigma^2 = \operatorname{mean}_S\big((x - \mu)^2\big) \ \text{(biased)},

the same layers are exact under vmap (1e-16). The statistics run over the set S
of dimensions: the trailing ``normalized_shape`` for layer norm, (0, 2, 3, …)
(batch and spatial) for train-mode batch norm, the spatial dimensions for
instance norm.

:func:`vmap_safe_norms` swaps those layers of a *private* module copy for these
modules. Each replacement holds the original ``weight`` / ``bias`` parameters
(and, for batch norm, the running-statistics buffers) under the same names, so
``named_parameters``, ``named_buffers`` and the flat parameter layout do not
change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_IN = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape) -> Tensor:
    """Scale and shift y ⊙ w + c, w and c shaped like ``shape`` (each optional)."""
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _normalise(x: Tensor, dims: tuple[int, ...], eps: float) -> Tensor:
    """(x − μ)/√(σ² + ε) with biased statistics over ``dims``."""
    mu = x.mean(dim=dims, keepdim=True)
    centred = x - mu
    var = centred.square().mean(dim=dims, keepdim=True)
    return centred * torch.rsqrt(var + eps)


class DecomposedLayerNorm(nn.Module):
    """``nn.LayerNorm`` over the trailing ``normalized_shape`` (module docstring).

    Args:
        src: The layer to replace; its parameters are reused, not copied.
    """

    def __init__(self, src: nn.LayerNorm) -> None:
        super().__init__()
        self.normalized_shape = tuple(src.normalized_shape)
        self.eps = float(src.eps)
        self.weight = src.weight
        self.bias = src.bias

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` over its trailing dimensions.

        Args:
            x: Input (..., *normalized_shape).

        Returns:
            Same shape as ``x``.
        """
        dims = tuple(range(-len(self.normalized_shape), 0))
        return _affine(
            _normalise(x, dims, self.eps), self.weight, self.bias, self.normalized_shape
        )


class DecomposedBatchNorm(nn.Module):
    """Train-mode ``nn.BatchNorm{1,2,3}d``: statistics of the batch, no updates.

    Args:
        src: The layer to replace; its parameters and buffers are reused.
    """

    def __init__(self, src: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps = float(src.eps)
        self.weight = src.weight
        self.bias = src.bias
        for name, buf in src.named_buffers(recurse=False):
            self.register_buffer(name, buf)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise each channel over the batch and spatial dimensions.

        Args:
            x: Input (N, C) or (N, C, *spatial).

        Returns:
            Same shape as ``x``.

        Raises:
            ValueError: With a single value per channel (as ``nn.BatchNorm``).
        """
        dims = (0, *range(2, x.ndim))
        if x.numel() // x.shape[1] <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input "
                f"size {tuple(x.shape)}"
            )
        shape = (1, x.shape[1], *([1] * (x.ndim - 2)))
        return _affine(_normalise(x, dims, self.eps), self.weight, self.bias, shape)


class DecomposedInstanceNorm(nn.Module):
    """``nn.InstanceNorm{1,2,3}d`` with instance statistics (per sample, channel).

    Args:
        src: The layer to replace; its parameters and buffers are reused.
        spatial: Number of spatial dimensions (1, 2 or 3).
    """

    def __init__(self, src: nn.modules.instancenorm._InstanceNorm, spatial: int):
        super().__init__()
        self.eps = float(src.eps)
        self.spatial = spatial
        self.weight = src.weight
        self.bias = src.bias
        for name, buf in src.named_buffers(recurse=False):
            self.register_buffer(name, buf)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise each (sample, channel) over its spatial dimensions.

        Args:
            x: Input (N, C, *spatial) or unbatched (C, *spatial).

        Returns:
            Same shape as ``x``.
        """
        dims = tuple(range(x.ndim - self.spatial, x.ndim))
        shape = (-1, *([1] * self.spatial))
        return _affine(_normalise(x, dims, self.eps), self.weight, self.bias, shape)


def _replacement(sub: nn.Module) -> nn.Module | None:
    """The vmap-safe stand-in for ``sub``, or None when ``sub`` is already exact."""
    if isinstance(sub, nn.LayerNorm):
        affine = sub.weight is not None or sub.bias is not None
        return DecomposedLayerNorm(sub) if affine else None
    if isinstance(sub, _BN):
        batch_stats = sub.training or sub.running_mean is None
        return DecomposedBatchNorm(sub) if batch_stats and sub.affine else None
    for cls, spatial in _IN.items():
        if isinstance(sub, cls):
            instance_stats = sub.training or not sub.track_running_stats
            exact = not sub.affine or not instance_stats
            return None if exact else DecomposedInstanceNorm(sub, spatial)
    return None


def vmap_safe_norms(module: nn.Module) -> nn.Module:
    """Swap the layers that are wrong under vmap for decomposed equivalents.

    Replaced (module docstring): affine ``nn.LayerNorm``; affine
    ``nn.BatchNorm{1,2,3}d`` that normalise with batch statistics (train mode,
    or no running statistics); affine ``nn.InstanceNorm{1,2,3}d`` that use
    instance statistics. Everything else is kept. Call it only after the
    train/eval modes are final; the replacements have no eval behaviour.

    Args:
        module: A private module copy (modified in place).

    Returns:
        ``module``, or its replacement when the root itself is such a layer.
    """
    root = _replacement(module)
    if root is not None:
        return root
    made: dict[int, nn.Module | None] = {}  # a layer used twice gets one stand-in
    targets = list(module.named_modules(remove_duplicate=False))
    for name, sub in targets:
        if not name:
            continue
        if id(sub) not in made:
            made[id(sub)] = _replacement(sub)
        new = made[id(sub)]
        if new is None:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, new)
    return module
