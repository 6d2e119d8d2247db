import math

import numpy as np
import pytest
import torch
from torch import nn

from eoss.empirical.models import ModelSpec, PadShortcut, build_model, has_batchnorm
from eoss.empirical.rng import torch_gen

IMG = (3, 32, 32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cnn_count(c: int, width: int, classes: int, bn: bool) -> int:
    """Closed form of the official CNN's size on 32x32 RGB inputs."""
    convs = (3 * c * 9 + c) + (c * c * 9 + c) + (c * 2 * c * 9 + 2 * c)
    fc = (2 * c * 6 * 6 * width + width) + (width * classes + classes)
    return convs + fc + (2 * (c + c + 2 * c) if bn else 0)


def resnet_count(blocks, base: int, classes: int, bn: bool) -> int:
    """Closed form: bias-free 3x3 convs, option-A shortcuts, final linear."""
    total, c = 3 * base * 9, base
    bn_total = base
    for k, n in enumerate(blocks):
        out = base * 2**k
        for _ in range(n):
            total += c * out * 9 + out * out * 9
            bn_total += 2 * out
            c = out
    total += c * classes + classes
    return total + (2 * bn_total if bn else 0)


@pytest.mark.parametrize("bn", [False, True])
def test_cnn_matches_official_architecture(bn):
    model = build_model(ModelSpec("cnn", batchnorm=bn), IMG, 10, torch_gen(0, "i"))
    # 3*64*9+64 + 64*64*9+64 + 64*128*9+128 + 4608*512+512 + 512*10+10
    assert n_params(model) == cnn_count(64, 512, 10, bn)
    if not bn:
        assert n_params(model) == 2_477_514
    assert model(torch.zeros(2, *IMG)).shape == (2, 10)
    assert has_batchnorm(model) == bn


@pytest.mark.parametrize(
    ("name", "blocks"), [("resnet14", (2, 2, 2)), ("resnet10", (1, 1, 1, 1))]
)
@pytest.mark.parametrize("bn", [False, True])
def test_resnets_sizes_depths_and_batchnorm(name, blocks, bn):
    model = build_model(ModelSpec(name, batchnorm=bn), IMG, 10, torch_gen(0, "i"))
    assert n_params(model) == resnet_count(blocks, 16, 10, bn)
    weight_layers = [
        m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    assert len(weight_layers) == int(name.removeprefix("resnet"))
    assert has_batchnorm(model) == bn
    model.eval()
    assert model(torch.zeros(3, *IMG)).shape == (3, 10)


def test_resnet14_param_count_is_the_official_one():
    model = build_model(ModelSpec("resnet14"), IMG, 10, torch_gen(0, "i"))
    # He et al.'s CIFAR ResNet with [2, 2, 2] blocks and option-A shortcuts.
    assert n_params(model) == 171_578


def test_pad_shortcut_subsamples_and_zero_pads():
    x = torch.arange(2 * 4 * 4 * 4, dtype=torch.float64).reshape(2, 4, 4, 4)
    out = PadShortcut(stride=2, extra=4)(x)
    assert out.shape == (2, 8, 2, 2)
    torch.testing.assert_close(out[:, 2:6], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert out[:, :2].abs().sum() == 0 and out[:, 6:].abs().sum() == 0


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_init_scale_and_mode(mode):
    spec = ModelSpec("cnn", init_scale=0.3, init_mode=mode)
    model = build_model(spec, IMG, 10, torch_gen(1, "i"))
    w = model[3].weight.detach().double()  # conv 64 -> 64, 3x3
    fan = 64 * 9  # fan_in == fan_out for this layer
    expected = 0.3 * math.sqrt(2 / fan)
    # std of n iid normals: relative standard error 1/sqrt(2n); allow 4 SE.
    assert abs(w.std().item() / expected - 1) < 4 / math.sqrt(2 * w.numel())
    assert model[0].bias.abs().sum() == 0
    fc = model[-1].weight.detach().double()
    fan_fc = 512 if mode == "fan_in" else 10
    ratio = fc.std().item() / (0.3 * math.sqrt(2 / fan_fc))
    assert abs(ratio - 1) < 4 / math.sqrt(2 * fc.numel())


def test_builds_are_reproducible_and_mlp_stays_sequential():
    spec = ModelSpec("resnet10", batchnorm=True, init_scale=0.2)
    a = build_model(spec, IMG, 10, torch_gen(3, "i"))
    b = build_model(spec, IMG, 10, torch_gen(3, "i"))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    mlp = build_model(ModelSpec("mlp", width=8, depth=2), IMG, 10, torch_gen(0, "i"))
    assert isinstance(mlp, nn.Sequential)
    assert isinstance(mlp[0], nn.Flatten) and isinstance(mlp[1], nn.Linear)


def test_batchnorm_starts_as_identity_and_channels_option():
    spec = ModelSpec("resnet14", batchnorm=True, channels=8)
    model = build_model(spec, IMG, 10, torch_gen(0, "i"))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)
    assert model.linear.in_features == 32
    assert n_params(model) == resnet_count((2, 2, 2), 8, 10, True)


def test_spec_validation_and_small_inputs():
    with pytest.raises(ValueError, match="channels"):
        ModelSpec("cnn", channels=0)
    with pytest.raises(ValueError, match="init_mode"):
        ModelSpec("cnn", init_mode="uniform")
    with pytest.raises(ValueError, match="at least 10x10"):
        build_model(ModelSpec("cnn"), (3, 8, 8), 10, torch_gen(0, "i"))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        build_model(ModelSpec("resnet14"), (12,), 10, torch_gen(0, "i"))


def test_conv_nets_train_in_float64(torch_gen):
    model = build_model(ModelSpec("resnet10", channels=4), IMG, 3, torch_gen)
    model = model.double()
    x = torch.randn(4, *IMG, dtype=torch.float64, generator=torch_gen)
    out = model(x)
    out.square().sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
