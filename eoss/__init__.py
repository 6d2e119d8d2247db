"""eoss: a toolkit for the Edge of Stochastic Stability (Andreyev & Beneventano).

The three pillars install as subpackages of this one namespace:

* :mod:`eoss.toy_models` -- sympy derivations of the paper's toy models and the
  random-matrix simulation of the MiniBS - FullBS gap (numpy / scipy / sympy).
* :mod:`eoss.empirical` -- torch: Hessian operators, Lanczos, sharpness
  estimators, models, data, SGD with sharpness tracking.
* :mod:`eoss.analysis` -- records (all file I/O), statistics, studies, claims,
  reports and the ``eoss`` command line.

The most used names are re-exported here and imported on first use (PEP 562), so
``import eoss`` is cheap. They work on any PyTorch model and on data given as an
``ArrayDataset``, a pair ``(X, y)`` or a map-style ``torch.utils.data.Dataset``
(:func:`as_dataset`)::

    import numpy as np
    import eoss
    rng = np.random.default_rng(0)
    loss = eoss.get_loss("ce")        # or a callable loss(outputs, y) -> (b,)
    fb = eoss.full_sharpness(model, loss, (X, y), rng=rng)              # FullBS
    mb = eoss.minibatch_sharpness(model, loss, (X, y), batch_size=16,
                                  n_batches=32, rng=rng,
                                  full_vector=fb.eigenvector)
    mb.minibs, mb.batch_sharpness, mb.gap_cv       # MiniBS, batch sharpness, gap

and, inside a user's own training loop, :class:`SharpnessMonitor` records them
every k steps into a run directory that ``eoss report`` reads.
"""

from __future__ import annotations

from eoss._lazy import lazy_exports

__version__ = "0.2.0"

_EXPORTS = {
    # sharpness estimators: FullBS, MiniBS / batch sharpness / gap, λ_max(H_B), NTK
    "full_sharpness": "eoss.empirical.estimators.full_batch",
    "FullSharpness": "eoss.empirical.estimators.full_batch",
    "minibatch_sharpness": "eoss.empirical.estimators.minibatch",
    "MiniBatchSharpness": "eoss.empirical.estimators.minibatch",
    "batch_lambda_max": "eoss.empirical.estimators.minibatch",
    "ntk_lambda_max": "eoss.empirical.estimators.ntk",
    "NTKSharpness": "eoss.empirical.estimators.ntk",
    # a user's model, data and loop
    "as_dataset": "eoss.empirical.data.adapters",
    "SharpnessMonitor": "eoss.analysis.records.monitor",
    # loss conventions and operators
    "Loss": "eoss.empirical.losses",
    "get_loss": "eoss.empirical.losses",
    "HessianOperator": "eoss.empirical.operators.hessian",
    "GaussNewtonOperator": "eoss.empirical.operators.gauss_newton",
    # eigen-solver
    "lanczos": "eoss.empirical.solvers.lanczos",
    "LanczosResult": "eoss.empirical.solvers.lanczos",
    # models, data, training
    "build_model": "eoss.empirical.models",
    "ArrayDataset": "eoss.empirical.data.arrays",
    "TrainConfig": "eoss.empirical.training.config",
    "TrackConfig": "eoss.empirical.training.config",
    "Tracker": "eoss.empirical.training.tracking",
    # random-matrix gap simulation
    "GapConfig": "eoss.toy_models.random_matrix.gap_config",
    "simulate_gap": "eoss.toy_models.random_matrix.simulation",
    # statistics
    "fit_power_law": "eoss.analysis.stats.powerlaw",
    "fit_segmented": "eoss.analysis.stats.segmented",
    # records
    "RunDir": "eoss.analysis.records.run_dir",
    "load_run": "eoss.analysis.records.reader",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["__version__", *__all__]
