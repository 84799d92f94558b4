"""Deep residual networks of He, Zhang, Ren and Sun (2015), "Deep Residual Learning for Image
Recognition", in the paper's order.

Section 3.2   the building block y = F(x, {W_i}) + x, and the projection shortcut y = F(x) + x W_s
Section 3.3   plain and residual networks built from the same layers (Figure 3, Table 1)
Section 4.1   the deeper "bottleneck" block: 1x1 reduce, 3x3, 1x1 restore (Figure 5)
Section 4.2   the CIFAR-10 family: 6n + 2 layers, 3 stages of 2n layers with 16, 32, 64 filters

One `ResNet` class builds every network in the paper from a `ResNetConfig`: `residual=False`
removes the shortcuts and nothing else, which is the paper's controlled comparison (plain and
residual nets with the same depth, width, parameters and cost). The ImageNet presets follow the
layout of `torchvision.models.resnet` so its state_dict loads after a key rename
(`torchvision_key`).

Conventions: images are [batch, channels, height, width]. A convolution is a matrix product
`x W` applied at every pixel to the patch around it (a 1x1 convolution is exactly `x W` per pixel);
shapes are stated in trailing comments where they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ResNetConfig:
    block: Literal["basic", "bottleneck"] = "basic"  # Figure 5 left (two 3x3) or right (1x1, 3x3, 1x1)
    layers: tuple[int, ...] = (3, 3, 3)  # blocks per stage; (3, 3, 3) with basic blocks is ResNet-20
    widths: tuple[int, ...] = (16, 32, 64)  # filters per stage (a bottleneck stage outputs 4x this)
    stem: Literal["cifar", "imagenet"] = "cifar"  # 3x3 conv (Section 4.2) or 7x7/2 conv + 3x3/2 max pool (Table 1)
    residual: bool = True  # False: the plain counterpart, same layers without shortcuts
    shortcut: Literal["A", "B"] = "B"  # where the shape changes: A = zero-padded identity, B = 1x1 projection
    bottleneck_stride: Literal["1x1", "3x3"] = "1x1"  # original Caffe models: on the first 1x1; torchvision: the 3x3
    in_channels: int = 3
    n_classes: int = 10
    zero_init_residual: bool = False  # not the paper: start every residual branch at F(x) = 0 (Goyal et al. 2017)

    def __post_init__(self) -> None:
        self.layers, self.widths = tuple(self.layers), tuple(self.widths)
        if len(self.layers) != len(self.widths) or not self.layers:
            raise ValueError(f"layers {self.layers} and widths {self.widths} must have the same, non-zero length")
        for name in ("in_channels", "n_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if min(self.layers) < 1 or min(self.widths) < 1:
            raise ValueError(f"every stage needs >= 1 block and >= 1 filter, got layers {self.layers}, "
                             f"widths {self.widths}")
        choices = {"block": ("basic", "bottleneck"), "stem": ("cifar", "imagenet"), "shortcut": ("A", "B"),
                   "bottleneck_stride": ("1x1", "3x3")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1  # a bottleneck block outputs 4 x its inner width

    @property
    def depth(self) -> int:
        """Weighted layers, counted as the paper counts them: convolutions on the main path plus the classifier."""
        per_block = 3 if self.block == "bottleneck" else 2
        return 1 + per_block * sum(self.layers) + 1


def cifar_config(depth: int, residual: bool = True, **overrides) -> ResNetConfig:
    """The Section 4.2 family: depth = 6n + 2, three stages of n basic blocks (2n layers) each."""
    if depth < 8 or (depth - 2) % 6 != 0:
        raise ValueError(f"CIFAR-style depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), got {depth}")
    n = (depth - 2) // 6
    return ResNetConfig(**{"layers": (n, n, n), "widths": (16, 32, 64), "residual": residual, **overrides})


IMAGENET_LAYERS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
                   101: ("bottleneck", (3, 4, 23, 3)), 152: ("bottleneck", (3, 8, 36, 3))}  # Table 1


def imagenet_config(depth: int, residual: bool = True, **overrides) -> ResNetConfig:
    """The Table 1 networks: ResNet-18/34 with basic blocks, ResNet-50/101/152 with bottlenecks."""
    if depth not in IMAGENET_LAYERS:
        raise ValueError(f"ImageNet-style depth must be one of {sorted(IMAGENET_LAYERS)}, got {depth}")
    block, layers = IMAGENET_LAYERS[depth]
    return ResNetConfig(**{"block": block, "layers": layers, "widths": (64, 128, 256, 512), "stem": "imagenet",
                           "in_channels": 3, "n_classes": 1000, "residual": residual, **overrides})


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    # No bias: the BatchNorm right after subtracts the mean, which would cancel any bias.
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False)


# --- 3.2 Shortcuts ----------------------------------------------------------------------------------


class ZeroPadShortcut(nn.Module):
    """Option A: identity where the shape changes, by taking every second pixel and padding the new
    channels with zeros. No parameters, so a residual net has exactly its plain net's parameters."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # [batch, c_in, h / stride, w / stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # [batch, c_out, h / stride, w / stride]


def make_shortcut(c_in: int, c_out: int, stride: int, option: str) -> nn.Module:
    """y = F(x) + x where shapes match (Eq. 1); otherwise option A or option B, y = F(x) + x W_s (Eq. 2)."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    if option == "A":
        return ZeroPadShortcut(c_in, c_out, stride)
    # W_s as a strided 1x1 convolution, batch-normalised like every other convolution (torchvision's
    # `downsample`).
    return nn.Sequential(conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out))


# --- 3.3 The building blocks --------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Figure 2 / Figure 5 left: two 3x3 convolutions, BN after each, ReLU after the addition.

    residual:  y = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x))
    plain:     y = ReLU(BN(conv(ReLU(BN(conv(x))))))
    """

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1, residual: bool = True, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1, self.bn1 = conv3x3(c_in, width, stride), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width), nn.BatchNorm2d(width)
        self.shortcut = make_shortcut(c_in, width, stride, shortcut) if residual else None

    def residual_function(self, x: Tensor) -> Tensor:
        """F(x): what the block adds to its input. [batch, c_in, h, w] -> [batch, width, h / stride, w / stride]."""
        out = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual_function(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # the identity path: a block that should do nothing sets F(x) = 0
        return F.relu(out)


class Bottleneck(nn.Module):
    """Figure 5 right: 1x1 reduces the channels to `width`, 3x3 works at that width, 1x1 restores 4 x width.

    Keeps a 50/101/152-layer net at about the cost of a 34-layer one. The authors' released Caffe
    models put the stride-2 on the first 1x1 (the paper's text does not say which convolution);
    torchvision puts it on the 3x3 ("ResNet v1.5"), which sees every input pixel instead of one in
    four. `stride_on` chooses.
    """

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1, residual: bool = True, shortcut: str = "B",
                 stride_on: str = "1x1") -> None:
        super().__init__()
        c_out = width * self.expansion
        s1, s3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1, self.bn1 = conv1x1(c_in, width, s1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width, s3), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv1x1(width, c_out), nn.BatchNorm2d(c_out)
        self.shortcut = make_shortcut(c_in, c_out, stride, shortcut) if residual else None

    def residual_function(self, x: Tensor) -> Tensor:
        """[batch, c_in, h, w] -> [batch, width, ...] -> [batch, 4 * width, h / stride, w / stride]."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual_function(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


# --- The network ------------------------------------------------------------------------------------


class ResNet(nn.Module):
    """Stem, then stages conv2_x, conv3_x, ... (Table 1's names), global average pool, fully connected.

    The first block of every stage after the first halves the feature map (stride 2) and the stage
    widens the channels, keeping the cost per layer about constant (Section 3.3's two rules).
    """

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.stem == "imagenet":
            c = cfg.widths[0]
            self.conv1 = nn.Conv2d(cfg.in_channels, c, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            c = cfg.widths[0]
            self.conv1, self.maxpool = conv3x3(cfg.in_channels, c), nn.Identity()
        self.bn1 = nn.BatchNorm2d(c)
        self.stage_names = [f"conv{i + 2}_x" for i in range(len(cfg.layers))]
        for i, (name, n_blocks, width) in enumerate(zip(self.stage_names, cfg.layers, cfg.widths)):
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                if cfg.block == "bottleneck":
                    block = Bottleneck(c, width, stride, cfg.residual, cfg.shortcut, cfg.bottleneck_stride)
                else:
                    block = BasicBlock(c, width, stride, cfg.residual, cfg.shortcut)
                blocks.append(block)
                c = width * cfg.expansion
            setattr(self, name, nn.Sequential(*blocks))
        self.fc = nn.Linear(c, cfg.n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # He et al. (2015b) initialisation, which the paper uses: variance 2 / fan so that ReLU layers
        # keep the signal's scale; BN starts as the identity (gamma 1, beta 0). torchvision does the same.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.cfg.zero_init_residual and self.cfg.residual:
            # The last BN of each residual branch starts with gamma = 0, so F(x) = 0 and every block is
            # exactly the identity (plus ReLU) at step 0: "do nothing" is where training starts.
            for block in self.modules():
                if isinstance(block, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(block.bn3.weight if isinstance(block, Bottleneck) else block.bn2.weight)

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, name) for name in self.stage_names]

    def check_input(self, x: Tensor) -> None:
        cfg = self.cfg
        if x.dim() != 4:
            raise ValueError(f"images must be [batch, channels, height, width], got shape {list(x.shape)}")
        if x.size(1) != cfg.in_channels:
            raise ValueError(f"images must have {cfg.in_channels} channels, got {x.size(1)} (shape {list(x.shape)})")
        # Any side >= 1 works, as in torchvision: every stride-2 step maps a side s to ceil(s / 2) >= 1 (the
        # 3x3 convolutions are padded, and option A's every-second-pixel slice gives the same ceil(s / 2)),
        # and the global average pool takes whatever map is left. Small images just end on a 1x1 map.
        if min(x.shape[-2:]) < 1:
            raise ValueError(f"images must be at least 1x1, got {x.size(2)}x{x.size(3)}")

    def features(self, x: Tensor) -> Tensor:
        """[batch, in_channels, H, W] -> [batch, widths[-1] * expansion, H / s, W / s] (s = 4 or 32, rounded up)."""
        self.check_input(x)
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))  # [batch, widths[0], H, W] or [.., H/4, W/4]
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = x.mean(dim=(2, 3))  # global average pooling: [batch, channels]
        return self.fc(x)  # [batch, n_classes]


def resnet18(**overrides) -> ResNet:
    return ResNet(imagenet_config(18, **overrides))


def resnet34(**overrides) -> ResNet:
    return ResNet(imagenet_config(34, **overrides))


def resnet50(**overrides) -> ResNet:
    return ResNet(imagenet_config(50, **overrides))


def torchvision_key(key: str) -> str:
    """torchvision's state_dict key -> ours: `layer1` is Table 1's `conv2_x`, `downsample` is the shortcut."""
    if key.startswith("layer"):
        stage, rest = key[len("layer"):].split(".", 1)
        key = f"conv{int(stage) + 1}_x.{rest}"
    return key.replace(".downsample.", ".shortcut.")


def load_torchvision_state_dict(model: ResNet, state_dict: dict) -> None:
    """Load a torchvision ResNet's weights (strict: every tensor must find its place)."""
    model.load_state_dict({torchvision_key(k): v for k, v in state_dict.items()}, strict=True)
