"""The paper's blocks and networks: shapes, shortcuts, depths, gradient flow and bad input."""

import pytest
import torch
from resnet.model import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ResNetConfig,
    ZeroPadShortcut,
    cifar_config,
    imagenet_config,
)
from torch import nn


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("depth", [20, 32, 44, 56])
@pytest.mark.parametrize("residual", [False, True])
def test_cifar_family_shapes_and_depth(depth, residual):
    cfg = cifar_config(depth, residual, in_channels=1)
    assert cfg.depth == depth and cfg.layers == ((depth - 2) // 6,) * 3
    net = ResNet(cfg).eval()
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert net.features(torch.randn(2, 1, 8, 8)).shape == (2, 64, 2, 2)  # 8 -> 4 -> 2, 64 filters


def test_paper_cifar_parameter_counts_with_option_a():
    # Section 4.2 / Table 6: ResNet-20 0.27M, 32 0.46M, 44 0.66M, 56 0.85M, 110 1.7M parameters.
    for depth, millions in ((20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)):
        assert round(n_params(ResNet(cifar_config(depth, shortcut="A"))) / 1e6, 2 if depth < 110 else 1) == millions


def test_plain_and_residual_differ_only_by_projections():
    plain, res_a, res_b = (ResNet(cifar_config(20, r, shortcut=s)) for r, s in ((False, "A"), (True, "A"), (True, "B")))
    assert n_params(plain) == n_params(res_a)  # option A is parameter-free
    # Option B adds two 1x1 projections + BN: 16 -> 32 and 32 -> 64.
    assert n_params(res_b) - n_params(plain) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert all(b.shortcut is None for s in plain.stages for b in s)


@pytest.mark.parametrize("depth, blocks", [(18, (2, 2, 2, 2)), (34, (3, 4, 6, 3)), (50, (3, 4, 6, 3))])
def test_imagenet_family_depth_and_shape(depth, blocks):
    cfg = imagenet_config(depth)
    assert cfg.depth == depth and cfg.layers == blocks
    net = ResNet(cfg).eval()
    assert net.features(torch.randn(1, 3, 64, 64)).shape == (1, 512 * cfg.expansion, 2, 2)  # 64 / 32


def test_identity_shortcut_is_identity_and_zero_branch_does_nothing():
    block = BasicBlock(8, 8).eval()
    assert isinstance(block.shortcut, nn.Identity)
    nn.init.zeros_(block.bn2.weight)  # F(x) = BN with gamma 0 = beta = 0
    x = torch.randn(3, 8, 5, 5).relu()  # a previous block's output is non-negative
    torch.testing.assert_close(block(x), x, atol=0, rtol=0)


def test_zero_init_residual_makes_every_block_start_as_identity():
    net = ResNet(cifar_config(14, zero_init_residual=True)).eval()
    x = torch.randn(2, 16, 8, 8).relu()
    torch.testing.assert_close(net.conv2_x(x), x, atol=0, rtol=0)
    plain = ResNet(cifar_config(14, residual=False, zero_init_residual=True))
    assert all((b.bn2.weight == 1).all() for s in plain.stages for b in s)  # plain nets are untouched


def test_projection_shortcut_when_stride_or_width_changes():
    block = BasicBlock(16, 32, stride=2)
    conv, bn = block.shortcut
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.out_channels == 32
    assert isinstance(bn, nn.BatchNorm2d)
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)
    assert isinstance(Bottleneck(64, 64).shortcut, nn.Sequential)  # 64 -> 256 channels needs a projection
    assert isinstance(Bottleneck(256, 64).shortcut, nn.Identity)


def test_option_a_takes_every_second_pixel_and_pads_channels_with_zeros():
    x = torch.randn(2, 4, 6, 6)
    y = ZeroPadShortcut(4, 8, 2)(x)
    assert y.shape == (2, 8, 3, 3)
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2])
    assert (y[:, 4:] == 0).all()


@pytest.mark.parametrize("stride_on, strides", [("1x1", ((2, 2), (1, 1))), ("3x3", ((1, 1), (2, 2)))])
def test_bottleneck_stride_placement(stride_on, strides):
    block = Bottleneck(64, 32, stride=2, stride_on=stride_on)
    assert (block.conv1.stride, block.conv2.stride) == strides
    assert block(torch.randn(1, 64, 8, 8)).shape == (1, 128, 4, 4)


@pytest.mark.parametrize("cfg", [cifar_config(8, True, in_channels=1), cifar_config(8, False, in_channels=1),
                                 ResNetConfig(block="bottleneck", layers=(1, 1), widths=(4, 8), in_channels=1)])
def test_gradient_reaches_every_parameter(cfg):
    torch.manual_seed(0)
    net = ResNet(cfg)
    net(torch.randn(4, 1, 8, 8)).logsumexp(-1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: cifar_config(21), "6n \\+ 2"),
        (lambda: cifar_config(2), "6n \\+ 2"),
        (lambda: imagenet_config(20), "ImageNet-style depth"),
        (lambda: ResNetConfig(layers=(1, 1), widths=(4,)), "same, non-zero length"),
        (lambda: ResNetConfig(shortcut="C"), "shortcut must be one of"),
        (lambda: ResNetConfig(n_classes=0), "n_classes must be >= 1"),
    ],
)
def test_impossible_configs_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "shape, message",
    [((2, 3, 8, 8), "must have 1 channels, got 3"), ((1, 8, 8), r"\[batch, channels, height, width\]"),
     ((2, 1, 0, 8), "at least 1x1, got 0x8")],
)
def test_bad_images_are_rejected(shape, message):
    with pytest.raises(ValueError, match=message):
        ResNet(cifar_config(8, in_channels=1))(torch.randn(shape))


@pytest.mark.parametrize("side", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_small_images_shrink_to_a_one_pixel_map_and_still_classify(side, shortcut):
    # Every stride-2 step maps a side s to ceil(s / 2), on the main path and on both kinds of shortcut.
    net = ResNet(cifar_config(14, in_channels=1, shortcut=shortcut)).eval()
    x = torch.randn(2, 1, side, side)
    expected = -(-side // 4)  # ceil(side / 4): two halvings
    assert net.features(x).shape == (2, 64, expected, expected)
    assert net(x).shape == (2, 10)
    imagenet = ResNet(imagenet_config(18)).eval()
    assert imagenet(torch.randn(1, 3, side, side)).shape == (1, 1000)  # 7x7/2 conv and max pool included
