r"""Self-check of a batched mini-batch operator against the exact one.

The batched paths (:mod:`eoss.empirical.operators.batched`) compute K batch
Hessians through ``torch.func.vmap``, span reductions or closed forms; a layer
whose kernel is wrong under one of these transforms would give a wrong operator
without any error (as affine layer norm did, see
:mod:`eoss.empirical.operators.normalization`). Before solving, one product is
therefore compared with the single-batch reference on batch 0: the
:class:`eoss.empirical.operators.hessian.HessianOperator` of the caller's model,
with its own (fused, unvmapped) layers. With a fixed random vector v,

.. math::

    e = \frac{\|\hat H_{B_0} v - H_{B_0} v\|}{\|H_{B_0} v\|},

where :math:`\hat H_{B_0} v` is row 0 of the batched product, mapped back to the
full parameter space (exact for the span reduction, :math:`A^\top \tilde H A =
H_B`, and for the range restriction, which contains the range of :math:`H_B`).

**Tolerance.** :math:`e \le \sqrt{\varepsilon}` of the dtype (1.5e-8 in float64,
3.5e-4 in float32). Exact paths differ only by rounding and by the span
reduction's rank threshold: measured :math:`e` was at most 8e-16 in float64 for
every model of the tests and of ``resnet14``, and at most 1e-6 in float32
(``resnet14`` with train-mode BatchNorm, b = 8); the norm-layer defect gave
:math:`e \approx` 1e-2 to 7e-2 (3.9e-2 on that ``resnet14``). A failed
check sends the estimator to the exact per-batch ``loop`` path and is recorded in
its result (never silent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from eoss.empirical.losses import Loss
from eoss.empirical.operators.hessian import HessianOperator
from eoss.empirical.operators.params import BNMode

log = logging.getLogger(__name__)

# The check vector comes from its own fixed stream, so that checking does not move
# the caller's rng (the same seed gives the same numbers with the check on or off).
SELF_CHECK_SEED = 0x5E1F


def product_rtol(dtype: torch.dtype) -> float:
    """The tolerance √ε of the dtype (module docstring).

    Args:
        dtype: A floating dtype.

    Returns:
        √ε (1.49e-8 for float64, 3.45e-4 for float32).
    """
    return float(np.sqrt(torch.finfo(dtype).eps))


@dataclass(frozen=True)
class ProductCheck:
    """Outcome of one self-check.

    Attributes:
        method: The batched path checked.
        error: Relative error e of its product on batch 0 (module docstring).
        rtol: The tolerance e was held to.
    """

    method: str
    error: float
    rtol: float

    @property
    def passed(self) -> bool:
        """Whether e ≤ rtol (False for a NaN error)."""
        return bool(self.error <= self.rtol)


def relative_error(approx: Tensor, exact: Tensor) -> float:
    """‖approx − exact‖ / ‖exact‖ (0 when both vanish, inf for approx ≠ 0 = exact).

    Args:
        approx: A vector.
        exact: The reference vector.

    Returns:
        The relative error as a float.
    """
    diff = float((approx - exact).norm())
    ref = float(exact.norm())
    if ref == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / ref


def check_product(
    op,
    red,
    *,
    method: str,
    model: nn.Module,
    loss: Loss,
    X0: Tensor,
    y0: Tensor,
    params: dict[str, Tensor],
    bn_mode: BNMode,
) -> ProductCheck:
    """Compare one batched product with the exact operator of batch 0.

    Args:
        op: The batched operator (``matvec`` on (K, dim), ``gradient`` (K, dim)).
        red: Its reduction (``to_reduced`` / ``to_full``), or None.
        method: Its name, for the record.
        model: The caller's network (not modified).
        loss: Per-sample loss.
        X0: Inputs of batch 0 (the rows of ``op``'s first problem).
        y0: Its labels or targets.
        params: The unreduced parameters at the linearisation point.
        bn_mode: BatchNorm regime of ``op``.

    Returns:
        The :class:`ProductCheck` (a warning is logged when it fails).
    """
    exact = HessianOperator(
        model, loss, X0, y0, bn_mode=bn_mode, params=params, decompose_norms=False
    )
    gen = np.random.default_rng(SELF_CHECK_SEED)
    like = op.gradient
    v = torch.from_numpy(gen.standard_normal(exact.dim)).to(like)
    v_op = red.to_reduced(v) if red is not None else v.expand(op.K, -1)
    out = op.matvec(v_op.contiguous())
    approx = red.to_full(out)[0] if red is not None else out[0]
    ref = exact.matvec_torch(v)
    error = relative_error(approx.double(), ref.double())
    check = ProductCheck(method, error, product_rtol(like.dtype))
    if not check.passed:
        log.warning(
            "self-check failed for method %r: batched Hessian-vector product is off "
            "by %.3g relative (tolerance %.3g); falling back to the exact 'loop' "
            "path",
            method,
            error,
            check.rtol,
        )
    return check
