r"""Model registry.

Every builder takes the input shape, the number of outputs, a :class:`ModelSpec`
and a CPU :class:`torch.Generator`, and returns an ``nn.Module`` whose weights are
Kaiming-normal (fan-in, ReLU gain) times ``spec.init_scale`` with zero biases, as in
the official EoSS code (which multiplies the default init by 0.2–0.3).

Networks whose first layer is an ``nn.Linear`` on the flattened input (``linear``,
``mlp``) are built as ``nn.Sequential(nn.Flatten(), nn.Linear(...), ...)``; the
spectral core exploits this for an exact parameter-space reduction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """Architecture hyper-parameters (fields that do not apply are ignored).

    Attributes:
        name: Registry key (see :data:`MODEL_REGISTRY`).
        width: Hidden width (MLP units; base channels for conv nets).
        depth: Number of hidden layers (MLP).
        init_scale: Multiplier on the Kaiming-normal weights.
        batchnorm: Whether conv nets use BatchNorm.
        bias: Whether layers carry biases.
    """

    name: str = "mlp"
    width: int = 512
    depth: int = 2
    init_scale: float = 1.0
    batchnorm: bool = False
    bias: bool = True

    def __post_init__(self) -> None:
        if self.name not in MODEL_REGISTRY:
            raise ValueError(
                f"unknown model {self.name!r}; "
                f"choose from {', '.join(sorted(MODEL_REGISTRY))}"
            )
        if self.width < 1 or self.depth < 0:
            raise ValueError(
                f"width must be >= 1 and depth >= 0, got {self.width}, {self.depth}"
            )
        if not self.init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {self.init_scale}")


Builder = Callable[[tuple[int, ...], int, ModelSpec], nn.Module]
MODEL_REGISTRY: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to :data:`MODEL_REGISTRY`.

    Args:
        name: Registry key.

    Returns:
        The decorator.
    """

    def deco(fn: Builder) -> Builder:
        MODEL_REGISTRY[name] = fn
        return fn

    return deco


def init_weights(model: nn.Module, scale: float, gen: torch.Generator) -> nn.Module:
    """Kaiming-normal (fan-in, ReLU) weights times ``scale``; zero biases; BN identity.

    Args:
        model: The freshly built network.
        scale: Multiplier on the weights.
        gen: CPU generator; parameters are visited in ``named_modules`` order.

    Returns:
        The same module, initialised in place.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(
                    module.weight, nonlinearity="relu", generator=gen
                )
                module.weight.mul_(scale)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.weight.fill_(1.0)
                module.bias.zero_()
    return model


@register("linear")
def _linear(input_shape: tuple[int, ...], n_out: int, spec: ModelSpec) -> nn.Module:
    d = math.prod(input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, n_out, bias=spec.bias))


@register("mlp")
def _mlp(input_shape: tuple[int, ...], n_out: int, spec: ModelSpec) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(spec.depth):
        layers += [nn.Linear(fan_in, spec.width, bias=spec.bias), nn.ReLU()]
        fan_in = spec.width
    layers.append(nn.Linear(fan_in, n_out, bias=spec.bias))
    return nn.Sequential(*layers)


def build_model(
    spec: ModelSpec,
    input_shape: tuple[int, ...],
    n_out: int,
    gen: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Build and initialise a registered model on the CPU.

    Args:
        spec: Architecture.
        input_shape: Shape of one input, e.g. (3, 32, 32).
        n_out: Number of outputs (classes).
        gen: CPU generator for the initialisation.
        dtype: Parameter dtype.

    Returns:
        The model (move it with ``.to(device)``).
    """
    model = MODEL_REGISTRY[spec.name](tuple(input_shape), n_out, spec)
    init_weights(model, spec.init_scale, gen)
    return model.to(dtype)
