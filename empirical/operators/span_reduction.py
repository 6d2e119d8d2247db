r"""Exact reduction of the first layer to the span of a batch's inputs.

For a network :math:`f_\theta(x) = g_\phi(W_1 x + c_1)` whose first layer is
linear on the flattened input (``nn.Sequential(nn.Flatten(), nn.Linear, ...)``,
i.e. the ``linear`` and ``mlp`` models), a batch loss
:math:`L_B(W_1, \psi) = \frac1b \sum_{i\in B} \ell(g_\phi(W_1 x_i + c_1), y_i)`,
:math:`\psi = (c_1, \phi)`, sees :math:`W_1` only through :math:`W_1 X_B^\top`.

**Reduction.** Let :math:`Q \in \mathbb{R}^{d\times r}`, :math:`r = \min(b, d)`,
have orthonormal columns spanning :math:`\operatorname{span}(X_B^\top)` (when the
batch has rank :math:`< r`, the surplus columns are zero; see below). Every
:math:`x_i` lies in :math:`\operatorname{span}(Q)`, so :math:`W_1 x_i = (W_1
Q)(Q^\top x_i)`, and with :math:`U = W_1 Q \in \mathbb{R}^{h\times r}` and reduced
inputs :math:`z_i = Q^\top x_i` (the rows of :math:`Z = X_B Q`),

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
:math:`(W_1 \mapsto W_1 Q)` composed with its adjoint :math:`(U \mapsto U Q^\top)`
is :math:`U \mapsto U Q^\top Q = U D`, with :math:`D = Q^\top Q` diagonal with
entries 1 (live columns) and 0 (zero columns); so :math:`AA^\top = P` is an
orthogonal projection. A zero column of :math:`Q` meets a zero column of
:math:`Z`, so :math:`\tilde L_B` does not depend on the matching column of
:math:`U` and :math:`\tilde H_B = P \tilde H_B P`. The nonzero eigenvalues of
:math:`A^\top \tilde H_B A` are those of :math:`\tilde H_B A A^\top = \tilde H_B
P = \tilde H_B`, and a dimension count (:math:`P_{\text{full}} = \tilde P + h(d -
r)`) gives the extra zeros. ∎

Consequences used by the estimators: :math:`\lambda_{\max}(H_B) = \max(\tilde
\lambda_{\max}, 0)` when :math:`d > r` (:math:`= \tilde\lambda_{\max}` otherwise);
eigenvectors map back by :math:`v = A^\top \tilde v` (first-layer block
:math:`\tilde U Q^\top`, norm-preserving for eigenvectors of nonzero
eigenvalues); for any :math:`v`, :math:`v^\top H_B v = (Av)^\top \tilde H_B (Av)`;
and :math:`g_B = A^\top \tilde g_B`, so the batch sharpness :math:`g_B^\top H_B
g_B / \|g_B\|^2 = \tilde g_B^\top \tilde H_B \tilde g_B / \|\tilde g_B\|^2` is
computed entirely in the reduced space.

**Computing Q.** A Householder QR of the (d × b) matrix :math:`X_B^\top` cost
50–100 ms per batch at b = 64 on the CPU, more than the whole Lanczos solve. We use
the b × b Gram matrix instead, in float64: :math:`G = X_B X_B^\top = U S U^\top`,
:math:`Q_1 = X_B^\top U S^{-1/2}` over the eigenvalues above a numerical-rank
threshold (:math:`s_i > 100\, b\, \varepsilon_{64} \max s`; smaller directions are
rounding noise, and dropping them changes the inputs by less than
:math:`10^{-6}` relative), then the same step once more on :math:`Q_1` to restore
orthogonality to :math:`\varepsilon_{64}` (Cholesky-QR2 with an eigensolver, which
also handles rank deficiency). Dropped directions become zero columns, so every
batch keeps r = min(b, d) columns and batches stack.

The reduced network is evaluated by :func:`torch.func.functional_call` on the
original module with a first weight of shape (h, r): ``nn.Linear`` does not check
its ``in_features`` at call time, and ``nn.Flatten`` leaves (b, r) inputs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eoss.empirical.operators.params import flatten, num_params, unflatten


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


def _orthonormalise(M: Tensor, rank_tol: float) -> Tensor:
    """Columns spanning range(M) (K, d, c), orthonormal or zero, via eigh of MᵀM."""
    s, U = torch.linalg.eigh(M.transpose(1, 2) @ M)  # ascending, (K, c)
    keep = s > rank_tol * s[:, -1:].clamp_min(torch.finfo(s.dtype).tiny)
    scale = torch.where(keep, s.clamp_min(torch.finfo(s.dtype).tiny).rsqrt(), 0.0)
    return M @ (U * scale.unsqueeze(1))


def span_basis(X: Tensor) -> Tensor:
    """Orthonormal (or zero) columns spanning each batch's inputs.

    Args:
        X: (K, b, d) flattened batch inputs.

    Returns:
        Q of shape (K, d, min(b, d)) in the dtype of X: QᵀQ is diagonal with
        entries 1 and 0, and span(Q) = span(X_kᵀ) up to directions whose singular
        value is below ~1e-6 of the largest (module docstring).
    """
    X64 = X.to(torch.float64)
    b, d = X.shape[1], X.shape[2]
    M = X64.transpose(1, 2)  # (K, d, b)
    if b > d:  # the span is all of R^d: any orthonormal basis of it will do
        eye = torch.eye(d, dtype=torch.float64, device=X.device)
        return eye.expand(X.shape[0], d, d).to(X.dtype)
    tol = 100 * b * torch.finfo(torch.float64).eps
    Q = _orthonormalise(_orthonormalise(M, tol), tol)
    return Q.to(X.dtype)


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
    Q = span_basis(Xf)  # (K, d, r)
    stacked = {k: t.unsqueeze(0).expand(K, *t.shape) for k, t in params.items()}
    stacked[name] = params[name] @ Q  # (K, h, r)
    return ReducedBatches(
        Z=Xf @ Q,
        Q=Q,
        params=stacked,
        weight_name=name,
        full_params=params,
    )
