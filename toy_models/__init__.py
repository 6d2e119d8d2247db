"""Toy models of the Edge of Stochastic Stability (numpy / scipy / sympy only).

Symbolic derivations (each a :class:`~toy_models.derivation.Derivation` with a
``verify()`` against an independent numeric computation) and the random-matrix
simulation of the MiniBS − FullBS gap of sums of per-sample Hessians.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names, imported on first use (PEP 562): sympy and scipy load only when needed.
_EXPORTS = {
    # derivation results
    "Check": "toy_models.derivation",
    "ClaimVerdict": "toy_models.derivation",
    "Derivation": "toy_models.derivation",
    "Verification": "toy_models.derivation",
    # symbolic derivations
    "diagonal_network": "toy_models.diagonal_net",
    "evaluate": "toy_models.diagonal_net",
    "paper_claims": "toy_models.diagonal_net",
    "eos_threshold": "toy_models.stability",
    "eos_threshold_derivation": "toy_models.stability",
    "lemma41": "toy_models.subadditivity",
    "subadditivity_gap": "toy_models.subadditivity",
    "bernstein_derivation": "toy_models.matrix_bernstein",
    # matrix concentration
    "expected_norm_bound": "toy_models.matrix_bernstein",
    "expected_lambda_max_bound": "toy_models.matrix_bernstein",
    "expected_lambda_max_bound_intrinsic": "toy_models.intrinsic_bernstein",
    "intrinsic_dimension": "toy_models.intrinsic_bernstein",
    "bernstein_parameters": "toy_models.matrix_bernstein",
    "crossover_batch_size": "toy_models.matrix_bernstein",
    "tail_bound": "toy_models.matrix_bernstein",
    "perturbative_gap": "toy_models.gap_perturbation",
    "PerturbativeGap": "toy_models.gap_perturbation",
    # random-matrix gap simulation
    "FAMILY_NAMES": "toy_models.hessian_families",
    "make_family": "toy_models.hessian_families",
    "FactorSample": "toy_models.factor_sample",
    "SAMPLINGS": "toy_models.batch_sampling",
    "draw_batches": "toy_models.batch_sampling",
    "exact_gap": "toy_models.batch_sampling",
    "batch_tops": "toy_models.batch_spectra",
    "top_eigvalsh": "toy_models.top_eigenvalue",
    "GapConfig": "toy_models.gap_simulation",
    "GapEstimate": "toy_models.gap_simulation",
    "GapSimulation": "toy_models.gap_simulation",
    "simulate_gap": "toy_models.gap_simulation",
    # theory overlays
    "GapTheory": "toy_models.gap_theory",
    "gap_theory": "toy_models.gap_theory",
    "windowed_slopes": "toy_models.gap_theory",
    "mp_top_edge": "toy_models.rmt_edges",
    "bbp_top": "toy_models.rmt_edges",
    "orthogonal_fullbs": "toy_models.orthogonal_family",
    "orthogonal_minibs": "toy_models.orthogonal_family",
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
        raise AttributeError(f"module 'toy_models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
