"""The Vision Transformer of Dosovitskiy et al. (2020), "An Image is Worth 16x16 Words", in the paper's order.

Section 3.1, Eq. 1   split the image into N = HW / P^2 patches, project each with E, prepend x_class,
                     add learned position embeddings E_pos
Section 3.1, Eq. 2-3 L pre-LN encoder blocks: z' = MSA(LN(z)) + z, z = MLP(LN(z')) + z'
Section 3.1, Eq. 4   y = LN(z_L^0), the class token's final state, read by a linear head
Appendix D.8         attention rollout (Abnar and Zuidema, 2020) to see where the class token looks

Plus the baseline the paper compares against in spirit: a small CNN, whose convolutions build in
the locality and translation equivariance that the ViT has to learn from data.

Conventions: row vectors, `x @ W + b`; shapes are [batch, seq, d_model] with seq = N + 1 (the
class token first); images are [batch, channels, height, width].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ViTConfig:
    image_size: int = 8  # H = W
    patch_size: int = 2  # P: each patch is P x P pixels
    in_channels: int = 1  # C: 1 for grey digits, 3 for colour
    n_classes: int = 10
    d_model: int = 64  # D in the paper: the width of every token
    n_heads: int = 4  # H: attention heads
    d_ff: int = 128  # the paper's "MLP size"
    n_layers: int = 4  # L: encoder blocks
    dropout: float = 0.1  # on embeddings and on every sublayer output
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "in_channels", "n_classes", "d_model", "n_heads", "d_ff",
                     "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % self.patch_size != 0:
            raise ValueError(f"image_size ({self.image_size}) must be divisible by patch_size ({self.patch_size})")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2  # N in the paper

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


# --- Eq. 1: patches, the class token and position embeddings --------------------------------------------


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images [batch, C, H, W] into flattened patches x_p: [batch, N, P*P*C], row by row.

    Each patch is flattened as (row, column, channel), the order of a [P, P, C] block.
    """
    batch, c, h, w = images.shape
    p = patch_size
    x = images.reshape(batch, c, h // p, p, w // p, p)  # [batch, C, H/P, P, W/P, P]
    x = x.permute(0, 2, 4, 3, 5, 1)  # [batch, H/P, W/P, P, P, C]
    return x.reshape(batch, (h // p) * (w // p), p * p * c)  # [batch, N, P*P*C]


class PatchEmbedding(nn.Module):
    """x_p E for every patch: a convolution with kernel = stride = P is exactly a linear map on each
    non-overlapping patch, computed without building the [batch, N, P*P*C] table first."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Conv2d(cfg.in_channels, cfg.d_model, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    @property
    def E(self) -> Tensor:
        """The paper's E as a [P*P*C, D] matrix, in `patchify`'s (row, column, channel) order."""
        return self.proj.weight.permute(2, 3, 1, 0).reshape(-1, self.cfg.d_model)

    def forward(self, images: Tensor) -> Tensor:
        cfg = self.cfg
        if images.dim() != 4:
            raise ValueError(f"images must be [batch, channels, height, width], got {list(images.shape)}")
        if images.size(1) != cfg.in_channels:
            raise ValueError(f"images have {images.size(1)} channels, the model expects in_channels={cfg.in_channels}")
        if images.shape[-2:] != (cfg.image_size, cfg.image_size):
            raise ValueError(f"images are {images.size(-2)}x{images.size(-1)}, the model expects "
                             f"image_size={cfg.image_size} ({cfg.image_size}x{cfg.image_size})")
        x = self.proj(images)  # [batch, D, H/P, W/P]
        return x.flatten(2).transpose(1, 2)  # [batch, N, D], patches in row-major order


# --- Eq. 2: multi-head self-attention ---------------------------------------------------------------------


def attention(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(d_k)) v, written out so the weights can be looked at.

    q, k, v: [batch, H, seq, d_k] -> output [batch, H, seq, d_k], weights [batch, H, seq, seq].
    No mask: every token may look at every other token, patches and class token alike.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # [batch, H, seq, seq]
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


class MultiHeadSelfAttention(nn.Module):
    """MSA(z) = Concat(head_1, ..., head_H) W_o, head_h = softmax(q_h k_h^T / sqrt(d_k)) v_h,
    with q_h, k_h, v_h the h-th slices of z W_q, z W_k, z W_v (the paper's Appendix A)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads, self.d_k = n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.n_heads, self.d_k).transpose(1, 2)  # [batch, H, seq, d_k]

    def forward(self, z: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """z [batch, seq, d_model] -> [batch, seq, d_model], and the weights [batch, H, seq, seq] if asked.

        Training uses the fused kernel (flash or memory-efficient attention on a GPU), which never
        stores the weights; need_weights=True runs the explicit formula for figures and tests.
        """
        q, k, v = (self._split_heads(W(z)) for W in (self.W_q, self.W_k, self.W_v))  # [batch, H, seq, d_k]
        if need_weights:
            out, weights = attention(q, k, v)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v), None
        batch, _, seq, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, seq, self.n_heads * self.d_k)  # concat heads: [batch, seq, d_model]
        return self.W_o(out), weights


# --- Eq. 3: the MLP ---------------------------------------------------------------------------------------


class MLP(nn.Module):
    """Two layers with a GELU between: GELU(z W_1 + b_1) W_2 + b_2 (the paper's Section 3.1)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.W_1 = nn.Linear(d_model, d_ff)
        self.W_2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, z: Tensor) -> Tensor:
        # Exact (erf) GELU, as Hugging Face's ViT ("gelu") uses; the paper's released code (flax's
        # nn.gelu default) uses the tanh approximation, at most 4.7e-4 away.
        return self.W_2(self.drop(F.gelu(self.W_1(z))))  # [batch, seq, d_ff] inside, [batch, seq, d_model] out


# --- Eq. 2-3: one pre-LN encoder block --------------------------------------------------------------------


class EncoderBlock(nn.Module):
    """z' = MSA(LN(z)) + z, then z = MLP(LN(z')) + z'. The norm sits *before* each sublayer (pre-LN),
    so the residual path from input to output is a plain sum, which trains without warmup tricks."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.msa = MultiHeadSelfAttention(cfg.d_model, cfg.n_heads)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, z: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        attn, weights = self.msa(self.norm1(z), need_weights)
        z = z + self.drop(attn)  # Eq. 2
        z = z + self.drop(self.mlp(self.norm2(z)))  # Eq. 3
        return z, weights


# --- The model --------------------------------------------------------------------------------------------


class VisionTransformer(nn.Module):
    """Patches -> tokens, a learned class token in front, learned positions, L encoder blocks, a final
    LayerNorm, and a linear head on the class token (the fine-tuning head of Section 3.1)."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbedding(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))  # x_class, the same for every image
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.n_patches + 1, cfg.d_model))  # E_pos, one row per token
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The reference code's choices: small normal position embeddings, Xavier-uniform linear
        # layers with zero biases, and a zero head so every class starts at the same logit.
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        fan_in = self.cfg.in_channels * self.cfg.patch_size**2
        nn.init.trunc_normal_(self.patch_embed.proj.weight, std=math.sqrt(1.0 / fan_in))  # LeCun normal
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def embed(self, images: Tensor) -> Tensor:
        """Eq. 1: z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos -> [batch, N + 1, d_model]."""
        x = self.patch_embed(images)  # [batch, N, d_model]
        cls = self.cls_token.expand(x.size(0), -1, -1)  # [batch, 1, d_model]
        return self.drop(torch.cat([cls, x], dim=1) + self.pos_embed)  # [batch, N + 1, d_model]

    def encode(self, images: Tensor, need_weights: bool = False) -> tuple[Tensor, list]:
        """Images -> LN(z_L) [batch, N + 1, d_model] (Hugging Face's last_hidden_state), attention per block."""
        z, maps = self.embed(images), []
        for block in self.blocks:
            z, w = block(z, need_weights)
            maps.append(w)
        return self.norm(z), maps

    def forward(self, images: Tensor) -> Tensor:
        z, _ = self.encode(images)
        y = z[:, 0]  # Eq. 4: y = LN(z_L^0), the class token only: [batch, d_model]
        return self.head(y)  # [batch, n_classes]


def attention_rollout(maps: list[Tensor]) -> Tensor:
    """Attention rollout (Abnar and Zuidema, 2020; the paper's Appendix D.8).

    Average each layer's weights over heads, add the identity for the residual path and renormalise
    rows, then multiply the layers together: R = A_L' ... A_1'. Row 0 of R says how much each input
    token flows into the class token's final state.
    maps: per layer [batch, H, seq, seq] -> [batch, seq, seq].
    """
    if not maps or any(m is None for m in maps):
        raise ValueError("attention_rollout needs every layer's weights: call encode(images, need_weights=True)")
    seq = maps[0].size(-1)
    eye = torch.eye(seq, device=maps[0].device, dtype=maps[0].dtype)
    rollout = eye.expand_as(maps[0][:, 0])  # [batch, seq, seq]
    for weights in maps:
        a = weights.mean(1) + eye  # heads averaged, plus the residual connection
        a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout  # later layers act on what earlier layers already mixed
    return rollout


# --- The baseline: a small convolutional network ---------------------------------------------------------


class SmallCNN(nn.Module):
    """Three 3x3 convolutions with a 2x2 max-pool and global average pooling, then a linear head.

    Locality (each output sees a 3x3 neighbourhood) and weight sharing across positions are built
    in: exactly the image-specific inductive bias the paper says the ViT lacks.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),  # [batch, width, H/2, W/2]
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),  # [batch, 2 * width, 1, 1]
        )
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4:
            raise ValueError(f"images must be [batch, channels, height, width], got {list(images.shape)}")
        return self.head(self.features(images).flatten(1))  # [batch, n_classes]
