"""The models of the family: small decoder-only Transformers, and the accounting of their compute.

The GPT-4 report (OpenAI, 2023, arXiv 2303.08774) says only that GPT-4 is "a Transformer-style model
pre-trained to predict the next token in a document" (Section 2); it gives no architecture. The family
here is GPT-2's pre-LN decoder at toy widths: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x)), a final
LayerNorm and an output layer tied to the token embedding. Every member has the same depth and shape
rules and differs only in d_model, so the members are "trained using the same methodology" and differ in
scale (Section 3.1).

Compute: C = 6 N D FLOPs (2 N per token forward, 4 N backward), N the non-embedding parameters and D
the tokens seen in training (Kaplan et al., 2020, Section 2.1). The x axis of the loss prediction.

Conventions: row vectors, `x @ W + b`; shapes [batch, seq, d_model].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class ModelConfig:
    vocab_size: int
    n_ctx: int = 18  # the longest line: <bos>, 16 characters, <eos>
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_ctx", "d_model", "n_layers", "n_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


class CausalSelfAttention(nn.Module):
    """head_i = softmax(Q_i K_iᵀ / √d_k + causal mask) V_i; out = Concat(head_1..head_H) W_o + b_o."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)  # W_q, W_k, W_v side by side
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        batch, t, d_model = x.shape
        q, k, v = self.W_qkv(x).split(d_model, dim=-1)  # 3 x [batch, t, d_model]
        q, k, v = (z.view(batch, t, self.n_heads, -1).transpose(1, 2) for z in (q, k, v))  # [batch, H, t, d_k]
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [batch, H, t, d_k]
        return self.W_o(out.transpose(1, 2).reshape(batch, t, d_model))  # [batch, t, d_model]


class Block(nn.Module):
    """Pre-LN: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x)), MLP = GELU(x W_1 + b_1) W_2 + b_2, d_ff = 4 d_model."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class DecoderLM(nn.Module):
    """Token + learned position embeddings, n_layers pre-LN blocks, final LayerNorm, tied output layer."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)

    def forward(self, idx: Tensor) -> Tensor:
        if idx.dim() != 2 or idx.shape[1] > self.cfg.n_ctx:
            raise ValueError(f"idx must be [batch, seq] with seq <= n_ctx={self.cfg.n_ctx}, got {list(idx.shape)}")
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)  # [batch, seq, d_model]
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok_emb.weight.T  # [batch, seq, vocab]: weights tied to the embedding


def non_embedding_params(model: DecoderLM) -> int:
    """N: every parameter except the token and position embeddings (the tied output adds none)."""
    embedding = model.tok_emb.weight.numel() + model.pos_emb.weight.numel()
    return sum(p.numel() for p in model.parameters()) - embedding


def training_compute(n_params: int, tokens: int) -> float:
    """C = 6 N D: FLOPs of a training run of D tokens on a model of N non-embedding parameters."""
    return 6.0 * n_params * tokens
