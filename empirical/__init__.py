"""Empirical pillar (torch): Hessian operators, eigen-solvers, estimators, training.

Public names are imported lazily (PEP 562), so importing a submodule does not load
the whole pillar.
"""

from eoss._lazy import lazy_exports

_EXPORTS = {
    # loss conventions
    "Loss": "eoss.empirical.losses",
    "get_loss": "eoss.empirical.losses",
    # linear operators
    "HessianOperator": "eoss.empirical.operators.hessian",
    "minibatch_hessian": "eoss.empirical.operators.hessian",
    "GaussNewtonOperator": "eoss.empirical.operators.gauss_newton",
    # eigen-solvers
    "LanczosResult": "eoss.empirical.solvers.lanczos",
    "lanczos": "eoss.empirical.solvers.lanczos",
    "PowerIterationResult": "eoss.empirical.solvers.power_iteration",
    "power_iteration": "eoss.empirical.solvers.power_iteration",
    # parameter-space reduction
    "ReducedBatches": "eoss.empirical.operators.span_reduction",
    "reduce_batches": "eoss.empirical.operators.span_reduction",
    "supports_reduction": "eoss.empirical.operators.span_reduction",
    # sharpness estimators
    "FullSharpness": "eoss.empirical.estimators.full_batch",
    "MiniBatchSharpness": "eoss.empirical.estimators.minibatch",
    "full_sharpness": "eoss.empirical.estimators.full_batch",
    "minibatch_sharpness": "eoss.empirical.estimators.minibatch",
    "batch_lambda_max": "eoss.empirical.estimators.minibatch",
    "NTKSharpness": "eoss.empirical.estimators.ntk",
    "ntk_lambda_max": "eoss.empirical.estimators.ntk",
    # models and data
    "ModelSpec": "eoss.empirical.models",
    "MODEL_REGISTRY": "eoss.empirical.models",
    "build_model": "eoss.empirical.models",
    "ArrayDataset": "eoss.empirical.data.arrays",
    "as_dataset": "eoss.empirical.data.adapters",
    "load_npz": "eoss.empirical.data.arrays",
    "synthetic_classification": "eoss.empirical.data.arrays",
    "load_cifar10": "eoss.empirical.data.cifar10",
    # training
    "TrainConfig": "eoss.empirical.training.config",
    "TrackConfig": "eoss.empirical.training.config",
    "preset": "eoss.empirical.training.presets",
    "noisy_gradient": "eoss.empirical.training.noise",
    "Schedule": "eoss.empirical.training.schedules",
    "Tracker": "eoss.empirical.training.tracking",
    "TrainHistory": "eoss.empirical.training.loop",
    "run": "eoss.empirical.training.loop",
    # randomness
    "numpy_rng": "eoss.empirical.rng",
    "torch_gen": "eoss.empirical.rng",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
