"""``eoss train`` under ``torchrun``: rank 0 leads, the other ranks follow.

Launched as ``torchrun --nproc-per-node=R -m eoss train ...``, every rank joins one
process group (gloo on the CPU, nccl with one GPU per rank) and then:

* **rank 0** runs ``eoss train`` as in one process: it checks the arguments,
  loads the data, makes (or resumes, or forks) the run folder and writes
  everything in it. When training is about to begin it sends the other ranks an
  :class:`Order` (the resolved config, the checkpoint state to continue from,
  the data root) and waits until each has loaded the same data (SHA-256 of the
  arrays).
* **every other rank** writes nothing: it waits for the order, loads the data,
  and trains the same replica with the same seed, batches and updates, with no
  callbacks. When rank 0 stops before training (bad input, a finished run to
  resume), the order carries rank 0's exit code and the rank exits with it,
  silently.

During training the tracker splits FullBS (rows) and MiniBS / batch sharpness
(batches) over the ranks, and every control-flow verdict is rank 0's
(:mod:`eoss.empirical.training.loop`), so all ranks end together with the same
status: exit code 0 (finished or diverged) or 130 (interrupted).

Every exchange is a collective that each rank reaches exactly once, whatever
happens on rank 0 before training: rank 0 sends its order from a ``finally``.
A rank that fails in the middle of a collective (out of memory on one GPU) ends
its process, and ``torchrun`` then stops the others.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eoss.analysis.cli.main import UsageError

__all__ = ["Leader", "Order", "handle_ranks"]


@dataclass(frozen=True)
class Order:
    """What rank 0 sends the other ranks before training.

    Attributes:
        code: Rank 0's exit code when it ends without training, else None.
        config: The resolved config (``to_dict`` form), when training.
        state: The checkpoint state to continue from, or None.
        data_root: Rank 0's data root (str), or None.
        data_sha256: Digest of rank 0's training arrays; each rank checks its own.
    """

    code: int | None
    config: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    data_root: str | None = None
    data_sha256: str | None = None


class Leader:
    """Rank 0's side: start the other ranks once, or dismiss them with a code.

    Args:
        group: The process group.
        size: World size R.
    """

    def __init__(self, group: Any, size: int) -> None:
        self.group, self.size, self.sent = group, size, False

    def check(self, cfg: Any, n_rows: int) -> None:
        """Refuse a config that cannot be split over the ranks (before any folder).

        Args:
            cfg: The :class:`~eoss.empirical.training.config.TrainConfig`.
            n_rows: Training rows.

        Raises:
            UsageError: With fewer rows or MiniBS batches than ranks.
        """
        if n_rows < self.size or cfg.track.n_batches < self.size:
            raise UsageError(
                f"{self.size} ranks need at least {self.size} training rows and "
                f"track.n_batches >= {self.size} (got {n_rows} rows, "
                f"n_batches={cfg.track.n_batches})"
            )

    def start(self, cfg: Any, state: dict | None, data: Any, data_root: Any) -> Any:
        """Send the order to train; wait until every rank holds the same data.

        Args:
            cfg: The resolved config.
            state: Checkpoint state to continue from, or None.
            data: (train, test) as loaded on rank 0.
            data_root: Rank 0's data root, or None.

        Returns:
            The process group, for :func:`eoss.empirical.training.loop.run`.

        Raises:
            ValueError: If a rank could not load the same data.
        """
        from eoss.analysis.cli.overrides import to_dict
        from eoss.analysis.cli.runs import data_digest

        order = Order(
            code=None,
            config=to_dict(cfg),
            state=state,
            data_root=None if data_root is None else str(data_root),
            data_sha256=data_digest(data[0]),
        )
        self._send(order)
        problems = _gather_problems(None, self.group)
        if problems:
            raise ValueError("; ".join(problems))
        return self.group

    def dismiss(self, code: int) -> None:
        """Tell the other ranks to exit with ``code`` (no-op once started).

        Args:
            code: Rank 0's exit code.
        """
        if not self.sent:
            self._send(Order(code=code))

    def _send(self, order: Order) -> None:
        from eoss.empirical.distributed import broadcast_object

        self.sent = True
        broadcast_object(order, self.group)


def handle_ranks(
    args: argparse.Namespace,
    lead: Callable[[argparse.Namespace, str, Leader], int],
    resolve_device: Callable[[str | None], str],
) -> int:
    """``eoss train`` on one rank of a ``torchrun`` job.

    Args:
        args: Parsed arguments (the same on every rank).
        lead: Rank 0's command: ``lead(args, device, leader)`` runs ``eoss train``
            with ``leader`` in its run context and returns the exit code.
        resolve_device: ``--device`` → a checked device string (raises
            ValueError), :func:`eoss.analysis.cli.train.resolve_device`.

    Returns:
        The exit code (the same on every rank).

    Raises:
        UsageError: On rank 0, for a bad ``--device`` (the other ranks exit 2
            without a word: the same arguments fail there the same way).
    """
    import torch.distributed as dist

    from eoss.empirical import distributed

    rank = int(os.environ["RANK"])
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        if rank == 0:
            raise UsageError(str(exc)) from None
        return 2
    group, device = distributed.init_from_env(device)
    try:
        if rank != 0:
            code = _follow(group, device)
            dist.barrier(group)  # as in eoss sharpness: no rank tears down first
            return code
        leader = Leader(group, dist.get_world_size(group))
        code = 1
        try:
            code = lead(args, device, leader)
        except BaseException as exc:
            code = _exit_code(exc)
            raise
        finally:
            leader.dismiss(code)
            dist.barrier(group)  # the followers reach theirs after the dismissal
        return code
    finally:
        dist.destroy_process_group()


def _exit_code(exc: BaseException) -> int:
    """The exit code :func:`eoss.analysis.cli.main.main` gives ``exc``."""
    from eoss.analysis.cli.main import _BAD_INPUT

    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, SystemExit):  # argparse's --help, or an int code
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 2 if isinstance(exc, (*_BAD_INPUT, MemoryError)) else 1


def _follow(group: Any, device: str) -> int:
    """A rank other than 0: wait for the order, then train without writing."""
    from eoss.analysis.cli.progress import StopRequest
    from eoss.empirical.distributed import broadcast_object
    from eoss.empirical.training.loop import run as train_run

    order: Order = broadcast_object(None, group)
    if order.code is not None:
        return order.code
    problem, setup = None, None
    try:
        setup = _setup(order)
    except Exception as exc:  # noqa: BLE001 - reported to rank 0, which says it
        problem = " ".join(str(exc).split()) or type(exc).__name__
    if _gather_problems(problem, group) or setup is None:
        return 2
    cfg, data = setup
    with StopRequest() as stop:
        hist = train_run(
            cfg,
            state=order.state,
            data=data,
            device=device,
            should_stop=stop,
            process_group=group,
        )
    return 130 if hist.status == "interrupted" else 0


def _setup(order: Order) -> tuple[Any, Any]:
    """The config and data of an order, checked against rank 0's digest."""
    from eoss.analysis.cli.data_root import load_for_config
    from eoss.analysis.cli.model_factory import is_factory_spec, register_factory
    from eoss.analysis.cli.overrides import from_dict
    from eoss.analysis.cli.runs import data_digest
    from eoss.empirical.training.config import TrainConfig

    cfg = from_dict(TrainConfig, order.config)
    if is_factory_spec(cfg.model.name):  # a user's pkg.module:factory
        register_factory(cfg.model.name)
    root = None if order.data_root is None else Path(order.data_root)
    data = load_for_config(cfg.data, seed=cfg.seed, root=root)
    if data_digest(data[0]) != order.data_sha256:
        raise ValueError("its training data differ from rank 0's")
    return cfg, data


def _gather_problems(problem: str | None, group: Any) -> list[str]:
    """Every rank's set-up problem (rank 0 passes None), as ``rank r: ...`` lines."""
    from eoss.empirical.distributed import gather_arrays

    parts = gather_arrays({"problem": problem}, group)
    return [f"rank {r}: {p['problem']}" for r, p in enumerate(parts) if p["problem"]]
