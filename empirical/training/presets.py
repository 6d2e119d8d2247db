"""Named starting configs for ``eoss train --preset NAME``.

Each preset is a nested dict of :class:`~eoss.empirical.training.config.TrainConfig`
fields (only
the fields that differ from the defaults); ``--set key=value`` overrides apply on
top (build the config with :func:`eoss.analysis.cli.overrides.apply_overrides`). The
``paper-*`` presets carry the authors' published defaults (squared loss
``mse`` = Σ_c (f_c − onehot_c)², Kaiming init times a small scale, constant η);
``cpu-mlp`` is the reduced run that shows EoSS on two CPU cores in minutes, and
``test`` is a seconds-long run on synthetic data for the test suite.
"""

from __future__ import annotations

import copy
from typing import Any

_PAPER_TRACK = {
    "eval": {"every": 500},
    "fullbs": {"every": 1000},
    "minibs": {"every": 500},
    "step_sharpness": {"every": 100},
    "n_batches": 64,
}

PRESETS: dict[str, dict[str, Any]] = {
    # Paper MLP: 2 hidden layers of 512 ReLU units on 8192 CIFAR-10 images.
    "paper-mlp": {
        "lr": 0.01,
        "batch_size": 16,
        "steps": 100_000,
        "model": {"name": "mlp", "width": 512, "depth": 2, "init_scale": 0.2},
        "data": {"name": "cifar10", "n_train": 8192},
        "track": _PAPER_TRACK,
        "checkpoint": {"every": 5000, "keep_every": 10_000},
    },
    # Paper CNN (3 conv + 2 fully connected, official architecture).
    "paper-cnn": {
        "lr": 0.02,
        "batch_size": 8,
        "steps": 100_000,
        "model": {"name": "cnn", "width": 512, "init_scale": 0.3},
        "data": {"name": "cifar10", "n_train": 8192},
        "track": {**_PAPER_TRACK, "chunk_size": 512},
        "checkpoint": {"every": 5000, "keep_every": 10_000},
    },
    # Paper ResNet: the official 'resnet' (CIFAR ResNet without BatchNorm, fan-out
    # Kaiming init) at ResNet-14 depth, 4096 images.
    "paper-resnet": {
        "lr": 0.02,
        "batch_size": 8,
        "steps": 100_000,
        "model": {
            "name": "resnet14",
            "init_scale": 0.2,
            "batchnorm": False,
            "init_mode": "fan_out",
        },
        "data": {"name": "cifar10", "n_train": 4096},
        "track": {**_PAPER_TRACK, "chunk_size": 256},
        "checkpoint": {"every": 5000, "keep_every": 10_000},
    },
    # Reduced paper MLP for 2 CPU cores: < 10 min, reaches EoSS (docs/training.md).
    "cpu-mlp": {
        "lr": 0.02,
        "batch_size": 64,
        "steps": 10_000,
        "model": {"name": "mlp", "width": 512, "depth": 2, "init_scale": 0.2},
        "data": {"name": "cifar10", "n_train": 8192},
        "track": {
            "eval": {"every": 250},
            "fullbs": {"every": 250},
            "minibs": {"every": 250},
            "n_batches": 32,
        },
        "checkpoint": {"every": 1000},
    },
    # Seconds-long run on synthetic data (tests, smoke checks).
    "test": {
        "lr": 0.05,
        "batch_size": 8,
        "steps": 60,
        "model": {"name": "mlp", "width": 16, "depth": 1, "init_scale": 0.5},
        "data": {"name": "synthetic", "n_train": 64, "n_test": 32, "input_dim": 8},
        "track": {
            "eval": {"every": 20},
            "fullbs": {"every": 30},
            "minibs": {"every": 30},
            "step_sharpness": {"every": 30},
            "n_batches": 4,
            "chunk_size": 32,
        },
        "checkpoint": {"every": 20},
    },
}


def preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name`` as a nested dict of config fields.

    Args:
        name: One of :data:`PRESETS`.

    Returns:
        The fields (mutating the result does not change the preset).

    Raises:
        ValueError: On an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(
            f"unknown preset {name!r}; choose from {', '.join(sorted(PRESETS))}"
        )
    return copy.deepcopy(PRESETS[name])
