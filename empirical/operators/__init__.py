"""Hessian and Gauss-Newton operators, batched mini-batch Hessians, exact reductions."""
