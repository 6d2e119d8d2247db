r"""Model registry: linear, mlp, the paper's cnn, resnet10 and resnet14.

Every builder takes the input shape, the number of outputs and a :class:`ModelSpec`
and returns an ``nn.Module``; :func:`build_model` then draws Kaiming-normal weights
(ReLU gain, ``spec.init_mode`` fan) times ``spec.init_scale`` with zero biases from
a CPU :class:`torch.Generator`, as in the official EoSS code (which multiplies the
default init by 0.2–0.3). BatchNorm layers start as the identity (γ = 1, β = 0).

Networks whose first layer is an ``nn.Linear`` on the flattened input (``linear``,
``mlp``) are built as ``nn.Sequential(nn.Flatten(), nn.Linear(...), ...)``; the
spectral core exploits this for an exact parameter-space reduction.

Architectures (the conv nets follow the official code: ``utils/nets.py`` of
github.com/arseniqum/edge-of-stochastic-stability, and ``utils/resnet_new.py`` /
``utils/resnet_bn_new.py`` as stored in its fork pmfeen/edge-of-stochastic-stability):

* ``cnn``: conv3×3(3→c) ReLU, conv3×3(c→c) ReLU, maxpool 2, conv3×3(c→2c) ReLU,
  maxpool 2, flatten, linear(→width) ReLU, linear(→classes); unpadded convs, c = 64
  and width = 512 by default (on 32×32 inputs: 64·30², 64·28²→14², 128·12²→6²).
  With ``batchnorm`` a BatchNorm2d follows each conv (not in the official code).
* ``resnet14``: the CIFAR ResNet of He et al. (2016): conv3×3(3→c), three stages
  of 2 basic blocks with c, 2c, 4c channels (stride 2 at stages 2 and 3),
  parameter-free "option A" shortcuts (subsample + zero-pad channels), global
  average pooling, linear; c = 16: 1 + 12 + 1 = 14 weight layers, as the
  official ``resnet14`` ([2, 2, 2]).
* ``resnet10``: the same family with four stages of one block each (c, 2c, 4c,
  8c channels): 1 + 8 + 1 = 10 weight layers. The official code has no ResNet-10
  in its current version (an older file called [2, 2, 2] "resnet10"); this is
  our choice, documented in docs/training.md.

ResNets use bias-free convs (as the official code); ``batchnorm`` adds
BatchNorm2d after every conv (the official ``resnet_bn`` variant), without it the
BN slots are identities (the official ``resnet``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812 - torch convention
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """Architecture hyper-parameters (fields that do not apply are ignored).

    Attributes:
        name: Registry key (see :data:`MODEL_REGISTRY`).
        width: Hidden width (MLP units; the CNN's fully connected hidden layer).
        depth: Number of hidden layers (MLP).
        init_scale: Multiplier on the Kaiming-normal weights.
        batchnorm: Whether conv nets use BatchNorm.
        bias: Whether linear layers (and the CNN's convs) carry biases.
        channels: Base channels of conv nets; None → 64 (cnn), 16 (resnets).
        init_mode: Kaiming fan: ``fan_in`` (default) or ``fan_out`` (the
            official ResNet init).
    """

    name: str = "mlp"
    width: int = 512
    depth: int = 2
    init_scale: float = 1.0
    batchnorm: bool = False
    bias: bool = True
    channels: int | None = None
    init_mode: Literal["fan_in", "fan_out"] = "fan_in"

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
        if not (self.init_scale > 0 and math.isfinite(self.init_scale)):
            raise ValueError(
                f"init_scale must be > 0 (and finite), got {self.init_scale}"
            )
        if self.channels is not None and self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        if self.init_mode not in ("fan_in", "fan_out"):
            raise ValueError(
                f"init_mode must be fan_in or fan_out, got {self.init_mode!r}"
            )


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


def init_weights(
    model: nn.Module, scale: float, gen: torch.Generator, mode: str = "fan_in"
) -> nn.Module:
    """Kaiming-normal (ReLU gain) weights times ``scale``; zero biases; BN identity.

    Args:
        model: The freshly built network.
        scale: Multiplier on the weights.
        gen: CPU generator; parameters are visited in ``named_modules`` order.
        mode: ``fan_in`` or ``fan_out`` (std = √2 / √fan).

    Returns:
        The same module, initialised in place.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(
                    module.weight, mode=mode, nonlinearity="relu", generator=gen
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


def _bn_or_identity(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


@register("cnn")
def _cnn(input_shape: tuple[int, ...], n_out: int, spec: ModelSpec) -> nn.Module:
    if len(input_shape) != 3:
        raise ValueError(f"cnn needs (C, H, W) inputs, got {input_shape}")
    c_in, h, w = input_shape
    c = spec.channels or 64

    def conv(a: int, b: int) -> list[nn.Module]:
        return [
            nn.Conv2d(a, b, 3, bias=spec.bias),
            _bn_or_identity(b, spec.batchnorm),
            nn.ReLU(),
        ]

    convs = [*conv(c_in, c), *conv(c, c), nn.MaxPool2d(2), *conv(c, 2 * c)]
    convs.append(nn.MaxPool2d(2))
    h, w = ((h - 4) // 2 - 2) // 2, ((w - 4) // 2 - 2) // 2
    if h < 1 or w < 1:
        raise ValueError(f"cnn needs inputs of at least 10x10, got {input_shape}")
    head = [
        nn.Flatten(),
        nn.Linear(2 * c * h * w, spec.width, bias=spec.bias),
        nn.ReLU(),
        nn.Linear(spec.width, n_out, bias=spec.bias),
    ]
    return nn.Sequential(*convs, *head)


class PadShortcut(nn.Module):
    """Parameter-free "option A" shortcut: subsample by ``stride``, zero-pad channels.

    Args:
        stride: Spatial subsampling factor.
        extra: Channels of zeros added (split evenly before and after).
    """

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shortcut of ``x`` (N, C, H, W) → (N, C + extra, H/stride, W/stride).

        Args:
            x: Input feature map.

        Returns:
            The subsampled, zero-padded map.
        """
        x = x[:, :, :: self.stride, :: self.stride]
        lo = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, lo, self.extra - lo))


class BasicBlock(nn.Module):
    """Residual block relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).

    Args:
        c_in: Input channels.
        c_out: Output channels.
        stride: Stride of the first conv.
        batchnorm: BatchNorm2d after each conv (identity otherwise).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, batchnorm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False)
        self.bn1 = _bn_or_identity(c_out, batchnorm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, padding=1, bias=False)
        self.bn2 = _bn_or_identity(c_out, batchnorm)
        same = stride == 1 and c_in == c_out
        self.shortcut = nn.Identity() if same else PadShortcut(stride, c_out - c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: Input (N, c_in, H, W).

        Returns:
            Output (N, c_out, H/stride, W/stride).
        """
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet: stem conv, stages of basic blocks, global average pool, linear.

    Args:
        c_in: Input channels.
        n_out: Number of outputs.
        blocks: Blocks per stage; stage k has ``base · 2**k`` channels and stride 2
            for k ≥ 1.
        base: Channels of the stem and first stage.
        batchnorm: Whether to use BatchNorm2d.
        bias: Whether the final linear layer has a bias.
    """

    def __init__(
        self,
        c_in: int,
        n_out: int,
        blocks: tuple[int, ...],
        base: int,
        batchnorm: bool,
        bias: bool,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, base, 3, 1, padding=1, bias=False)
        self.bn1 = _bn_or_identity(base, batchnorm)
        stages, c = [], base
        for k, n in enumerate(blocks):
            c_out = base * 2**k
            for i in range(n):
                stride = 2 if (k > 0 and i == 0) else 1
                stages.append(BasicBlock(c, c_out, stride, batchnorm))
                c = c_out
        self.blocks = nn.Sequential(*stages)
        self.linear = nn.Linear(c, n_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x``.

        Args:
            x: Images (N, C, H, W).

        Returns:
            Outputs (N, n_out).
        """
        out = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.linear(out.mean(dim=(2, 3)))


def _resnet(blocks: tuple[int, ...]) -> Builder:
    def build(input_shape: tuple[int, ...], n_out: int, spec: ModelSpec) -> nn.Module:
        if len(input_shape) != 3:
            raise ValueError(f"resnets need (C, H, W) inputs, got {input_shape}")
        base = spec.channels or 16
        return CifarResNet(
            input_shape[0], n_out, blocks, base, spec.batchnorm, spec.bias
        )

    return build


MODEL_REGISTRY["resnet10"] = _resnet((1, 1, 1, 1))
MODEL_REGISTRY["resnet14"] = _resnet((2, 2, 2))


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` contains a BatchNorm layer (its loss couples samples).

    Args:
        model: The network.

    Returns:
        True if any ``nn.modules.batchnorm._BatchNorm`` is present.
    """
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


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
    builder = MODEL_REGISTRY[spec.name]
    if getattr(builder, "owns_init", False):  # a user's factory keeps its own init
        return builder(tuple(input_shape), n_out, spec, gen).to(dtype)
    model = builder(tuple(input_shape), n_out, spec)
    init_weights(model, spec.init_scale, gen, spec.init_mode)
    return model.to(dtype)
