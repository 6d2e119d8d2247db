r"""Data-parallel measurements with :mod:`torch.distributed` (``torchrun``).

Two patterns, both giving the one-process numbers:

* **FullBS** — every rank holds a contiguous shard of the N rows and builds the
  :class:`~eoss.empirical.operators.hessian.HessianOperator` of its shard with
  the global weight 1/N (``n_total=N``, ``process_group=...``). One
  ``all_reduce(SUM)`` per product then gives
  :math:`\sum_r \frac1N \sum_{n \in \text{shard}_r} \nabla^2 \ell_n\, v = H v`
  on every rank, bit-identical across ranks, so each rank's Lanczos takes the
  same steps and stops together (the collectives stay matched).
* **MiniBS** — the K batches are drawn once (the same rows on every rank, as in
  one process), split into contiguous blocks of batches, solved on their rank,
  and gathered back in batch order (:func:`gather_arrays`).

Nothing here starts processes: launch with ``torchrun --nproc-per-node=R`` and
call :func:`init_from_env` (``eoss sharpness`` does both). Ranks are told apart
only through the process group, so a single-process call passes ``None``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

__all__ = [
    "all_reduce_sum",
    "concat",
    "gather_arrays",
    "init_from_env",
    "launched_by_torchrun",
    "rank_and_size",
    "shard_range",
    "split_batches",
]


def launched_by_torchrun() -> bool:
    """Whether this process is one of several ranks started by ``torchrun``.

    Returns:
        True when ``WORLD_SIZE`` > 1 (with ``RANK`` set) in the environment.
    """
    size = os.environ.get("WORLD_SIZE", "1")
    return "RANK" in os.environ and size.isdigit() and int(size) > 1


def init_from_env(device: str = "cpu") -> tuple[Any, str]:
    """Join the ``torchrun`` process group (``env://``) and pick this rank's device.

    Args:
        device: ``cpu`` (gloo) or ``cuda`` (nccl, one GPU per local rank).

    Returns:
        (the default process group, this rank's device string).
    """
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    log.info("rank %d of %d on %s", dist.get_rank(), dist.get_world_size(), device)
    return dist.group.WORLD, device


def rank_and_size(group: Any | None) -> tuple[int, int]:
    """This process's rank and the group's size ((0, 1) without a group).

    Args:
        group: A :mod:`torch.distributed` process group, or None.

    Returns:
        (rank, world size).
    """
    if group is None:
        return 0, 1
    import torch.distributed as dist

    return dist.get_rank(group), dist.get_world_size(group)


def shard_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """Contiguous share [start, stop) of ``n`` items for ``rank`` of ``size``.

    The first ``n % size`` ranks get one item more; shares cover 0..n exactly.

    Args:
        n: Number of items (rows or batches).
        rank: This rank.
        size: World size.

    Returns:
        (start, stop).

    Raises:
        ValueError: If some rank would get nothing (n < size) or rank is out of
            range.
    """
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} outside a world of {size}")
    if n < size:
        raise ValueError(f"cannot split {n} items over {size} ranks")
    q, r = divmod(n, size)
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


def all_reduce_sum(t: Tensor, group: Any | None) -> Tensor:
    """Sum ``t`` over the group in place (no-op without a group).

    Args:
        t: The tensor (every rank passes the same shape and dtype).
        group: Process group, or None.

    Returns:
        ``t``, now holding the sum.
    """
    if group is not None:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t


def gather_arrays(part: dict[str, Any], group: Any | None) -> list[dict[str, Any]]:
    """Every rank's ``part`` (a dict of arrays and scalars), in rank order.

    Uses ``all_gather_object`` (pickled, so any device and backend); the parts
    are per-batch results, a few floats per batch.

    Args:
        part: This rank's values.
        group: Process group, or None.

    Returns:
        The list of parts, ``[part]`` without a group.
    """
    if group is None:
        return [part]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(out, part, group=group)
    return out


def concat(parts: list[dict[str, Any]], key: str) -> np.ndarray | None:
    """Concatenate one key of the gathered parts (None if any part has None).

    Args:
        parts: :func:`gather_arrays` output.
        key: The array's key.

    Returns:
        The concatenated array, or None.
    """
    arrays = [p[key] for p in parts]
    return None if any(a is None for a in arrays) else np.concatenate(arrays)


def split_batches(
    solve: Callable[[np.ndarray], Any], idx: np.ndarray, group: Any | None
) -> Any:
    """Solve this rank's block of the (K, b) batches and gather every block.

    Args:
        solve: Maps (k, b) batch rows to a
            :class:`~eoss.empirical.estimators.minibatch.MiniBatchSharpness`.
        idx: All K batches (the same on every rank).
        group: Process group, or None (then ``solve(idx)``).

    Returns:
        The result over all K batches, in batch order, as if one process had
        solved them: per-batch arrays concatenated, ``n_matvecs`` and
        ``seconds`` the largest over ranks, the worst self-check error.
    """
    rank, size = rank_and_size(group)
    lo, hi = shard_range(len(idx), rank, size)
    part = solve(idx[lo:hi])
    if group is None:
        return part
    arrays = {
        f.name: getattr(part, f.name)
        for f in dataclasses.fields(part)
        if isinstance(getattr(part, f.name), np.ndarray)
    }
    meta = ("n_matvecs", "seconds", "method", "self_check_error", "fallback_from")
    parts = gather_arrays({**arrays, **{k: getattr(part, k) for k in meta}}, group)
    methods = sorted({p["method"] for p in parts})
    fallback = [p["fallback_from"] for p in parts if p["fallback_from"]]
    return dataclasses.replace(
        part,
        **{k: concat(parts, k) for k in arrays if k != "batch_indices"},
        batch_indices=np.asarray(idx),
        n_matvecs=max(p["n_matvecs"] for p in parts),
        seconds=max(p["seconds"] for p in parts),
        method=",".join(methods),
        self_check_error=float(np.nanmax([p["self_check_error"] for p in parts]))
        if any(np.isfinite(p["self_check_error"]) for p in parts)
        else float("nan"),
        fallback_from=fallback[0] if fallback else None,
    )
