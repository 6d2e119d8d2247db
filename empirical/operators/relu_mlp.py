r"""Exact mini-batch Hessian-vector products of ReLU MLPs by Pearlmutter's R-operator.

For ``nn.Sequential(nn.Flatten(), nn.Linear, nn.ReLU, ..., nn.Linear)`` (the
``linear`` and ``mlp`` models) with layers :math:`l = 1, \dots, n`, a batch of b
inputs :math:`a_0` (rows) and the batch loss
:math:`L_B = \frac1b \sum_i \ell(f_i, y_i)`, the forward and backward passes are

.. math::

    s_l = a_{l-1} W_l^\top + c_l, \quad a_l = \mathrm{relu}(s_l) = s_l \odot m_l,
    \quad f = s_n, \qquad
    \delta_n = \tfrac1b \nabla_f \ell, \quad
    \delta_{l} = (\delta_{l+1} W_{l+1}) \odot m_l,

with :math:`m_l = [s_l > 0]` and :math:`\nabla_{W_l} L_B = \delta_l^\top
a_{l-1}`, :math:`\nabla_{c_l} L_B = \mathbf 1^\top \delta_l`. The Hessian-vector
product in a direction :math:`(V_l, v_l)` is the directional derivative
:math:`\mathcal R\{\cdot\}` of these equations (Pearlmutter 1994). The ReLU mask
is piecewise constant, so :math:`\mathcal R\{m_l\} = 0` wherever the Hessian
exists (no pre-activation exactly at a kink's non-differentiable side; at
:math:`s = 0` we use the mask :math:`[s > 0]`, as autograd does), and

.. math::

    \mathcal R\{a_0\} = 0, \quad
    \mathcal R\{s_l\} = \mathcal R\{a_{l-1}\} W_l^\top + a_{l-1} V_l^\top + v_l,
    \quad \mathcal R\{a_l\} = \mathcal R\{s_l\} \odot m_l,

    \mathcal R\{\delta_n\} = \tfrac1b \Lambda\, \mathcal R\{f\}, \quad
    \mathcal R\{\delta_l\} = (\mathcal R\{\delta_{l+1}\} W_{l+1}
    + \delta_{l+1} V_{l+1}) \odot m_l,

    (H v)_{W_l} = \mathcal R\{\delta_l\}^\top a_{l-1}
    + \delta_l^\top \mathcal R\{a_{l-1}\}, \qquad
    (H v)_{c_l} = \mathbf 1^\top \mathcal R\{\delta_l\},

row by row with the output Hessian :math:`\Lambda = \nabla^2_f \ell`: :math:`2I`
(``mse``), :math:`I` (``mse_half``), :math:`\frac2C I` (``mse_mean``),
:math:`\operatorname{diag}(p) - pp^\top`, :math:`p = \operatorname{softmax}(f)`
(``ce``). Every term is a plain matrix product, about six b-row products per
layer, against the graph replay of a reverse-over-reverse product.

K batches are handled at once, each with its own parameters (the layout of
:class:`eoss.empirical.operators.stacked.StackedBatchHessian`): a weight given as a
broadcast
view (stride 0 along K, e.g. every layer but the first after
:func:`eoss.empirical.operators.span_reduction.reduce_batches`) is multiplied once for
all K·b rows;
a per-batch weight goes through ``bmm``. Vectors are flat in
``named_parameters`` order (weight, bias, weight, bias, ...), as
:func:`eoss.empirical.operators.params.flatten`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eoss.empirical.losses import Loss


@dataclass(frozen=True)
class MLPLayout:
    """Parameter names of a ReLU MLP, input layer first.

    Attributes:
        weights: Names of the ``nn.Linear`` weights (``"1.weight"``, ...).
        biases: Names of their biases (None for ``bias=False`` layers).
    """

    weights: tuple[str, ...]
    biases: tuple[str | None, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter name in flat-vector order."""
        out: list[str] = []
        for w, c in zip(self.weights, self.biases, strict=True):
            out += [w] if c is None else [w, c]
        return tuple(out)


def mlp_layout(model: nn.Module, names: list[str] | None = None) -> MLPLayout | None:
    """The layout of ``Sequential(Flatten(), Linear, ReLU, ..., Linear)``, or None.

    Args:
        model: Any network.
        names: Parameter names in the order of the flat vectors (default: every
            parameter of ``model``); every Linear parameter must be among them,
            in ``named_parameters`` order, and nothing else.

    Returns:
        The :class:`MLPLayout`, or None when the closed form does not apply.
    """
    if not isinstance(model, nn.Sequential) or len(model) < 2 or len(model) % 2:
        return None
    flat = model[0]
    if not (isinstance(flat, nn.Flatten) and flat.start_dim == 1):
        return None
    if flat.end_dim != -1:
        return None
    weights: list[str] = []
    biases: list[str | None] = []
    for i, layer in enumerate(model):
        if i == 0:
            continue
        want = nn.Linear if i % 2 else nn.ReLU
        if type(layer) is not want:
            return None
        if i % 2:
            weights.append(f"{i}.weight")
            biases.append(None if layer.bias is None else f"{i}.bias")
    layout = MLPLayout(tuple(weights), tuple(biases))
    if names is None:
        names = [k for k, _ in model.named_parameters()]
    return layout if tuple(names) == layout.names else None


class ReluMLPHessian:
    r"""Hessians of K equal-size batch losses of a ReLU MLP, in closed form.

    Same interface as :class:`eoss.empirical.operators.stacked.StackedBatchHessian`:
    row k of
    :meth:`matvec` is :math:`H_{B_k} V[k]` at batch k's parameters, and row k of
    :attr:`gradient` is :math:`\nabla L_{B_k}`.

    Attributes:
        K: Number of batches.
        b: Rows per batch.
        dim: P, the length of one flat vector.
        gradient: (K, P) batch gradients.
        weights: Per layer, W_j as (out, in) when shared by all batches, else
            (K, out, in).
        shapes: Per layer (out, in, has_bias).
        masks: Per hidden layer, the ReLU masks [s_j > 0] (K, b, out_j) as 0/1.
        n_matvecs: Products computed so far.

    Args:
        model: The network (only its structure is read).
        loss: Per-sample loss convention.
        params: Stacked parameters, each (K, *shape), in flat-vector order; a
            broadcast view (stride 0 along K) marks a weight shared by all batches.
        X: (K, b, ...) inputs (flattened to (K, b, d); d may differ from the
            model's first ``in_features``, as after the span reduction).
        T: (K, b, C) float targets (squared errors) or (K, b) integer labels
            (``ce``), as from :func:`eoss.empirical.operators.stacked.stacked_targets`.

    Raises:
        ValueError: If the model is not a ReLU MLP with these parameters, or the
            targets do not fit the loss.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        params: dict[str, Tensor],
        X: Tensor,
        T: Tensor,
    ) -> None:
        layout = mlp_layout(model, list(params))
        if not loss.is_builtin:
            raise ValueError("the closed-form HVP needs a built-in loss, not callables")
        if layout is None:
            raise ValueError(
                "the closed-form HVP needs nn.Sequential(nn.Flatten(), nn.Linear, "
                "nn.ReLU, ..., nn.Linear) with every Linear parameter trainable"
            )
        self.K, self.b = int(X.shape[0]), int(X.shape[1])
        self.loss = loss
        self.params = params
        self.weights = [_shared_or_batched(params[w], self.K) for w in layout.weights]
        self.shapes = [
            (int(params[w].shape[1]), int(params[w].shape[2]), c is not None)
            for w, c in zip(layout.weights, layout.biases, strict=True)
        ]
        self.dim = sum(o * i + o * c for o, i, c in self.shapes)
        biases = [None if c is None else params[c] for c in layout.biases]
        with torch.no_grad():
            self._forward(X.reshape(self.K, self.b, -1), biases)
            self._backward(T)
            self.gradient = self._gradient()  # (K, P)
        self.n_matvecs = 0

    # ------------------------------------------------------------ set-up
    def _forward(self, X: Tensor, biases: list[Tensor | None]) -> None:
        """a_l (first half of the cat buffers), ReLU masks m_l and the output f."""
        K, b, n = self.K, self.b, len(self.weights)
        self._a0 = X  # (K, b, d)
        self._acat: list[Tensor | None] = [None]  # (K, 2b, in_l) = [a_l; R{a_l}]
        self.masks: list[Tensor] = []  # (K, b, out_l) 0/1 in the dtype, l < n - 1
        a = X
        for j, W in enumerate(self.weights):
            s = _times_wt(a, W)
            if biases[j] is not None:
                s += biases[j].unsqueeze(1)
            if j == n - 1:
                self._f = s  # (K, b, C)
                return
            self.masks.append((s > 0).to(s.dtype))
            buf = s.new_empty(K, 2 * b, s.shape[-1])
            torch.mul(s, self.masks[-1], out=buf[:, :b])
            self._acat.append(buf)
            a = buf[:, :b]

    def _backward(self, T: Tensor) -> None:
        """δ_l (second half of the cat buffers): the gradient's backward pass."""
        K, b, n = self.K, self.b, len(self.weights)
        d = self._output_gradient(T) / b  # δ_n
        self._dcat: list[Tensor] = [d] * n  # (K, 2b, out_l) = [R{δ_l}; δ_l]
        for j in range(n - 1, -1, -1):
            buf = d.new_empty(K, 2 * b, d.shape[-1])
            buf[:, b:] = d
            self._dcat[j] = buf
            if j > 0:
                d = _times_w(d, self.weights[j]).mul_(self.masks[j - 1])

    def _output_gradient(self, T: Tensor) -> Tensor:
        """∇_f ℓ per row (K, b, C); keeps p = softmax(f) for ``ce``."""
        f = self._f
        if self.loss.name == "ce":
            if T.is_floating_point() or tuple(T.shape) != tuple(f.shape[:2]):
                raise ValueError("cross-entropy needs (K, b) integer labels")
            self._p = torch.softmax(f, dim=-1)
            return self._p - torch.nn.functional.one_hot(T, f.shape[-1]).to(f.dtype)
        if T.shape != f.shape or not T.is_floating_point():
            raise ValueError(
                f"squared errors need float targets of shape {tuple(f.shape)}, "
                f"got {tuple(T.shape)}"
            )
        # ℓ = κ Σ_c (f_c − t_c)²: ∇ = 2κ (f − t), Λ = 2κ I
        return _mse_curvature(self.loss, f.shape[-1]) * (f - T)

    def _gradient(self) -> Tensor:
        """Flat ∇L_{B_k} per batch: δ_lᵀ a_l and 1ᵀ δ_l for every layer."""
        out = self._a0.new_empty(self.K, self.dim)
        for j, (w_out, c_out) in enumerate(self.blocks(out)):
            d = self.delta(j)
            torch.bmm(d.transpose(1, 2), self.activation(j), out=w_out)
            if c_out is not None:
                torch.sum(d, dim=1, out=c_out)
        return out

    def activation(self, j: int) -> Tensor:
        """Input rows a_j of layer j (a_0 = the flattened inputs), (K, b, in_j)."""
        return self._a0 if j == 0 else self._acat[j][:, : self.b]

    def delta(self, j: int) -> Tensor:
        """Backpropagated δ_j = ∂L_B/∂s_j of layer j, (K, b, out_j)."""
        return self._dcat[j][:, self.b :]

    def blocks(self, V: Tensor) -> list[tuple[Tensor, Tensor | None]]:
        """Per-layer (K, out, in) weight and (K, out) bias views of (K, P)."""
        views, start = [], 0
        for o, i, has_c in self.shapes:
            w = V[:, start : start + o * i].view(self.K, o, i)
            start += o * i
            c = V[:, start : start + o] if has_c else None
            start += o * has_c
            views.append((w, c))
        return views

    # ---------------------------------------------------------- products
    def matvec(self, V: Tensor) -> Tensor:
        """Row k of the result is H_{B_k} V[k].

        Args:
            V: (K, P) directions (not modified).

        Returns:
            (K, P), a new tensor.

        Raises:
            ValueError: On a wrong shape.
        """
        if tuple(V.shape) != (self.K, self.dim):
            raise ValueError(f"expected shape ({self.K}, {self.dim}), got {V.shape}")
        if V.stride(-1) != 1:
            V = V.contiguous()
        self.n_matvecs += 1
        out = torch.empty_like(V, memory_format=torch.contiguous_format)
        with torch.no_grad():
            dirs = self.blocks(V)
            rs = self._forward_r(dirs)
            self._backward_r(dirs, rs, self.blocks(out))
        return out

    def _forward_r(self, dirs) -> Tensor:
        """R{s_l} layer by layer; R{a_l} goes into the cat buffers. Returns R{f}."""
        n, b = len(self.weights), self.b
        for j, (Vw, Vc) in enumerate(dirs):
            a = self._a0 if j == 0 else self._acat[j][:, :b]
            vt = Vw.transpose(1, 2)
            if Vc is None:
                rs = torch.bmm(a, vt)
            else:
                rs = torch.baddbmm(Vc.unsqueeze(1), a, vt)
            if j > 0:
                rs += _times_wt(self._acat[j][:, b:], self.weights[j])
            if j < n - 1:
                torch.mul(rs, self.masks[j], out=self._acat[j + 1][:, b:])
        return rs

    def _backward_r(self, dirs, rf: Tensor, outs) -> None:
        """R{δ_l} layer by layer, each weight and bias block written into ``outs``."""
        n, b = len(self.weights), self.b
        rd = self._dcat[n - 1][:, :b]
        self.output_hvp(rf, out=rd)
        for j in range(n - 1, -1, -1):
            w_out, c_out = outs[j]
            if j == 0:
                torch.bmm(rd.transpose(1, 2), self._a0, out=w_out)
            else:  # R{δ_l}ᵀ a_l + δ_lᵀ R{a_l} as one product of the cat buffers
                torch.bmm(self._dcat[j].transpose(1, 2), self._acat[j], out=w_out)
            if c_out is not None:
                torch.sum(rd, dim=1, out=c_out)
            if j == 0:
                return
            nxt = _times_w(rd, self.weights[j])
            nxt.baddbmm_(self._dcat[j][:, b:], dirs[j][0])  # + δ_l V_l
            rd = self._dcat[j - 1][:, :b]
            torch.mul(nxt, self.masks[j - 1], out=rd)

    def output_hvp(self, u: Tensor, out: Tensor) -> None:
        """Write Λ u / b row by row into ``out`` (Λ = ∇²_f ℓ at each output).

        Args:
            u: (K, b, C) output directions, e.g. R{f}.
            out: (K, b, C) destination (may be a view).
        """
        if self.loss.name == "ce":  # (diag(p) − p pᵀ) u
            pu = self._p * u
            torch.addcmul(
                pu, self._p, pu.sum(dim=-1, keepdim=True), value=-1.0, out=out
            )
            out.div_(self.b)
        else:
            torch.mul(u, _mse_curvature(self.loss, u.shape[-1]) / self.b, out=out)

    def quadratic_form(self, V: Tensor) -> Tensor:
        """Row-wise vᵀ H_B v.

        Args:
            V: (K, P).

        Returns:
            (K,) quadratic forms.
        """
        return (V * self.matvec(V)).sum(dim=1)


def _mse_curvature(loss: Loss, n_out: int) -> float:
    """2κ for ℓ = κ Σ_c (f_c − t_c)²: the output Hessian is 2κ I."""
    return {"mse": 2.0, "mse_half": 1.0, "mse_mean": 2.0 / n_out}[loss.name]


def _shared_or_batched(W: Tensor, K: int) -> Tensor:
    """(out, in) when every batch has the same weight (K = 1 or a stride-0 view)."""
    return W[0] if K == 1 or W.stride(0) == 0 else W


def _times_wt(a: Tensor, W: Tensor) -> Tensor:
    """Rows a (K, b, in) times Wᵀ: one product for a shared W, else ``bmm``."""
    if W.ndim == 2:  # one (K b, in) product; matmul would expand W to a bmm
        K, b, inp = a.shape
        return torch.mm(a.reshape(K * b, inp), W.t()).view(K, b, -1)
    return torch.bmm(a, W.transpose(1, 2))


def _times_w(d: Tensor, W: Tensor) -> Tensor:
    """Rows d (K, b, out) times W."""
    if W.ndim == 2:
        K, b, out = d.shape
        return torch.mm(d.reshape(K * b, out), W).view(K, b, -1)
    return torch.bmm(d, W)
