"""Seeds to named, independent random streams.

One integer seed is expanded with :class:`numpy.random.SeedSequence` into child
seeds, one per named purpose (``init``, ``data``, ``batches``, ``noise``,
``lanczos``, …). A stream's seed depends only on (seed, name), so adding a new
stream never changes the numbers of an existing one. torch generators always live
on the CPU: sample there, then move with ``.to(device)`` (device-independent
replay).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def stream_seed(seed: int, name: str) -> int:
    """The 63-bit seed of stream ``name`` derived from ``seed``.

    Args:
        seed: The run's seed (a non-negative integer).
        name: The stream's purpose, e.g. ``"init"``.

    Returns:
        A non-negative integer below 2**63.

    Raises:
        ValueError: If ``seed`` is negative.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    state = np.random.SeedSequence([seed, key]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def numpy_rng(seed: int, name: str) -> np.random.Generator:
    """A numpy generator for stream ``name`` of ``seed``.

    Args:
        seed: The run's seed.
        name: The stream's purpose.

    Returns:
        A fresh :class:`numpy.random.Generator`.
    """
    return np.random.default_rng(stream_seed(seed, name))


def torch_gen(seed: int, name: str) -> torch.Generator:
    """A CPU torch generator for stream ``name`` of ``seed``.

    Args:
        seed: The run's seed.
        name: The stream's purpose.

    Returns:
        A seeded CPU :class:`torch.Generator`.
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(stream_seed(seed, name))
    return gen


def stream_table(seed: int, names: tuple[str, ...]) -> dict[str, int]:
    """The seeds of several streams, for recording in ``env.json``.

    Args:
        seed: The run's seed.
        names: Stream names.

    Returns:
        Mapping name → derived seed.
    """
    return {name: stream_seed(seed, name) for name in names}
