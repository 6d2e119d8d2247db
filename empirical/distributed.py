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

* **Training** (``eoss train`` under ``torchrun``): every rank runs the same
  loop on its own replica; before each measurement rank 0's parameters and
  buffers are copied to the others (:func:`broadcast_module`), and every decision
  that changes the control flow is rank 0's, sent to all (:func:`agree`), so the
  ranks take the same collectives in the same order.

Nothing here starts processes: launch with ``torchrun --nproc-per-node=R`` and
call :func:`init_from_env` (``eoss sharpness`` and ``eoss train`` do both). Ranks
are told apart only through the process group, so a single-process call passes
``None``; every helper is then a no-op.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

__all__ = [
    "agree",
    "all_reduce_sum",
    "broadcast_module",
    "broadcast_object",
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


def _src_and_device(group: Any) -> tuple[int, torch.device]:
    """Global rank of the group's rank 0, and where its collectives' tensors live."""
    import torch.distributed as dist

    src = dist.get_global_rank(group, 0)
    if dist.get_backend(group) == "nccl":
        return src, torch.device("cuda", torch.cuda.current_device())
    return src, torch.device("cpu")


def agree(flag: bool, group: Any | None, *, any_rank: bool = False) -> bool:
    """One verdict for every rank: rank 0's ``flag`` (or: whether any rank's is set).

    Every rank of the group must call it at the same point of its control flow;
    it is one collective on a single integer.

    Args:
        flag: This rank's verdict.
        group: Process group, or None (then ``flag`` itself).
        any_rank: OR over the ranks (a stop request seen by any rank) instead of
            rank 0's verdict.

    Returns:
        The common verdict.
    """
    if group is None:
        return bool(flag)
    import torch.distributed as dist

    src, device = _src_and_device(group)
    t = torch.tensor([int(bool(flag))], dtype=torch.int32, device=device)
    if any_rank:
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    else:
        dist.broadcast(t, src=src, group=group)
    return bool(t.item())


@torch.no_grad()
def broadcast_module(model: torch.nn.Module, group: Any | None) -> None:
    """Overwrite every rank's parameters and buffers with rank 0's, in place.

    Replicas trained identically can still drift apart by rounding (kernels whose
    results depend on memory alignment or atomics); after this call every rank
    holds rank 0's θ exactly, so a data-parallel operator is one matrix.

    Args:
        model: This rank's replica (same architecture on every rank).
        group: Process group, or None (no-op).
    """
    if group is None:
        return
    import torch.distributed as dist

    src, _ = _src_and_device(group)
    for t in [*model.parameters(), *model.buffers()]:
        dist.broadcast(t.data, src=src, group=group)


def broadcast_object(obj: Any, group: Any | None) -> Any:
    """Rank 0's ``obj`` (any picklable value) on every rank.

    Args:
        obj: The value on rank 0 (ignored elsewhere).
        group: Process group, or None (then ``obj``).

    Returns:
        Rank 0's value.
    """
    if group is None:
        return obj
    import torch.distributed as dist

    src, device = _src_and_device(group)
    box = [obj]
    dist.broadcast_object_list(box, src=src, group=group, device=device)
    return box[0]


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

    Raises:
        Exception: On every rank, when ``solve`` failed on some rank: that
            rank's exception (the lowest failed rank's), so that no rank is left
            waiting in a collective and all take the same error path.
    """
    rank, size = rank_and_size(group)
    lo, hi = shard_range(len(idx), rank, size)
    if group is None:
        return solve(idx[lo:hi])
    try:
        part = solve(idx[lo:hi])
    except Exception as exc:  # every rank must still reach the gather
        parts = gather_arrays({"error": _picklable(exc)}, group)
        first = _first_failed(parts)
        if first == rank:
            raise
        raise parts[first]["error"] from None
    arrays = {
        f.name: getattr(part, f.name)
        for f in dataclasses.fields(part)
        if isinstance(getattr(part, f.name), np.ndarray)
    }
    meta = ("n_matvecs", "seconds", "method", "self_check_error", "fallback_from")
    parts = gather_arrays({**arrays, **{k: getattr(part, k) for k in meta}}, group)
    first = _first_failed(parts)
    if first is not None:
        raise parts[first]["error"]
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


def _picklable(exc: Exception) -> Exception:
    """``exc`` itself when it survives pickling, else a RuntimeError saying it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _first_failed(parts: list[dict[str, Any]]) -> int | None:
    """The lowest rank whose part is an error (logged), or None."""
    for rank, p in enumerate(parts):
        if "error" in p:
            log.warning("rank %d failed in a split solve: %s", rank, p["error"])
            return rank
    return None
