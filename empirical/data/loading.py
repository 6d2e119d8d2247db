"""Train and test sets of a data config: CIFAR-10, synthetic, or an .npz file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eoss.empirical.data.arrays import ArrayDataset, load_npz, synthetic_classification

if TYPE_CHECKING:
    from eoss.empirical.training.config import DataConfig


def load_train_test(
    cfg: DataConfig, *, seed: int, root: str | Path | None = None
) -> tuple[ArrayDataset, ArrayDataset | None]:
    """The training subset and test set described by ``cfg``.

    Args:
        cfg: The data config.
        seed: The run's seed (used when ``cfg.seed`` is None) for the subset.
        root: CIFAR-10 data root (needed for ``cifar10``).

    Returns:
        (train, test); test is None for npz data or ``n_test == 0``.

    Raises:
        FileNotFoundError: If the CIFAR-10 files or the npz are missing.
        ValueError: On malformed data.
    """
    from eoss.empirical.rng import torch_gen

    data_seed = seed if cfg.seed is None else cfg.seed
    if cfg.name == "npz":
        return load_npz(cfg.path or ""), None
    if cfg.name == "synthetic":
        n_test = 0 if cfg.n_test == 0 else (cfg.n_test or cfg.n_train)
        full = synthetic_classification(
            cfg.n_train + n_test,
            (cfg.input_dim,),
            cfg.num_classes,
            gen=torch_gen(data_seed, "data"),
        )
        train = full.subset(np.arange(cfg.n_train))
        test = full.subset(np.arange(cfg.n_train, len(full))) if n_test else None
        return train, test
    if root is None:
        raise FileNotFoundError(
            "CIFAR-10 needs a data root: pass --data-root DIR or set EOSS_DATA_ROOT"
        )
    from eoss.empirical.data.cifar10 import load_cifar10

    return load_cifar10(
        root,
        n_train=cfg.n_train,
        n_test=cfg.n_test,
        seed=data_seed,
        normalize=cfg.normalize,
    )
