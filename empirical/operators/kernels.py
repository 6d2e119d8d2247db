"""Twice-differentiable kernels for the duration of Hessian products.

A Hessian-vector product differentiates the gradient graph once more, so every
op in the forward pass needs a double backward. PyTorch's default attention
kernels do not have one (on CPU, ``scaled_dot_product_attention`` dispatches to
``_scaled_dot_product_flash_attention_for_cpu``, whose backward is not
differentiable, and ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer``
have a fused inference fast path). :func:`second_order_kernels` selects the
``MATH`` attention backend, a composition of matmuls and a softmax that is
differentiable to any order and exact under ``torch.func.vmap``, and switches
the fast path off; both settings are restored on exit, also on error. The
spectral core enters it around every graph build and product, so a caller never
has to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


@contextmanager
def second_order_kernels() -> Iterator[None]:
    """Use attention kernels with a double backward inside the block.

    Usable as a context manager or as a decorator.

    Yields:
        None; the previous kernel choice and fast-path flag are restored on exit.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
