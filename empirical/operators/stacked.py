r"""K mini-batch Hessians in lock-step (private helper of the estimators).

Batch k has inputs :math:`X_k` (b rows), targets :math:`T_k` and its own
parameters :math:`\theta_k` (identical copies for the plain operator; a different
first layer per batch after the span reduction). The stacked loss

.. math::

    \mathcal{L}(\theta_1, \dots, \theta_K) = \sum_k L_{B_k}(\theta_k), \qquad
    L_{B_k}(\theta) = \frac1b \sum_{i \in B_k} \ell(f_\theta(x_i), y_i),

has the block-diagonal Hessian :math:`\operatorname{diag}(H_{B_1}, \dots,
H_{B_K})`, so one backward pass of the vmapped gradient graph, built once with
:func:`torch.func.vjp` of ``vmap(grad(L_B))``, multiplies every batch's Hessian
by its own vector.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vjp, vmap

from eoss.empirical.losses import Loss
from eoss.empirical.operators.kernels import second_order_kernels
from eoss.empirical.operators.params import flatten, prepare_targets, unflatten


@second_order_kernels()
def output_dim(module: nn.Module, params: dict, buffers: dict, x: Tensor) -> int:
    """Number of outputs C of the network (one forward pass on a few rows).

    Args:
        module: Private module copy.
        params: Parameters (unbatched).
        buffers: Buffers.
        x: Input rows (two suffice; BatchNorm in train mode needs more than one).

    Returns:
        C.
    """
    with torch.no_grad():
        return int(functional_call(module, (params, buffers), (x,)).shape[-1])


def stacked_targets(loss: Loss, y: Tensor, n_out: int, dtype: torch.dtype) -> Tensor:
    """Vmappable targets for stacked labels (K, b) or targets (K, b, C).

    Args:
        loss: The loss convention.
        y: Stacked labels or targets.
        n_out: C.
        dtype: Floating dtype.

    Returns:
        (K, b, C) float targets for squared errors, integer labels otherwise.
    """
    K, b = y.shape[:2]
    flat = y.reshape(K * b, *y.shape[2:])
    t = prepare_targets(loss.is_mse, flat, n_out, dtype)
    return t.reshape(K, b, *t.shape[1:])


class StackedBatchHessian:
    """Hessians of K equal-size batches, each at its own parameters.

    Args:
        module: Private module copy (mode already set).
        buffers: Its buffers (shared by all batches).
        loss: Per-sample loss.
        params: Stacked parameters, each of shape (K, *shape).
        X: (K, b, ...) inputs.
        T: Vmappable targets from :func:`stacked_targets`.
    """

    @second_order_kernels()
    def __init__(
        self,
        module: nn.Module,
        buffers: dict[str, Tensor],
        loss: Loss,
        params: dict[str, Tensor],
        X: Tensor,
        T: Tensor,
    ) -> None:
        b = X.shape[1]

        def batch_loss(p: dict[str, Tensor], x: Tensor, t: Tensor) -> Tensor:
            out = functional_call(module, (p, buffers), (x,))
            return loss.per_sample(out, t).sum() / b

        self.K = int(X.shape[0])
        if self.K == 1:  # no vmap: ~30% cheaper products for one batch on CPU
            self.params = {k: t[0] for k, t in params.items()}
            fn = grad(batch_loss)
            grads, self._vjp = vjp(lambda p: fn(p, X[0], T[0]), self.params)
            self.gradient = flatten(grads).detach().unsqueeze(0)  # (1, p)
        else:
            self.params = params
            fn = vmap(grad(batch_loss))
            grads, self._vjp = vjp(lambda P: fn(P, X, T), params)
            self.gradient = flatten(grads, batch_dims=1).detach()  # (K, p)
        self.dim = int(self.gradient.shape[1])
        self.n_matvecs = 0

    def matvec(self, V: Tensor) -> Tensor:
        """Row k of the result is H_{B_k} V[k].

        Args:
            V: (K, p).

        Returns:
            (K, p).
        """
        self.n_matvecs += 1
        with torch.no_grad(), second_order_kernels():
            if self.K == 1:
                return flatten(self._vjp(unflatten(V[0], self.params))[0]).unsqueeze(0)
            out = self._vjp(unflatten(V, self.params, batch_dims=1))[0]
            return flatten(out, batch_dims=1)

    def quadratic_form(self, V: Tensor) -> Tensor:
        """Row-wise vᵀ H_B v.

        Args:
            V: (K, p).

        Returns:
            (K,) quadratic forms.
        """
        return (V * self.matvec(V)).sum(dim=1)
