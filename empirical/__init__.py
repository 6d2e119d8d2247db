"""Empirical pillar (torch): Hessian operators, eigen-solvers, estimators, training.

Public names are imported lazily (PEP 562), so importing a submodule does not load
the whole pillar.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # loss conventions
    "Loss": "empirical.losses",
    "get_loss": "empirical.losses",
    # linear operators
    "HessianOperator": "empirical.hessian",
    "minibatch_hessian": "empirical.hessian",
    "GaussNewtonOperator": "empirical.gauss_newton",
    # eigen-solvers
    "LanczosResult": "empirical.lanczos",
    "lanczos": "empirical.lanczos",
    "PowerIterationResult": "empirical.power_iteration",
    "power_iteration": "empirical.power_iteration",
    # parameter-space reduction
    "ReducedBatches": "empirical.reduction",
    "reduce_batches": "empirical.reduction",
    "supports_reduction": "empirical.reduction",
    # sharpness estimators
    "FullSharpness": "empirical.sharpness",
    "MiniBatchSharpness": "empirical.sharpness",
    "full_sharpness": "empirical.sharpness",
    "minibatch_sharpness": "empirical.sharpness",
    "batch_lambda_max": "empirical.sharpness",
    "NTKSharpness": "empirical.gauss_newton",
    "ntk_lambda_max": "empirical.gauss_newton",
    # models and data
    "ModelSpec": "empirical.models",
    "MODEL_REGISTRY": "empirical.models",
    "build_model": "empirical.models",
    "ArrayDataset": "empirical.data",
    "load_npz": "empirical.data",
    "synthetic_classification": "empirical.data",
    "load_cifar10": "empirical.cifar10",
    # training
    "TrainConfig": "empirical.config",
    "preset": "empirical.presets",
    "noisy_gradient": "empirical.noise",
    "Schedule": "empirical.schedules",
    "Tracker": "empirical.tracking",
    "TrainHistory": "empirical.train",
    "run": "empirical.train",
    # randomness
    "numpy_rng": "empirical.rng",
    "torch_gen": "empirical.rng",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import public names on first use.

    Args:
        name: Attribute name.

    Returns:
        The attribute.

    Raises:
        AttributeError: If ``name`` is not a public name.
    """
    if name not in _EXPORTS:
        raise AttributeError(f"module 'empirical' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
