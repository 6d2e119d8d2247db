r"""Power iteration: a baseline for benchmarks, not a sharpness estimator.

:math:`v_{t+1} = A v_t / \|A v_t\|` converges to the eigenvector of the
largest-*magnitude* eigenvalue, at the rate :math:`|\lambda_2/\lambda_1|` per
step; it therefore returns :math:`-|\lambda_{\min}|` instead of
:math:`\lambda_{\max}` when the most negative eigenvalue dominates, and is slow
when the top of the spectrum is clustered. PyHessian's stopping rule (kept here
so the benchmark can reproduce it) is

.. math::

    |\mu_t - \mu_{t-1}| / (|\mu_{t-1}| + 10^{-6}) < \text{tol}, \qquad
    \mu_t = v_t^\top A v_t,

which stops on slow progress rather than on accuracy. ``rule="none"`` runs all
``max_iter`` steps and keeps the whole history, to find where the true error
first drops below a target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from torch import Tensor


@dataclass(frozen=True)
class PowerIterationResult:
    """Outcome of :func:`power_iteration`.

    Attributes:
        eigenvalue: The last Rayleigh quotient μ_t.
        eigenvector: (n,) the last unit iterate v_t.
        n_matvecs: Products spent (= len(history)).
        stopped_by_rule: Whether the stopping rule fired before ``max_iter``.
        history: (n_matvecs,) Rayleigh quotient after each product.
        residual: ‖A v − μ v‖ of the last iterate (from its own product).
    """

    eigenvalue: float
    eigenvector: Tensor
    n_matvecs: int
    stopped_by_rule: bool
    history: NDArray[np.float64]
    residual: float


def power_iteration(
    matvec: Callable[[Tensor], Tensor],
    v0: Tensor,
    *,
    tol: float = 1e-3,
    max_iter: int = 100,
    rule: Literal["pyhessian", "none"] = "pyhessian",
) -> PowerIterationResult:
    """Power iteration with PyHessian's stopping rule (or none).

    Args:
        matvec: (n,) → (n,) symmetric operator.
        v0: Start vector (n,).
        tol: Tolerance of PyHessian's relative-change rule.
        max_iter: Maximum number of products (PyHessian's default is 100).
        rule: ``"pyhessian"`` or ``"none"`` (always ``max_iter`` products).

    Returns:
        The :class:`PowerIterationResult`.

    Raises:
        ValueError: On a bad ``rule``, ``max_iter`` or a zero ``v0``.
    """
    if rule not in ("pyhessian", "none"):
        raise ValueError(f"rule must be 'pyhessian' or 'none', got {rule!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    norm = v0.norm()
    if norm == 0:
        raise ValueError("v0 is zero")
    v = v0 / norm
    history: list[float] = []
    stopped = False
    residual = float("nan")
    for _ in range(max_iter):
        Av = matvec(v)
        mu = float((Av * v).sum())
        residual = float((Av - mu * v).norm())
        prev = history[-1] if history else None
        history.append(mu)
        v = Av / Av.norm()
        if (
            rule == "pyhessian"
            and prev is not None
            and abs(prev - mu) / (abs(prev) + 1e-6) < tol
        ):
            stopped = True
            break
    # The returned vector is A v_{t-1} normalised (PyHessian returns it too); the
    # residual refers to v_{t-1}, the vector whose Rayleigh quotient is reported.
    return PowerIterationResult(
        eigenvalue=history[-1],
        eigenvector=v,
        n_matvecs=len(history),
        stopped_by_rule=stopped,
        history=np.asarray(history, dtype=np.float64),
        residual=residual,
    )
