"""Sizes checked against the machine's memory before anything is allocated.

A label of 10⁹ makes a model with 10⁹ + 1 outputs, ``--n 10000000000`` a data set
of 10¹⁰ rows: both would exhaust memory (or be killed by the OS) long after the
command started. The commands call these checks first; each estimates the bytes
that will be needed (the model is built on torch's ``meta`` device, which
allocates nothing) and refuses, in one line, anything above the memory available
(``MemAvailable`` of ``/proc/meminfo``; without it, no check).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# Copies of the parameters alive during training or a measurement: the weights,
# their gradient, the momentum buffer, a checkpoint copy (a lower bound; Lanczos
# adds its basis on top).
PARAM_COPIES = 4


def available_memory() -> int | None:
    """Bytes of memory available for new allocations (Linux), else None.

    Returns:
        ``MemAvailable`` in bytes, or None when it cannot be read.
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def check_memory(nbytes: float, what: str) -> None:
    """Refuse an allocation that cannot fit in the available memory.

    Args:
        nbytes: Estimated bytes.
        what: What needs them (for the message), e.g. ``"the data set (n=...)"``.

    Raises:
        ValueError: If ``nbytes`` exceeds the available memory.
    """
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise ValueError(
            f"{what} needs about {_gib(nbytes)} of memory but only {_gib(avail)} "
            "is available"
        )


def model_size(spec: Any, input_shape: tuple[int, ...], n_out: int) -> int:
    """Number of parameters of a registered model, without allocating it.

    Args:
        spec: :class:`eoss.empirical.models.ModelSpec`.
        input_shape: Shape of one input.
        n_out: Number of outputs.

    Returns:
        The parameter count.
    """
    import torch

    from eoss.empirical.models import MODEL_REGISTRY

    with torch.device("meta"):
        model = MODEL_REGISTRY[spec.name](tuple(input_shape), n_out, spec)
    return sum(p.numel() for p in model.parameters())


def check_problem(
    spec: Any, input_shape: tuple[int, ...], n_out: int, n: int, dtype: str
) -> None:
    """Check that a model and its one-hot targets fit in memory.

    Args:
        spec: The model's :class:`~eoss.empirical.models.ModelSpec`.
        input_shape: Shape of one input.
        n_out: Number of outputs (classes).
        n: Training rows (targets and outputs are ``n × n_out``).
        dtype: ``float32`` or ``float64``.

    Raises:
        ValueError: If they do not fit (message names the class count and width).
    """
    item = 8 if dtype == "float64" else 4
    outputs = 2.0 * n * n_out * item  # one-hot targets and the network's outputs
    check_memory(outputs, f"{n} rows × {n_out} outputs (classes)")
    params = model_size(spec, input_shape, n_out)
    check_memory(
        PARAM_COPIES * params * item,
        f"the {spec.name} model ({params:,} parameters, {n_out} outputs)",
    )


def check_rows(n: float, row_values: float, what: str) -> None:
    """Check that ``n`` rows of ``row_values`` float32 values fit in memory.

    Args:
        n: Rows.
        row_values: Values per row.
        what: Description for the message.

    Raises:
        ValueError: If they do not fit.
    """
    if not math.isfinite(n * row_values):
        raise ValueError(f"{what} is too large")
    check_memory(2.0 * 4 * n * row_values, what)  # generated, then copied
