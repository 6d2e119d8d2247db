"""Your own PyTorch training loop, with eoss measuring sharpness every k steps.

Plain SGD on a small MLP; :class:`eoss.SharpnessMonitor` adds three lines and
writes an ``eoss train``-style run directory (``metrics.jsonl``: MiniBS, batch
sharpness, FullBS, the control-variate gap, the training loss), so ::

    python examples/own_loop.py --out runs
    eoss report runs --out reports/own_loop

reads it like any eoss run. ``--small`` runs in a few seconds (the test suite).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

import eoss


def make_data(n: int, d: int, classes: int, seed: int) -> tuple[torch.Tensor, ...]:
    """A seeded Gaussian-mixture classification set (your data goes here)."""
    gen = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(classes, d, generator=gen) / d**0.5
    y = torch.arange(n) % classes
    X = means[y] + 0.5 * torch.randn(n, d, generator=gen)
    return X, y


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, monitor, return the last measurements and the run folder."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="reports/runs", help="root of the run folder")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--small", action="store_true", help="toy size (for the tests)")
    args = p.parse_args(argv)
    if args.small:
        n, width, steps, every = 64, 16, 6, 3
    else:
        n, width, steps, every = 1024, 128, args.steps, args.every

    torch.manual_seed(0)
    X, y = make_data(n, 20, 4, seed=0)
    model = nn.Sequential(nn.Linear(20, width), nn.ReLU(), nn.Linear(width, 4))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    mon = eoss.SharpnessMonitor(  # 1. attach: model, loss, data, output root
        model,
        "ce",
        (X, y),
        args.out,
        every=every,
        batch_size=args.batch_size,
        lr=args.lr,
        n_batches=4 if args.small else 16,
    )
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        mon.step(step)  # 2. measure θ_step when step % every == 0
        idx = torch.randint(0, n, (args.batch_size,), generator=gen)
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        # optional: the step's loss as a `train` row; also measures θ_{step+1}
        # when due (so the final θ_steps too); after_step alone works as well
        mon.after_step(step, loss.item())
    mon.close()  # 3. finish the record (status.json: finished)
    print(f"{mon.path}: {mon.last}  (2/η = {2 / args.lr:.1f})")
    return {"path": mon.path, "last": mon.last}


if __name__ == "__main__":
    main()
