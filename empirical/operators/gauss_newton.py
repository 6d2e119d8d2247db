r"""Gauss–Newton matrix and the mini-batch NTK Gram route to its top eigenvalue.

With per-sample output Jacobians :math:`J_n = \partial f_\theta(x_n)/\partial\theta`
(C × P) and output-space loss curvatures :math:`\Lambda_n = \nabla^2_f
\ell(f, y_n)` (C × C, positive semi-definite for every loss in
:mod:`eoss.empirical.losses`: :math:`2I` for ``mse``, :math:`I` for ``mse_half``,
:math:`\tfrac2C I` for ``mse_mean``, :math:`\operatorname{diag}(p) - pp^\top` for
``ce``),

.. math::

    G = \frac1N \sum_n J_n^\top \Lambda_n J_n
      = \frac1N J^\top \Lambda J \quad (P \times P),
    \qquad
    H = G + \frac1N \sum_n \sum_c \partial_{f_c}\ell_n \, \nabla^2_\theta f_{n,c}.

For a batch of size b, :math:`G_B = \frac1b J_B^\top \Lambda_B J_B` and the
*averaged mini-batch NTK Gram matrix*

.. math::

    \Theta_B = \frac1b \Lambda_B^{1/2} J_B J_B^\top \Lambda_B^{1/2}
    \quad (bC \times bC)

have the same nonzero eigenvalues (:math:`MM^\top` and :math:`M^\top M` with
:math:`M = b^{-1/2}\Lambda_B^{1/2} J_B`). The Gram route runs Lanczos in the
bC-dimensional output space with matrix-free products
:math:`u \mapsto \frac1b \Lambda^{1/2} J (J^\top (\Lambda^{1/2} u))` (one vjp and
one jvp; per-sample Jacobians are never materialised). For ``linear`` and
``mlp`` models it works in the span-reduced parameterisation, which leaves
:math:`J_B J_B^\top` unchanged (:math:`J = \tilde J A`, :math:`AA^\top = I`).

For a model linear in θ (the ``linear`` model) under a squared loss, G = H.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import functional_call, hessian, jvp, vjp, vmap

from eoss.empirical.losses import Loss
from eoss.empirical.operators.hessian import HessianOperator
from eoss.empirical.operators.kernels import second_order_kernels
from eoss.empirical.operators.stacked import stacked_targets


def output_hessians(loss: Loss, outputs: Tensor, targets: Tensor) -> Tensor:
    r"""Per-sample output curvatures :math:`\Lambda_n = \nabla_f^2 \ell(f_n, y_n)`.

    Args:
        loss: Per-sample loss convention.
        outputs: (n, C) network outputs.
        targets: Vmappable targets (float (n, C) for squared errors, labels for ce).

    Returns:
        (n, C, C) symmetric positive semi-definite matrices.
    """

    def one(f: Tensor, t: Tensor) -> Tensor:
        return loss.per_sample(f.unsqueeze(0), t.unsqueeze(0))[0]

    return vmap(hessian(one))(outputs.detach(), targets)


def sqrt_psd(L: Tensor) -> Tensor:
    """Symmetric square roots of a batch of PSD matrices (negative eigenvalues at 0)."""
    w, V = torch.linalg.eigh(L)
    return (V * w.clamp_min(0).sqrt().unsqueeze(-2)) @ V.transpose(-1, -2)


class GaussNewtonOperator(HessianOperator):
    r"""Gauss–Newton matrix :math:`G = \frac1N\sum_n J_n^\top \Lambda_n J_n`.

    Same constructor, chunking, weighting and guarantees as
    :class:`eoss.empirical.operators.hessian.HessianOperator`; each product is one jvp
    (J v)
    and one backward through the chunk's retained output graph (Jᵀ u).
    """

    @second_order_kernels()
    def _build(self, X: Tensor, y: Tensor) -> tuple[dict[str, Tensor], Callable]:
        def outputs(p: dict[str, Tensor]) -> Tensor:
            return functional_call(self._module, (p, self.buffers), (X,))

        out, out_vjp = vjp(outputs, self.params)
        t = stacked_targets(self.loss, y.unsqueeze(0), out.shape[1], out.dtype)[0]
        lam = output_hessians(self.loss, out, t) / self.n_total

        def gn_vjp(v: dict[str, Tensor]) -> tuple[dict[str, Tensor]]:
            Jv = jvp(outputs, (self.params,), (v,))[1]
            return out_vjp(torch.einsum("nij,nj->ni", lam, Jv))

        with torch.no_grad():
            g = out_vjp(torch.func.grad(self._sum_loss)(out, y))[0]
        return g, gn_vjp

    def _sum_loss(self, out: Tensor, y: Tensor) -> Tensor:
        return self.loss.mean(out, y, self.n_total)






