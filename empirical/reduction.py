r"""Exact reduction of the first layer to the span of a batch's inputs.

For a network :math:`f_\theta(x) = g_\phi(W_1 x + c_1)` whose first layer is
linear on the flattened input (``nn.Sequential(nn.Flatten(), nn.Linear, ...)``,
i.e. the ``linear`` and ``mlp`` models), a batch loss
:math:`L_B(W_1, \psi) = \frac1b \sum_{i\in B} \ell(g_\phi(W_1 x_i + c_1), y_i)`,
:math:`\psi = (c_1, \phi)`, sees :math:`W_1` only through :math:`W_1 X_B^\top`.

**Reduction.** Let :math:`X_B^\top = Q R` be a thin QR factorisation,
:math:`Q \in \mathbb{R}^{d\times r}` with orthonormal columns, :math:`r = \min(b, d)`.
Every :math:`x_i` lies in :math:`\operatorname{span}(Q)`, so
:math:`W_1 x_i = (W_1 Q)(Q^\top x_i)`, and with :math:`U = W_1 Q \in
\mathbb{R}^{h\times r}` and reduced inputs :math:`z_i = Q^\top x_i` (the rows of
:math:`Z = X_B Q = R^\top`),

.. math::

    L_B(W_1, \psi) = \tilde L_B(A(W_1, \psi)), \qquad
    A(W_1, \psi) = (W_1 Q, \psi),

where :math:`\tilde L_B(U, \psi) = \frac1b\sum_i \ell(g_\phi(U z_i + c_1), y_i)` is
the *same network* with inputs :math:`z_i` and first-layer weight :math:`U`.

**Claim.** :math:`H_B = A^\top \tilde H_B A` and the nonzero spectrum of
:math:`H_B` equals that of :math:`\tilde H_B`; :math:`H_B` has :math:`h(d - r)`
additional zero eigenvalues.

*Proof.* :math:`A` is linear, so the chain rule gives :math:`\nabla L_B = A^\top
\nabla\tilde L_B` and :math:`H_B = A^\top \tilde H_B A` (no second-order term).
:math:`A A^\top = I` because :math:`(W_1 \mapsto W_1 Q)` composed with its adjoint
:math:`(U \mapsto U Q^\top)` is :math:`U \mapsto U Q^\top Q = U`. Hence
:math:`A^\top` is an isometry onto :math:`\operatorname{range}(A^\top)`, on which
:math:`H_B` acts as :math:`A^\top \tilde H_B` (:math:`H_B A^\top \tilde v = A^\top
\tilde H_B \tilde v`), and :math:`H_B` vanishes on :math:`\ker A`, of dimension
:math:`h d - h r`. ∎

Consequences used by the estimators: :math:`\lambda_{\max}(H_B) = \max(\tilde
\lambda_{\max}, 0)` when :math:`d > r` (:math:`= \tilde\lambda_{\max}` otherwise);
eigenvectors map back by :math:`v = A^\top \tilde v` (first-layer block
:math:`\tilde U Q^\top`); for any :math:`v`, :math:`v^\top H_B v = (Av)^\top
\tilde H_B (Av)`; and :math:`g_B = A^\top \tilde g_B`, so the batch sharpness
:math:`g_B^\top H_B g_B / \|g_B\|^2 = \tilde g_B^\top \tilde H_B \tilde g_B /
\|\tilde g_B\|^2` is computed entirely in the reduced space. Rank-deficient
batches (repeated rows) need no special case: the identity only needs
:math:`x_i \in \operatorname{span}(Q)`.

The reduced network is evaluated by :func:`torch.func.functional_call` on the
original module with a first weight of shape (h, r): ``nn.Linear`` does not check
its ``in_features`` at call time, and ``nn.Flatten`` leaves (b, r) inputs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from empirical._params import flatten, num_params, unflatten


def first_linear_name(model: nn.Module) -> str | None:
    """Name of the first layer's weight if the model is reducible, else None.

    Reducible means ``nn.Sequential(nn.Flatten(start_dim=1, end_dim=-1),
    nn.Linear(d, h), ...)``: the only use of the input is ``W_1 x + c_1``.

    Args:
        model: Any network.

    Returns:
        E.g. ``"1.weight"``, or None.
    """
    if not isinstance(model, nn.Sequential) or len(model) < 2:
        return None
    flat, lin = model[0], model[1]
    if not (isinstance(flat, nn.Flatten) and flat.start_dim == 1):
        return None
    if flat.end_dim != -1 or type(lin) is not nn.Linear:
        return None
    return "1.weight"


def supports_reduction(model: nn.Module) -> bool:
    """Whether :func:`reduce_batches` applies to ``model``.

    Args:
        model: Any network.

    Returns:
        True for ``Sequential(Flatten(), Linear, ...)`` models.
    """
    return first_linear_name(model) is not None


@dataclass(frozen=True)
class ReducedBatches:
    """K batches in the reduced parameterisation (one per leading index).

    Attributes:
        Z: (K, b, r) reduced inputs Z_k = X_k Q_k (= R_kᵀ).
        Q: (K, d, r) orthonormal bases of span(X_kᵀ).
        params: Stacked reduced parameters, each (K, *shape); the first weight is
            (K, h, r) = W_1 Q_k, the others are broadcast views of the originals.
        weight_name: Key of the first-layer weight in ``params``.
        full_params: The unreduced parameters (shapes define the full layout).
    """

    Z: Tensor
    Q: Tensor
    params: dict[str, Tensor]
    weight_name: str
    full_params: dict[str, Tensor]

    @property
    def full_dim(self) -> int:
        """P, the number of parameters of the original network."""
        return num_params(self.full_params)

    @property
    def reduced_dim(self) -> int:
        """P̃ = P − h (d − r), the reduced dimension."""
        return self.full_dim - self.full_params[self.weight_name].shape[0] * (
            self.Q.shape[1] - self.Q.shape[2]
        )

    @property
    def n_null(self) -> int:
        """Number h (d − r) of extra zero eigenvalues of H_B."""
        return self.full_dim - self.reduced_dim

    def to_reduced(self, v: Tensor) -> Tensor:
        """Apply A: full vectors to reduced ones (first block W ↦ W Q_k).

        Args:
            v: (P,) one vector for every batch, or (K, P).

        Returns:
            (K, P̃) reduced vectors.
        """
        K = self.Q.shape[0]
        v = v.expand(K, -1) if v.ndim == 1 else v
        parts = unflatten(v, self.full_params)
        parts[self.weight_name] = parts[self.weight_name] @ self.Q
        return flatten(parts, batch_dims=1)

    def to_full(self, v: Tensor) -> Tensor:
        """Apply Aᵀ: reduced vectors to full ones (first block U ↦ U Q_kᵀ).

        Args:
            v: (K, P̃) reduced vectors.

        Returns:
            (K, P) full vectors (isometric: norms are preserved).
        """
        parts = unflatten(v, self.params, batch_dims=1)
        parts[self.weight_name] = parts[self.weight_name] @ self.Q.transpose(1, 2)
        return flatten(parts, batch_dims=1)


def reduce_batches(
    model: nn.Module, params: dict[str, Tensor], X: Tensor
) -> ReducedBatches:
    """Reduce K equal-size batches of a ``Sequential(Flatten(), Linear, ...)`` net.

    Args:
        model: The network (used only to check the architecture).
        params: Its parameters at the linearisation point (not modified).
        X: (K, b, ...) stacked batch inputs, in the parameters' dtype/device.

    Returns:
        The :class:`ReducedBatches`.

    Raises:
        ValueError: If the model is not reducible.
    """
    name = first_linear_name(model)
    if name is None or name not in params:
        raise ValueError(
            "the span reduction needs nn.Sequential(nn.Flatten(), nn.Linear, ...) "
            "with a trainable first weight"
        )
    K, b = X.shape[:2]
    Xf = X.reshape(K, b, -1)
    Q, R = torch.linalg.qr(Xf.transpose(1, 2), mode="reduced")  # (K,d,r), (K,r,b)
    stacked = {k: t.unsqueeze(0).expand(K, *t.shape) for k, t in params.items()}
    stacked[name] = params[name] @ Q  # (K, h, r)
    return ReducedBatches(
        Z=R.transpose(1, 2).contiguous(),
        Q=Q,
        params=stacked,
        weight_name=name,
        full_params=params,
    )
