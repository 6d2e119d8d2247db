"""Float precision of Hessian measurements: TF32 off, and the flags on record.

On Ampere and later GPUs PyTorch may run float32 matrix products and cuDNN
convolutions in TF32 (a 10-bit mantissa): cuDNN convolutions do so by default
(``torch.backends.cudnn.allow_tf32 = True``), matmuls when
``torch.backends.cuda.matmul.allow_tf32`` or ``set_float32_matmul_precision``
ask for it. A Lanczos residual of 1e-3 is not reachable through products with
~1e-3 relative error, so :func:`exact_float32` switches both off for the
duration of a measurement and restores them after; :func:`precision_flags` is
what ``env.json`` records. On a CPU the flags change nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["exact_float32", "measured_in_float32", "precision_flags"]


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """Run the block with TF32 off for matmuls and cuDNN (restored after).

    Yields:
        Nothing.
    """
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def measured_in_float32(fn: F) -> F:
    """Decorate a measurement so that it runs inside :func:`exact_float32`.

    Args:
        fn: The measurement.

    Returns:
        The wrapped function.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with exact_float32():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def precision_flags() -> dict[str, Any]:
    """The process's float precision and determinism settings.

    Returns:
        JSON-safe dict: ``float32_matmul_precision``, the two TF32 flags, cuDNN
        ``deterministic``/``benchmark``, ``deterministic_algorithms`` and
        ``CUBLAS_WORKSPACE_CONFIG``.
    """
    import os

    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "hessian_measurements_tf32": False,  # exact_float32 around every one
    }
