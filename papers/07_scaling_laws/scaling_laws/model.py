"""The models the sweep trains, and the paper's accounting of parameters and compute.

Kaplan et al. (2020), arXiv 2001.08361, Section 2.1 and Table 1: a decoder-only Transformer whose
size is measured by N, the number of NON-EMBEDDING parameters (the token and position embeddings
are left out), and whose training compute is C ≈ 6 N FLOPs per token (2 N for the forward pass,
twice that for the backward pass).

The decoder is GPT-2's pre-LN block, small: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x)), a final
LayerNorm, and an output layer tied to the token embedding (so it adds nothing to N). Table 1's
shapes: d_attn = d_model (n_heads heads of d_model / n_heads) and d_ff = 4 d_model.

Conventions: row vectors, `x @ W + b`; shapes [batch, seq, d_model].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ModelConfig:
    vocab_size: int  # 36 characters in the default run
    n_ctx: int = 64  # context length (the paper: 1024 BPE tokens)
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None  # None: 4 d_model, as in Table 1

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        for name in ("vocab_size", "n_ctx", "d_model", "n_layers", "n_heads", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


class CausalSelfAttention(nn.Module):
    """head_i = softmax(Q_i K_iᵀ / √d_k + causal mask) V_i; out = Concat(head_1..head_H) W_o + b_o."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)  # W_q, W_k, W_v side by side: Table 1's 3 d_model d_attn
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)  # Table 1's "attention: project", d_attn d_model

    def forward(self, x: Tensor) -> Tensor:
        batch, t, d_model = x.shape
        q, k, v = self.W_qkv(x).split(d_model, dim=-1)  # 3 x [batch, t, d_model]
        q, k, v = (z.view(batch, t, self.n_heads, -1).transpose(1, 2) for z in (q, k, v))  # [batch, H, t, d_k]
        # is_causal: query i sees keys 0..i only (the fused kernel skips the masked half on a GPU).
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [batch, H, t, d_k]
        return self.W_o(out.transpose(1, 2).reshape(batch, t, d_model))  # [batch, t, d_model]


class MLP(nn.Module):
    """GELU(x W_1 + b_1) W_2 + b_2, inner width d_ff: Table 1's feed-forward, 2 d_model d_ff weights."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.W_2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.gelu(self.W_1(x), approximate="tanh"))  # [batch, t, d_ff] inside


class Block(nn.Module):
    """Pre-LN: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class DecoderLM(nn.Module):
    """Token + learned position embeddings, n_layers pre-LN blocks, final LayerNorm, tied output layer."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # embedding: not counted in N
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)  # embedding: not counted in N
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights, zero biases, residual projections 0.02 / √(2 n_layers)."""
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith(("W_o.weight", "W_2.weight")):
                nn.init.normal_(p, std=residual_std)
            elif p.dim() >= 2:
                nn.init.normal_(p, std=0.02)
            elif "ln_" in name and name.endswith("weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx: Tensor) -> Tensor:
        """Token ids [batch, t] -> next-token logits [batch, t, vocab]; position i sees tokens 0..i."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be token ids [batch, seq], got shape {list(idx.shape)}")
        t = idx.size(1)
        if t > self.cfg.n_ctx:
            raise ValueError(f"sequence length {t} exceeds the context n_ctx = {self.cfg.n_ctx}")
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))  # [batch, t, d_model]
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied output layer: [batch, t, vocab]


# --- The paper's accounting ------------------------------------------------------------------------


def non_embedding_params(model: DecoderLM) -> int:
    """N as the paper defines it (Section 2.1): every parameter except the token and position
    embeddings. Exact: the biases and LayerNorm gains Table 1 neglects are included."""
    embedding = {id(model.wte.weight), id(model.wpe.weight)}
    return sum(p.numel() for p in model.parameters() if id(p) not in embedding)


def table1_params(n_layers: int, d_model: int, d_attn: int, d_ff: int) -> int:
    """Table 1's non-embedding count, weights only: 2 d_model n_layer (2 d_attn + d_ff)."""
    return 2 * d_model * n_layers * (2 * d_attn + d_ff)


def approx_params(n_layers: int, d_model: int) -> int:
    """Table 1 with d_attn = d_model and d_ff = 4 d_model: N ≈ 12 n_layer d_model²."""
    return 12 * n_layers * d_model**2


def exact_params(n_layers: int, d_model: int) -> int:
    """Our model's N in closed form: Table 1's 12 n d² weights, plus per layer the biases (3d + d + 4d + d)
    and two LayerNorms (2 x 2d), i.e. 13 d, plus the final LayerNorm's 2 d."""
    return 12 * n_layers * d_model**2 + 13 * n_layers * d_model + 2 * d_model


def forward_flops_per_token(n_params: int, n_layers: int, n_ctx: int, d_attn: int) -> int:
    """Table 1's C_forward ≈ 2 N + 2 n_layer n_ctx d_attn (the second term: attention scores and sums)."""
    return 2 * n_params + 2 * n_layers * n_ctx * d_attn


def training_flops(n_params: int, tokens: int | float) -> float:
    """C ≈ 6 N per training token (forward 2 N, backward 4 N; Section 2.1), in FLOPs."""
    return 6.0 * n_params * tokens
