"""Symbolic derivations of the paper's toy-model formulas, each checked numerically."""
