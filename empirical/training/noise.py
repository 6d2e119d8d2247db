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
  gradients; :mod:`~eoss.empirical.training.gradient_moments`).
* ``isotropic``: :math:`\xi \sim \mathcal N(0, \sigma^2 I_P)` with
  :math:`\sigma^2 = \operatorname{tr} C_b / P`: the same total variance
  :math:`E\|\xi\|^2 = \operatorname{tr} C_b` as SGD, spread evenly (needs only
  :math:`\operatorname{tr}\Sigma`: for chains of linear layers from per-sample
  gradient norms :math:`\|\delta_n\|^2 \|a_n\|^2`, no product per layer).

All randomness comes from a CPU :class:`torch.Generator` (sampled on the CPU,
then moved), so runs replay on any device. BatchNorm couples the per-sample
losses, so these definitions do not apply to BatchNorm models (rejected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.losses import Loss
from eoss.empirical.models import has_batchnorm
from eoss.empirical.training.gradient_moments import (
    gradient_moments,
    gradient_spread,
    is_linear_chain,
)

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
        if is_linear_chain(model)
        else max(1, min(chunk_size, (1 << 24) // n_params))
    )
    if kind == "diagonal":
        mom = gradient_moments(model, loss, data, chunk)
        mean, plain = mom.mean, mom.loss
        std: list[Tensor | float] = [(c_b * v).sqrt() for v in mom.var]
    else:  # isotropic: only tr Σ is needed (per-sample norms for linear chains)
        spread = gradient_spread(model, loss, data, chunk)
        mean, plain = spread.mean, spread.loss
        std = [math.sqrt(c_b * spread.trace / n_params)] * len(mean)
    eps = [torch.randn(m.shape, generator=gen, dtype=m.dtype) for m in mean]
    grads = tuple(
        m + s * e.to(m.device) for m, s, e in zip(mean, std, eps, strict=True)
    )
    return NoisyGradient(grads, plain)
