r"""Noise-injected full-batch gradient descent: SGD's noise without SGD's batches.

Let :math:`g_n = \nabla_\theta \ell_n` be the per-sample gradients,
:math:`g = \frac1N \sum_n g_n = \nabla L` and
:math:`\Sigma = \frac1N \sum_n (g_n - g)(g_n - g)^\top` their population covariance.
A mini-batch gradient :math:`g_B = \frac1b \sum_{n \in B} g_n` of a uniform random
b-subset has mean :math:`g` and covariance

.. math::

    C_b = c_b \, \Sigma, \qquad
    c_b = \frac{N - b}{b (N - 1)} \;\text{(without replacement)}, \qquad
    c_b = \frac1b \;\text{(with replacement)}.

The factor :math:`(N-b)/(N-1)` is the finite-population correction: :math:`C_N = 0`
(full batch) and :math:`C_1 = \Sigma`. Noise-injected GD updates
:math:`\theta \leftarrow \theta - \eta (g + \xi)`, :math:`\xi` drawn fresh each step:

* ``gaussian``: :math:`\xi \sim \mathcal N(0, C_b)` exactly, without per-sample
  gradients, through random per-sample weights. With :math:`z \sim \mathcal N(0, I_N)`
  and :math:`w_n = \frac1N + \sqrt{c_b / N}\,(z_n - \bar z)`, the gradient of
  :math:`\sum_n w_n \ell_n` is :math:`g + \xi` with
  :math:`\xi = \sqrt{c_b/N} \sum_n z_n (g_n - g)`, a Gaussian of covariance
  :math:`\frac{c_b}{N} \sum_n (g_n - g)(g_n - g)^\top = C_b`. Cost: one
  full-batch gradient.
* ``diagonal``: :math:`\xi_i \sim \mathcal N(0, (C_b)_{ii})` independently
  (needs :math:`\sum_n g_n^2` elementwise: for chains of linear layers it is one
  matrix product per layer, :math:`\sum_n (\delta_n^2)(a_n^2)^\top` with
  :math:`a_n` the layer input and :math:`\delta_n = \partial \ell_n / \partial z_n`
  its output gradient; other models use chunked ``torch.func`` per-sample
  gradients).
* ``isotropic``: :math:`\xi \sim \mathcal N(0, \sigma^2 I_P)` with
  :math:`\sigma^2 = \operatorname{tr} C_b / P`: the same total variance
  :math:`E\|\xi\|^2 = \operatorname{tr} C_b` as SGD, spread evenly.

All randomness comes from a CPU :class:`torch.Generator` (sampled on the CPU,
then moved), so runs replay on any device. BatchNorm couples the per-sample
losses, so these definitions do not apply to BatchNorm models (rejected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.losses import Loss
from eoss.empirical.models import has_batchnorm

NOISE_KINDS = ("gaussian", "diagonal", "isotropic")


def noise_factor(n: int, b: int, *, replacement: bool = False) -> float:
    r"""The factor :math:`c_b` of :math:`\operatorname{Cov}(g_B) = c_b \Sigma`.

    Args:
        n: Data-set size N.
        b: Batch size, 1 ≤ b ≤ N (any b ≥ 1 with replacement).
        replacement: Sampling with replacement (1/b) or without
            ((N − b) / (b (N − 1)); 0 when N = 1).

    Returns:
        :math:`c_b`.

    Raises:
        ValueError: If b is out of range.
    """
    if b < 1 or (not replacement and b > n):
        raise ValueError(f"batch size {b} out of range for N={n}")
    if replacement:
        return 1.0 / b
    return 0.0 if n == 1 else (n - b) / (b * (n - 1))


def gaussian_weights(
    n: int, b: int, *, gen: torch.Generator, replacement: bool = False
) -> Tensor:
    r"""Per-sample weights :math:`w_n = 1/N + \sqrt{c_b/N}(z_n - \bar z)`, float64.

    Args:
        n: Data-set size N.
        b: Imitated batch size.
        gen: CPU generator for :math:`z \sim \mathcal N(0, I_N)`.
        replacement: See :func:`noise_factor`.

    Returns:
        Tensor of shape (N,) (on the CPU); it sums to exactly 1 up to rounding.
    """
    z = torch.randn(n, generator=gen, dtype=torch.float64)
    scale = math.sqrt(noise_factor(n, b, replacement=replacement) / n)
    return 1.0 / n + scale * (z - z.mean())


@dataclass(frozen=True)
class NoisyGradient:
    """A full-batch gradient plus injected noise.

    Attributes:
        grads: ∇L + ξ, one tensor per parameter (``model.parameters()`` order).
        loss: The full-batch loss L(θ) (no noise).
    """

    grads: tuple[Tensor, ...]
    loss: float


@dataclass(frozen=True)
class GradientMoments:
    """First and second per-sample gradient moments.

    Attributes:
        mean: g = (1/N) Σ g_n per parameter.
        var: diag Σ = (1/N) Σ (g_n − g)² per parameter (elementwise).
        loss: L(θ).
    """

    mean: tuple[Tensor, ...]
    var: tuple[Tensor, ...]
    loss: float


def _check_model(model: nn.Module) -> None:
    if has_batchnorm(model):
        raise ValueError(
            "noise-injected GD needs independent per-sample losses, which "
            "BatchNorm couples; use a model without BatchNorm"
        )


def weighted_gradient(
    model: nn.Module, loss: Loss, data: ArrayDataset, weights: Tensor, chunk: int
) -> NoisyGradient:
    r"""Gradient of :math:`\sum_n w_n \ell_n` (chunked) and the plain loss L.

    Args:
        model: The network (its ``.grad`` fields are not touched).
        loss: Per-sample loss.
        data: All N training points.
        weights: (N,) per-sample weights (float64, any device).
        chunk: Physical batch size.

    Returns:
        The weighted gradient and :math:`L = \frac1N \sum_n \ell_n`.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    n, plain = len(data), 0.0
    for start in range(0, n, chunk):
        X, y = data.X[start : start + chunk], data.y[start : start + chunk]
        per = loss.per_sample(model(X), y)
        w = weights[start : start + chunk].to(per.device, per.dtype)
        parts = torch.autograd.grad((w * per).sum(), params)
        for acc, part in zip(total, parts, strict=True):
            acc.add_(part)
        plain += float(per.detach().sum()) / n
    return NoisyGradient(tuple(total), plain)


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
        method: ``linear`` (exact sums of squares for an ``nn.Sequential`` whose
            only parametrised layers are ``nn.Linear``: one product per layer, no
            per-sample gradients), ``vmap`` (per-sample gradients, any model), or
            ``auto`` (``linear`` when it applies).

    Returns:
        The moments; sums are accumulated in float64.

    Raises:
        ValueError: On an unknown method, or ``linear`` for another architecture.
    """
    _check_model(model)
    if method not in ("auto", "linear", "vmap"):
        raise ValueError(f"unknown moments method {method!r}")
    if method != "vmap" and _is_linear_chain(model):
        return _linear_chain_moments(model, loss, data, chunk)
    if method == "linear":
        raise ValueError(
            "method='linear' needs nn.Sequential of Linear + parameter-free layers"
        )
    return _vmap_moments(model, loss, data, chunk)


def _is_linear_chain(model: nn.Module) -> bool:
    if not isinstance(model, nn.Sequential):
        return False
    return all(
        isinstance(m, nn.Linear) or not any(True for _ in m.parameters()) for m in model
    )


def _linear_chain_moments(
    model: nn.Sequential, loss: Loss, data: ArrayDataset, chunk: int
) -> GradientMoments:
    r"""Moments of a chain of linear layers without per-sample gradients.

    For a layer :math:`z_n = W a_n + c`, :math:`\partial \ell_n / \partial W =
    \delta_n a_n^\top`, so :math:`\sum_n (\partial \ell_n/\partial W)^2 =
    (\delta^{\circ 2})^\top (a^{\circ 2})` and :math:`\sum_n (\partial \ell_n /
    \partial c)^2 = \sum_n \delta_n^{\circ 2}`, where :math:`\delta_n` comes from
    one backward pass of :math:`\sum_n \ell_n` (samples do not interact).
    """
    s1: dict[str, Tensor] = {}
    s2: dict[str, Tensor] = {}
    n, total = len(data), 0.0
    for start in range(0, n, chunk):
        X, y = data.X[start : start + chunk], data.y[start : start + chunk]
        a, taps = X, []
        for idx, m in model.named_children():
            if isinstance(m, nn.Linear):
                w = m.weight.detach()
                c = None if m.bias is None else m.bias.detach()
                z = nn.functional.linear(a, w, c).requires_grad_()
                taps.append((idx, m.bias is not None, a.detach(), z))
                a = z
            else:
                a = m(a)
        per = loss.per_sample(a, y)
        total += float(per.detach().sum())
        deltas = torch.autograd.grad(per.sum(), [t[3] for t in taps])
        for (idx, has_bias, inp, _), delta in zip(taps, deltas, strict=True):
            d, x = delta.double(), inp.double().flatten(1)
            _acc(s1, f"{idx}.weight", d.T @ x)
            _acc(s2, f"{idx}.weight", d.square().T @ x.square())
            if has_bias:
                _acc(s1, f"{idx}.bias", d.sum(0))
                _acc(s2, f"{idx}.bias", d.square().sum(0))
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    dtypes = dict((k, p.dtype) for k, p in model.named_parameters())
    mean = tuple((s1[k] / n).to(dtypes[k]) for k in names)
    var = tuple(
        (s2[k] / n - (s1[k] / n).square()).clamp_min(0).to(dtypes[k]) for k in names
    )
    return GradientMoments(mean, var, total / n)


def _acc(store: dict[str, Tensor], key: str, value: Tensor) -> None:
    store[key] = store[key] + value if key in store else value


def _vmap_moments(
    model: nn.Module, loss: Loss, data: ArrayDataset, chunk: int
) -> GradientMoments:
    """Moments from chunked ``vmap`` per-sample gradients (any architecture)."""
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def one(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return loss.per_sample(out, y.unsqueeze(0)).sum()

    per_grad = vmap(grad(one), in_dims=(None, 0, 0))
    s1 = {k: torch.zeros_like(params[k], dtype=torch.float64) for k in names}
    s2 = {k: torch.zeros_like(params[k], dtype=torch.float64) for k in names}
    n, total = len(data), 0.0
    for start in range(0, n, chunk):
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
    mean = tuple((s1[k] / n).to(params[k].dtype) for k in names)
    var = tuple(
        (s2[k] / n - (s1[k] / n).square()).clamp_min(0).to(params[k].dtype)
        for k in names
    )
    return GradientMoments(mean, var, total / n)


def noisy_gradient(
    model: nn.Module,
    loss: Loss,
    data: ArrayDataset,
    *,
    kind: str,
    batch_size: int,
    gen: torch.Generator,
    chunk_size: int = 1024,
    replacement: bool = False,
) -> NoisyGradient:
    """∇L + ξ with ξ of the given kind imitating mini-batch noise at batch size b.

    Args:
        model: The network (parameters and ``.grad`` untouched); no BatchNorm.
        loss: Per-sample loss.
        data: All N training points (on the model's device).
        kind: ``gaussian``, ``diagonal`` or ``isotropic`` (module docstring).
        batch_size: The imitated b.
        gen: CPU generator of the noise.
        chunk_size: Physical batch size.
        replacement: Imitate sampling with replacement.

    Returns:
        The noisy gradient and the noiseless loss.

    Raises:
        ValueError: On an unknown kind or a BatchNorm model.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {NOISE_KINDS}")
    _check_model(model)
    n = len(data)
    if kind == "gaussian":
        w = gaussian_weights(n, batch_size, gen=gen, replacement=replacement)
        return weighted_gradient(model, loss, data, w, chunk_size)
    c_b = noise_factor(n, batch_size, replacement=replacement)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # vmap holds chunk × P per-sample gradients: keep that below 2**24 numbers.
    chunk = (
        chunk_size
        if _is_linear_chain(model)
        else max(1, min(chunk_size, (1 << 24) // n_params))
    )
    mom = gradient_moments(model, loss, data, chunk)
    eps = [torch.randn(m.shape, generator=gen, dtype=m.dtype) for m in mom.mean]
    if kind == "diagonal":
        std = [(c_b * v).sqrt() for v in mom.var]
    else:
        sigma2 = c_b * float(sum(v.double().sum() for v in mom.var)) / n_params
        std = [torch.full_like(v, math.sqrt(sigma2)) for v in mom.var]
    grads = tuple(
        m + s * e.to(m.device) for m, s, e in zip(mom.mean, std, eps, strict=True)
    )
    return NoisyGradient(grads, mom.loss)
