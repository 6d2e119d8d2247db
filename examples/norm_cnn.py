"""A CNN with GroupNorm or BatchNorm (train mode): sharpness with no workaround.

``--norm group`` measures a GroupNorm CNN; ``--norm batch`` a BatchNorm CNN whose
Hessians are taken in BatchNorm's train regime (``bn_mode="train"``: each batch
normalised with its own statistics, the model's running statistics untouched),
the regime SGD trains in. The data is a ``torch.utils.data.Dataset`` of
``(image, label)`` pairs, as a user's own pipeline yields them; eoss stacks it
once (:func:`eoss.as_dataset`). ``--small`` runs in a few seconds (the tests).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

import eoss


class Images(Dataset):
    """Seeded class-dependent 2×8×8 images, one ``(image, label)`` per item."""

    def __init__(self, n: int, classes: int = 3, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.means = torch.randn(classes, 2, 8, 8, generator=gen)
        self.labels = torch.arange(n) % classes
        self.noise = 0.5 * torch.randn(n, 2, 8, 8, generator=gen)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.means[self.labels[i]] + self.noise[i], self.labels[i]


def make_cnn(norm: str, classes: int = 3, c: int = 4) -> nn.Module:
    """conv–norm–ReLU ×2, global average pooling, linear."""

    def norm_layer() -> nn.Module:
        return nn.GroupNorm(2, c) if norm == "group" else nn.BatchNorm2d(c)

    return nn.Sequential(
        nn.Conv2d(2, c, 3, padding=1),
        norm_layer(),
        nn.ReLU(),
        nn.Conv2d(c, c, 3, padding=1),
        norm_layer(),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c, classes),
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure FullBS and MiniBS of the normalised CNN; return the numbers."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--norm", choices=("group", "batch"), default="batch")
    p.add_argument("--n", type=int, default=256, help="images")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--small", action="store_true", help="toy size (for the tests)")
    args = p.parse_args(argv)
    n = 24 if args.small else args.n
    torch.manual_seed(0)
    model = make_cnn(args.norm).double()
    model.train()  # as during training; eoss leaves the mode as it finds it
    data = eoss.as_dataset(Images(n))
    bn_mode = "train" if args.norm == "batch" else "eval"
    rng = np.random.default_rng(0)
    b = min(args.batch_size, n // 2)
    full = eoss.full_sharpness(model, "ce", data, rng=rng, bn_mode=bn_mode)
    mini = eoss.minibatch_sharpness(
        model,
        "ce",
        data,
        batch_size=b,
        n_batches=4 if args.small else 16,
        rng=rng,
        full_vector=full.eigenvector,
        bn_mode=bn_mode,
    )
    assert model.training, "eoss changed the model's mode"
    out = {
        "norm": args.norm,
        "bn_mode": bn_mode,
        "fullbs": full.fullbs,
        "minibs": mini.minibs,
        "batch_sharpness": mini.batch_sharpness,
        "method": mini.method,
    }
    print(
        ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in out.items()
        )
    )
    return out


if __name__ == "__main__":
    main()
