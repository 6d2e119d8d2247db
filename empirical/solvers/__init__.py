"""Eigen-solvers: residual-certified Lanczos, and power iteration as a baseline."""
