"""Functional views of a model's parameters (private helpers of the spectral core).

The spectral core never touches a caller's module: it takes detached copies of the
parameters and buffers, evaluates the network with
:func:`torch.func.functional_call` on a private copy of the module (whose
train/eval mode it may set freely), and moves between the parameter dictionary and
one flat vector of length P (concatenation of ``p.reshape(-1)`` in
``named_parameters`` order).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from eoss.empirical.operators.normalization import vmap_safe_norms

BNMode = Literal["eval", "train"]

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def infer_device(params: Mapping[str, Tensor]) -> torch.device:
    """The single device holding every parameter.

    Args:
        params: Named parameters.

    Returns:
        Their common device.

    Raises:
        RuntimeError: If the parameters live on several devices (or none exist).
    """
    devices = {t.device for t in params.values()}
    if len(devices) != 1:
        raise RuntimeError(
            f"Could not infer device. Parameters live on {sorted(map(str, devices))}."
        )
    return devices.pop()


def infer_dtype(params: Mapping[str, Tensor]) -> torch.dtype:
    """The single floating dtype of every parameter.

    Args:
        params: Named parameters.

    Returns:
        Their common dtype.

    Raises:
        RuntimeError: On mixed dtypes.
    """
    dtypes = {t.dtype for t in params.values()}
    if len(dtypes) != 1:
        raise RuntimeError(f"parameters have mixed dtypes {sorted(map(str, dtypes))}")
    return dtypes.pop()


def cast_inputs(X: Tensor, like: Tensor) -> Tensor:
    """Inputs on the parameters' device; floating ones also in their dtype.

    Integer inputs (token ids for ``nn.Embedding``) and booleans keep their dtype.

    Args:
        X: Inputs.
        like: A tensor with the parameters' dtype and device.

    Returns:
        ``X`` moved (and cast when floating).
    """
    if X.is_floating_point():
        return X.to(device=like.device, dtype=like.dtype)
    return X.to(like.device)


def detached_params(model: nn.Module) -> dict[str, Tensor]:
    """Detached copies of the trainable parameters, in ``named_parameters`` order.

    Frozen parameters (``requires_grad=False``) are left out: the Hessian is taken
    with respect to the trainable ones only, and the frozen ones enter the private
    module copy as constants.

    Args:
        model: The caller's network (left untouched).

    Returns:
        Mapping name → tensor (a copy; no autograd history).
    """
    return {
        k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad
    }


def detached_buffers(model: nn.Module) -> dict[str, Tensor]:
    """Detached copies of the buffers (e.g. BatchNorm running statistics).

    Args:
        model: The caller's network (left untouched).

    Returns:
        Mapping name → tensor copy.
    """
    return {k: b.detach().clone() for k, b in model.named_buffers()}


def private_module(
    model: nn.Module, bn_mode: BNMode, *, decompose_norms: bool = True
) -> nn.Module:
    """A deep copy of ``model`` in the requested BatchNorm regime, safe under vmap.

    ``"eval"``: every module in eval mode (BatchNorm uses its running statistics,
    dropout is off). ``"train"``: BatchNorm normalises with the statistics of the
    rows it is given and does **not** update running statistics
    (``track_running_stats`` is switched off on the copy); dropout stays off (a
    random loss has no Hessian), everything else in eval mode. Normalisation
    layers whose fused kernels give wrong second derivatives under
    :func:`torch.func.vmap` are then replaced by decomposed equivalents with the
    same parameter names (see :mod:`eoss.empirical.operators.normalization`), so
    the parameter layout is unchanged.

    Args:
        model: The caller's network (not modified).
        bn_mode: ``"eval"`` or ``"train"``.
        decompose_norms: Replace the normalisation layers that are wrong under
            vmap (False keeps the fused kernels: exact without vmap, used as the
            reference of the batched operators' self-check).

    Returns:
        The private copy.

    Raises:
        ValueError: On an unknown ``bn_mode``.
    """
    if bn_mode not in ("eval", "train"):
        raise ValueError(f"bn_mode must be 'eval' or 'train', got {bn_mode!r}")
    module = copy.deepcopy(model)
    module.eval()
    for sub in module.parameters():
        sub.requires_grad_(False)
    if bn_mode == "train":
        for sub in module.modules():
            if isinstance(sub, _BN_TYPES):
                sub.train()
                sub.track_running_stats = False
    return vmap_safe_norms(module) if decompose_norms else module


@contextmanager
def kept_modes(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every module's own ``training`` flag when the block exits.

    Args:
        model: The caller's network.

    Yields:
        ``model``, unchanged.
    """
    modes = [(sub, sub.training) for sub in model.modules()]
    try:
        yield model
    finally:
        for sub, training in modes:
            sub.training = training


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode inside the block; restore every module's flag.

    ``model.train(was_training)`` would overwrite the modes of all submodules
    (e.g. switch a BatchNorm the caller keeps in eval mode back to train); this
    restores each module's own ``training`` flag instead, also on error.

    Args:
        model: The caller's network.

    Yields:
        ``model``, in eval mode.
    """
    with kept_modes(model):
        model.eval()
        yield model


def num_params(params: Mapping[str, Tensor]) -> int:
    """P, the total number of entries.

    Args:
        params: Named tensors.

    Returns:
        Sum of their sizes.
    """
    return int(sum(t.numel() for t in params.values()))


def flatten(tensors: Mapping[str, Tensor], batch_dims: int = 0) -> Tensor:
    """Concatenate a dictionary of tensors into vectors.

    Args:
        tensors: Named tensors, each of shape (*batch, *shape_i).
        batch_dims: Number of leading batch dimensions to keep.

    Returns:
        Tensor of shape (*batch, P).
    """
    parts = [
        t.reshape(*t.shape[:batch_dims], -1) if batch_dims else t.reshape(-1)
        for t in tensors.values()
    ]
    return torch.cat(parts, dim=-1)


def unflatten(
    vec: Tensor, like: Mapping[str, Tensor], batch_dims: int = 0
) -> dict[str, Tensor]:
    """Split vectors back into a dictionary shaped like ``like``.

    Args:
        vec: Tensor of shape (*batch, P).
        like: Named tensors whose trailing shapes (after ``batch_dims`` leading
            dimensions) define the split.
        batch_dims: Leading batch dimensions of ``like`` (ignored for shapes).

    Returns:
        Mapping name → view of ``vec`` of shape (*vec.shape[:-1], *shape_i).
    """
    out: dict[str, Tensor] = {}
    start = 0
    lead = vec.shape[:-1]
    for name, t in like.items():
        shape = t.shape[batch_dims:]
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = vec[..., start : start + size].reshape(*lead, *shape)
        start += size
    return out


def prepare_targets(
    loss_is_mse: bool, y: Tensor, n_out: int, dtype: torch.dtype
) -> Tensor:
    """Targets in a form usable inside ``torch.func.vmap``.

    ``one_hot`` cannot be vmapped, so squared-error losses get float targets
    (one-hot rows for integer labels) computed once, outside any transform.

    Args:
        loss_is_mse: Whether the loss is a squared error.
        y: Integer labels (n,) or float targets.
        n_out: Number of model outputs C.
        dtype: Floating dtype of the targets.

    Returns:
        Float targets (n, C) for squared errors; integer labels unchanged otherwise.
    """
    if not loss_is_mse:
        return y
    if y.is_floating_point():
        return y.reshape(y.shape[0], -1).to(dtype)
    return torch.nn.functional.one_hot(y, n_out).to(dtype)
