"""Parity with torchvision's ResNets (the reference): same parameter counts, same output shapes, and
with torchvision's random weights loaded, the same outputs in fp32. Built from the constructors
with weights=None: nothing is downloaded."""

import pytest
import torch
from resnet.model import ResNet, imagenet_config, load_torchvision_state_dict, torchvision_key

torchvision = pytest.importorskip("torchvision")  # a test-only reference, in the root dev group


def randomise_batchnorm(model: torch.nn.Module) -> None:
    """Fresh BN layers are nearly the identity; random statistics make the comparison bite."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for t in (m.weight.data, m.bias.data, m.running_mean):
                t.copy_(torch.randn(t.shape, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("depth, extra", [(18, {}), (34, {}), (50, {"bottleneck_stride": "3x3"})])
def test_same_parameters_and_outputs_as_torchvision(depth, extra):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    randomise_batchnorm(ref)
    ref.eval()
    ours = ResNet(imagenet_config(depth, **extra)).eval()
    assert n_params(ours) == n_params(ref)
    load_torchvision_state_dict(ours, ref.state_dict())  # strict: every key finds its place
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert got.shape == expected.shape == (2, 1000)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("side", [1, 7, 17, 31])
def test_images_under_32_pixels_give_torchvision_outputs(side):
    # torchvision takes any image of at least one pixel; so does ours, with the same numbers.
    torch.manual_seed(0)
    ref = torchvision.models.resnet18(weights=None)
    randomise_batchnorm(ref)
    ref.eval()
    ours = ResNet(imagenet_config(18)).eval()
    load_torchvision_state_dict(ours, ref.state_dict())
    x = torch.randn(2, 3, side, side + 1)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_papers_resnet50_strides_the_first_1x1_and_so_differs_from_torchvision():
    ref = torchvision.models.resnet50(weights=None)
    randomise_batchnorm(ref)
    ref.eval()
    ours = ResNet(imagenet_config(50)).eval()  # the released Caffe models' placement: stride 2 on the first 1x1
    assert n_params(ours) == n_params(ref)  # where the stride sits changes no weight shape
    load_torchvision_state_dict(ours, ref.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert ours(x).shape == ref(x).shape
        assert not torch.allclose(ours(x), ref(x), atol=1e-3)


def test_key_renaming():
    assert torchvision_key("layer1.0.conv1.weight") == "conv2_x.0.conv1.weight"
    assert torchvision_key("layer4.0.downsample.1.running_var") == "conv5_x.0.shortcut.1.running_var"
    assert torchvision_key("fc.bias") == "fc.bias"
