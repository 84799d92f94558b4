"""The networks: a small UNet that predicts the noise ε_θ(x_t, t), and the noisy classifier p_φ(y | x_t)
that guides it (Dhariwal and Nichol 2021, Section 4).

Reading order: the time embedding, the residual block with adaptive group norm, the self-attention
block, the UNet, then the classifier built from the UNet's downsampling half.
Conventions: images are [batch, channels, height, width]; shapes in trailing comments where they change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class UNetConfig:
    """in_channels: image channels (1 for digits). image_size: side of the square image (8).
    channels: width of the first level; the second level has 2 * channels. groups: GroupNorm groups.
    n_heads: heads of the self-attention at the lowest resolution. n_classes: classifier outputs."""

    in_channels: int = 1
    image_size: int = 8
    channels: int = 32
    groups: int = 8
    n_heads: int = 4
    n_classes: int = 10

    def __post_init__(self) -> None:
        for name in ("in_channels", "image_size", "channels", "groups", "n_heads", "n_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % 2:
            raise ValueError(f"model.image_size must be even (one 2x downsampling), got {self.image_size}")
        if self.channels % self.groups:
            raise ValueError(f"model.channels ({self.channels}) must be divisible by model.groups ({self.groups})")
        if (2 * self.channels) % self.n_heads:
            raise ValueError(f"model.n_heads ({self.n_heads}) must divide the attention width "
                             f"2 * channels = {2 * self.channels}")


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of the step index, as the Transformer embeds positions (DDPM, Section 4).

    t [batch] (integers 0..T-1) -> [batch, dim]: half sines, half cosines, at frequencies 1 / 10000^(i / half).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]  # [batch, half]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # [batch, dim]


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, twice, plus a skip connection. The time embedding enters through
    adaptive group norm (AdaGN, Dhariwal and Nichol Section 3): the second norm's output h becomes
    h * (1 + scale) + shift, with (scale, shift) a linear function of the embedding."""

    def __init__(self, c_in: int, c_out: int, d_time: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(d_time, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (guided-diffusion's zero_module)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # [batch, c_out, h, w]
        scale, shift = self.time(F.silu(emb))[:, :, None, None].chunk(2, dim=1)  # 2 x [batch, c_out, 1, 1]
        h = self.norm2(h) * (1 + scale) + shift  # AdaGN
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over the pixels of a feature map (the UNet's lowest resolution), residual.
    Each of the h * w positions is a token of width c; torch's scaled_dot_product_attention does
    softmax(Q Kᵀ / √d_head) V."""

    def __init__(self, c: int, n_heads: int, groups: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        nn.init.zeros_(self.proj.weight)  # starts as the identity
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, hh, ww = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # [batch, h*w, c]
        q, k, v = self.qkv(tokens).view(b, hh * ww, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # [batch, heads, h*w, d_head]
        out = self.proj(out.transpose(1, 2).reshape(b, hh * ww, c))  # [batch, h*w, c]
        return x + out.transpose(1, 2).view(b, c, hh, ww)


class TimeEmbedding(nn.Module):
    """t -> sinusoid of width c -> Linear, SiLU, Linear -> [batch, 4c] (DDPM's and guided-diffusion's MLP)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c = c
        self.mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.SiLU(), nn.Linear(4 * c, 4 * c))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.c))  # [batch, 4c]


def _check_input(x: Tensor, t: Tensor, cfg: UNetConfig) -> None:
    want = (cfg.in_channels, cfg.image_size, cfg.image_size)
    if x.dim() != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(f"x must be [batch, {', '.join(map(str, want))}], got {list(x.shape)}")
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must be [batch] = [{x.shape[0]}], got {list(t.shape)}")


class UNet(nn.Module):
    """ε_θ(x_t, t): two resolutions (image_size and image_size / 2), one residual block per level on
    each side, and residual block, self-attention, residual block in the middle at the lowest one.

    x [batch, in_channels, s, s], t [batch] -> predicted noise [batch, in_channels, s, s].
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, g, d_time = cfg.channels, cfg.groups, 4 * cfg.channels
        self.time = TimeEmbedding(c)
        self.conv_in = nn.Conv2d(cfg.in_channels, c, 3, padding=1)
        self.down0 = ResBlock(c, c, d_time, g)
        self.downsample = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.down1 = ResBlock(c, 2 * c, d_time, g)
        self.mid1 = ResBlock(2 * c, 2 * c, d_time, g)
        self.attn = AttentionBlock(2 * c, cfg.n_heads, g)
        self.mid2 = ResBlock(2 * c, 2 * c, d_time, g)
        self.up1 = ResBlock(4 * c, 2 * c, d_time, g)
        self.upsample = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up0 = ResBlock(3 * c, c, d_time, g)
        self.norm_out = nn.GroupNorm(g, c)
        self.conv_out = nn.Conv2d(c, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # an untrained model predicts ε = 0
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        _check_input(x, t, self.cfg)
        emb = self.time(t)  # [batch, 4c]
        h0 = self.down0(self.conv_in(x), emb)  # [batch, c, s, s]
        h1 = self.down1(self.downsample(h0), emb)  # [batch, 2c, s/2, s/2]
        h = self.mid2(self.attn(self.mid1(h1, emb)), emb)  # [batch, 2c, s/2, s/2]
        h = self.up1(torch.cat([h, h1], dim=1), emb)  # [batch, 4c -> 2c, s/2, s/2]
        h = self.upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))  # [batch, 2c, s, s]
        h = self.up0(torch.cat([h, h0], dim=1), emb)  # [batch, 3c -> c, s, s]
        return self.conv_out(F.silu(self.norm_out(h)))  # [batch, in_channels, s, s]


class NoisyClassifier(nn.Module):
    """p_φ(y | x_t, t): the UNet's downsampling half plus attention and a pooled linear head, trained on
    noised images at every step t (Dhariwal and Nichol Section 4: the classifier of guidance sees x_t).

    x [batch, in_channels, s, s], t [batch] -> logits [batch, n_classes].
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, g, d_time = cfg.channels, cfg.groups, 4 * cfg.channels
        self.time = TimeEmbedding(c)
        self.conv_in = nn.Conv2d(cfg.in_channels, c, 3, padding=1)
        self.down0 = ResBlock(c, c, d_time, g)
        self.downsample = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.down1 = ResBlock(c, 2 * c, d_time, g)
        self.attn = AttentionBlock(2 * c, cfg.n_heads, g)
        self.norm_out = nn.GroupNorm(g, 2 * c)
        self.head = nn.Linear(2 * c, cfg.n_classes)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        _check_input(x, t, self.cfg)
        emb = self.time(t)  # [batch, 4c]
        h = self.down1(self.downsample(self.down0(self.conv_in(x), emb)), emb)  # [batch, 2c, s/2, s/2]
        h = F.silu(self.norm_out(self.attn(h))).mean(dim=(2, 3))  # [batch, 2c]
        return self.head(h)  # [batch, n_classes]
