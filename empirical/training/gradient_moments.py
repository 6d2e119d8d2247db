r"""Per-sample gradient moments: the mean, the elementwise variance and the trace.

With per-sample gradients :math:`g_n = \nabla_\theta \ell_n`, n = 1..N,

.. math::

    \bar g = \frac1N \sum_n g_n, \qquad
    \operatorname{diag}\Sigma = \frac1N \sum_n g_n^{\circ 2} - \bar g^{\circ 2},
    \qquad
    \operatorname{tr}\Sigma
    = \frac1N \sum_n \lVert g_n \rVert^2 - \lVert \bar g \rVert^2 .

For a chain of linear layers (``nn.Sequential`` whose only parametrised layers are
``nn.Linear`` on (N, d) inputs) no per-sample gradient is formed: a layer
:math:`z_n = W a_n + c` has :math:`\partial \ell_n / \partial W = \delta_n a_n^\top`
with :math:`\delta_n = \partial \ell_n / \partial z_n` from one backward pass of
:math:`\sum_n \ell_n` (samples do not interact), so

* :math:`\sum_n (\partial \ell_n/\partial W)^{\circ 2} = (\delta^{\circ 2})^\top
  (a^{\circ 2})`: one product per layer (:func:`gradient_moments`);
* :math:`\lVert \partial \ell_n/\partial W \rVert^2 = \lVert \delta_n \rVert^2
  \lVert a_n \rVert^2` and :math:`\lVert \partial \ell_n/\partial c \rVert^2 =
  \lVert \delta_n \rVert^2`: O(N (d_in + d_out)) per layer, no product at all
  (:func:`gradient_spread`).

Other models use chunked ``torch.func`` per-sample gradients. Products run in the
parameters' dtype (a float64 model is exact to rounding; a float32 one is as
accurate as its float32 gradients) and sums across chunks are float64.
BatchNorm couples the per-sample losses, so neither applies to BatchNorm models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.losses import Loss
from eoss.empirical.models import has_batchnorm

METHODS = ("auto", "linear", "vmap")


@dataclass(frozen=True)
class GradientMoments:
    """First and elementwise second per-sample gradient moments.

    Attributes:
        mean: g = (1/N) Σ g_n per parameter.
        var: diag Σ = (1/N) Σ (g_n − g)² per parameter (elementwise).
        loss: L(θ).
    """

    mean: tuple[Tensor, ...]
    var: tuple[Tensor, ...]
    loss: float


@dataclass(frozen=True)
class GradientSpread:
    """The mean per-sample gradient and the total variance around it.

    Attributes:
        mean: g = (1/N) Σ g_n per parameter.
        trace: tr Σ = (1/N) Σ ‖g_n − g‖² (float64 sums).
        loss: L(θ).
    """

    mean: tuple[Tensor, ...]
    trace: float
    loss: float


def _route(model: nn.Module, method: str) -> str:
    """``linear`` or ``vmap`` for ``method``, after the model checks."""
    if has_batchnorm(model):
        raise ValueError(
            "per-sample gradient moments need independent per-sample losses, which "
            "BatchNorm couples; use a model without BatchNorm"
        )
    if method not in METHODS:
        raise ValueError(f"unknown moments method {method!r}; choose from {METHODS}")
    if method != "vmap" and is_linear_chain(model):
        return "linear"
    if method == "linear":
        raise ValueError(
            "method='linear' needs nn.Sequential of Linear + parameter-free layers"
        )
    return "vmap"


def gradient_moments(
    model: nn.Module,
    loss: Loss,
    data: ArrayDataset,
    chunk: int,
    *,
    method: str = "auto",
) -> GradientMoments:
    r"""Per-sample gradient mean and elementwise variance.

    :math:`\bar g = \frac1N \sum_n g_n` and
    :math:`\operatorname{diag}\Sigma = \frac1N \sum_n g_n^2 - \bar g^2`.

    Args:
        model: The network (not modified); no BatchNorm.
        loss: Per-sample loss.
        data: All N training points.
        chunk: Samples per chunk (``vmap``: memory ∝ chunk × P).
        method: ``linear`` (sums of squares by one product per layer, for chains of
            linear layers), ``vmap`` (per-sample gradients, any model), or ``auto``
            (``linear`` when it applies).

    Returns:
        The moments; sums across chunks are accumulated in float64.

    Raises:
        ValueError: On an unknown method, ``linear`` for another architecture, or a
            BatchNorm model.
    """
    if _route(model, method) == "linear":
        s1, s2, total = _linear_chain_sums(model, loss, data, chunk, squares=True)
    else:
        s1, s2, total = _vmap_sums(model, loss, data, chunk)
    names, dtypes = _trainable(model)
    n = len(data)
    m64 = {k: s1[k] / n for k in names}
    mean = tuple(m64[k].to(dtypes[k]) for k in names)
    var = tuple((s2[k] / n - m64[k].square()).clamp_min(0).to(dtypes[k]) for k in names)
    return GradientMoments(mean, var, total / n)


def gradient_spread(
    model: nn.Module,
    loss: Loss,
    data: ArrayDataset,
    chunk: int,
    *,
    method: str = "auto",
) -> GradientSpread:
    r"""Per-sample gradient mean and total variance :math:`\operatorname{tr}\Sigma`.

    :math:`\operatorname{tr}\Sigma = \frac1N \sum_n \lVert g_n \rVert^2 -
    \lVert \bar g \rVert^2`; for chains of linear layers from per-sample norms
    (module docstring), with no elementwise second moment.

    Args:
        model: The network (not modified); no BatchNorm.
        loss: Per-sample loss.
        data: All N training points.
        chunk: Samples per chunk.
        method: As in :func:`gradient_moments`.

    Returns:
        The mean gradient, tr Σ (clamped at 0) and L(θ).

    Raises:
        ValueError: As :func:`gradient_moments`.
    """
    if _route(model, method) == "linear":
        s1, norms, total = _linear_chain_sums(model, loss, data, chunk, squares=False)
        sq_norms = float(norms[""])
    else:
        s1, s2, total = _vmap_sums(model, loss, data, chunk)
        sq_norms = float(sum(v.sum() for v in s2.values()))
    names, dtypes = _trainable(model)
    n = len(data)
    m64 = {k: s1[k] / n for k in names}
    mean_sq = float(sum(torch.dot(m.flatten(), m.flatten()) for m in m64.values()))
    trace = max(sq_norms / n - mean_sq, 0.0)
    mean = tuple(m64[k].to(dtypes[k]) for k in names)
    return GradientSpread(mean, trace, total / n)


def is_linear_chain(model: nn.Module) -> bool:
    """Whether ``model`` is ``nn.Sequential`` of Linear and parameter-free layers."""
    if not isinstance(model, nn.Sequential):
        return False
    return all(
        isinstance(m, nn.Linear) or not any(True for _ in m.parameters()) for m in model
    )


def _trainable(model: nn.Module) -> tuple[list[str], dict[str, torch.dtype]]:
    params = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    return [k for k, _ in params], {k: p.dtype for k, p in params}


def _linear_chain_sums(
    model: nn.Module, loss: Loss, data: ArrayDataset, chunk: int, *, squares: bool
) -> tuple[dict[str, Tensor], dict[str, Tensor], float]:
    r"""Σ_n g_n per parameter, and Σ_n g_n² (``squares``) or Σ_n ‖g_n‖² (key "").

    One forward pass taps every linear layer's input :math:`a` and output
    :math:`z`; one backward pass of :math:`\sum_n \ell_n` gives :math:`\delta`.
    """
    s1: dict[str, Tensor] = {}
    s2: dict[str, Tensor] = {}
    total = 0.0
    for start in range(0, len(data), chunk):
        X, y = data.X[start : start + chunk], data.y[start : start + chunk]
        a, taps = X, []
        for idx, m in model.named_children():
            if isinstance(m, nn.Linear):
                w = m.weight.detach()
                c = None if m.bias is None else m.bias.detach()
                z = nn.functional.linear(a, w, c).requires_grad_()
                taps.append((idx, m.bias is not None, a.detach().flatten(1), z))
                a = z
            else:
                a = m(a)
        per = loss.per_sample(a, y)
        total += float(per.detach().sum())
        deltas = torch.autograd.grad(per.sum(), [t[3] for t in taps])
        for (idx, has_bias, x, _), d in zip(taps, deltas, strict=True):
            _acc(s1, f"{idx}.weight", d.T @ x)
            if has_bias:
                _acc(s1, f"{idx}.bias", d.sum(0))
            if squares:
                _acc(s2, f"{idx}.weight", d.square().T @ x.square())
                if has_bias:
                    _acc(s2, f"{idx}.bias", d.square().sum(0))
            else:
                # ‖δ_n‖² (‖a_n‖² + 1 for the bias), sums of squares in the dtype
                d2 = (d * d).sum(1).double()
                x2 = (x * x).sum(1).double() + (1.0 if has_bias else 0.0)
                _acc(s2, "", (d2 * x2).sum())
    return s1, s2, total


def _acc(store: dict[str, Tensor], key: str, value: Tensor) -> None:
    value = value.double()
    store[key] = store[key] + value if key in store else value


def _vmap_sums(
    model: nn.Module, loss: Loss, data: ArrayDataset, chunk: int
) -> tuple[dict[str, Tensor], dict[str, Tensor], float]:
    """Σ_n g_n and Σ_n g_n² from chunked ``vmap`` per-sample gradients."""
    names, _ = _trainable(model)
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def one(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return loss.per_sample(out, y.unsqueeze(0)).sum()

    per_grad = vmap(grad(one), in_dims=(None, 0, 0))
    s1 = {k: torch.zeros_like(params[k], dtype=torch.float64) for k in names}
    s2 = {k: torch.zeros_like(params[k], dtype=torch.float64) for k in names}
    total = 0.0
    for start in range(0, len(data), chunk):
        X, y = data.X[start : start + chunk], data.y[start : start + chunk]
        with torch.no_grad():
            out = model(X)
            total += float(loss.per_sample(out, y).sum())
        # one_hot cannot run under vmap: squared errors get float targets here.
        target = loss.targets(out, y) if loss.is_mse else y
        g = per_grad(params, X, target)
        for k in names:
            gk = g[k].double()
            s1[k] += gk.sum(0)
            s2[k] += gk.square().sum(0)
    return s1, s2, total
