"""Toy models of the Edge of Stochastic Stability (numpy / scipy / sympy only).

Symbolic derivations (each a :class:`~toy_models.derivation.Derivation` with a
``verify()`` against an independent numeric computation) and the random-matrix
simulation of the MiniBS − FullBS gap of sums of per-sample Hessians.
"""

from eoss._lazy import lazy_exports

_EXPORTS = {
    # derivation results
    "Check": "eoss.toy_models.derivations.result",
    "ClaimVerdict": "eoss.toy_models.derivations.result",
    "Derivation": "eoss.toy_models.derivations.result",
    "Verification": "eoss.toy_models.derivations.result",
    # symbolic derivations
    "diagonal_network": "eoss.toy_models.derivations.diagonal_network",
    "evaluate": "eoss.toy_models.derivations.diagonal_network",
    "paper_claims": "eoss.toy_models.derivations.diagonal_network",
    "eos_threshold": "eoss.toy_models.derivations.eos_threshold",
    "eos_threshold_derivation": "eoss.toy_models.derivations.eos_threshold",
    "lemma41": "eoss.toy_models.derivations.subadditivity",
    "subadditivity_gap": "eoss.toy_models.derivations.subadditivity",
    "bernstein_derivation": "eoss.toy_models.derivations.bernstein",
    # matrix concentration
    "expected_norm_bound": "eoss.toy_models.theory.bernstein",
    "expected_lambda_max_bound": "eoss.toy_models.theory.bernstein",
    "expected_lambda_max_bound_intrinsic": "eoss.toy_models.theory.intrinsic_bernstein",
    "intrinsic_dimension": "eoss.toy_models.theory.intrinsic_bernstein",
    "bernstein_parameters": "eoss.toy_models.theory.bernstein",
    "crossover_batch_size": "eoss.toy_models.theory.bernstein",
    "tail_bound": "eoss.toy_models.theory.bernstein",
    "perturbative_gap": "eoss.toy_models.theory.perturbation",
    "PerturbativeGap": "eoss.toy_models.theory.perturbation",
    # random-matrix gap simulation
    "FAMILY_NAMES": "eoss.toy_models.random_matrix.families",
    "make_family": "eoss.toy_models.random_matrix.families",
    "FactorSample": "eoss.toy_models.random_matrix.factor_sample",
    "SAMPLINGS": "eoss.toy_models.random_matrix.sampling",
    "draw_batches": "eoss.toy_models.random_matrix.sampling",
    "exact_gap": "eoss.toy_models.random_matrix.sampling",
    "batch_tops": "eoss.toy_models.random_matrix.batch_spectra",
    "top_eigvalsh": "eoss.toy_models.random_matrix.top_eigenvalue",
    "GapConfig": "eoss.toy_models.random_matrix.gap_config",
    "GapEstimate": "eoss.toy_models.random_matrix.simulation",
    "GapSimulation": "eoss.toy_models.random_matrix.simulation",
    "simulate_gap": "eoss.toy_models.random_matrix.simulation",
    # theory overlays
    "GapTheory": "eoss.toy_models.theory.overlays",
    "gap_theory": "eoss.toy_models.theory.overlays",
    "windowed_slopes": "eoss.toy_models.theory.overlays",
    "mp_top_edge": "eoss.toy_models.theory.rmt_edges",
    "bbp_top": "eoss.toy_models.theory.rmt_edges",
    "orthogonal_fullbs": "eoss.toy_models.random_matrix.orthogonal",
    "orthogonal_minibs": "eoss.toy_models.random_matrix.orthogonal",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
