"""Hessian and Gauss-Newton linear operators, batched mini-batch Hessians and exact reductions."""
