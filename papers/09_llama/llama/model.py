"""LLaMA (Touvron et al., 2023), "Open and Efficient Foundation Language Models", in the paper's order.

Section 2.2 lists the three changes LLaMA makes to the GPT-style decoder, and this file builds them
so that each one can be switched back to its GPT-2 form for the ablation:

    pre-normalisation with RMSNorm (Zhang and Sennrich, 2019)      norm = "rmsnorm" | "layernorm"
    SwiGLU feed-forward, hidden 2/3 * 4 d_model (Shazeer, 2020)    mlp = "swiglu" | "gelu"
    rotary position embeddings, RoPE (Su et al., 2021)             positions = "rope" | "learned"
    and no bias in any linear layer                                bias = False | True

Grouped-query attention (Ainslie et al., 2023; LLaMA 2's larger models) is the optional
`n_kv_heads` setting. Generation keeps a key/value cache.

Conventions: row vectors, `x W`; shapes are [batch, seq, d_model]; H heads of width d_head.
RoPE rotates *adjacent* pairs of dimensions (0, 1), (2, 3), ... as Meta's original code does with
complex numbers; Hugging Face pairs dimension i with i + d_head / 2 instead, and `llama.convert`
permutes the query and key weights between the two layouts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KVCache = list[tuple[Tensor, Tensor]]  # per layer: keys and values [batch, n_kv_heads, seq, d_head]


@dataclass
class ModelConfig:
    vocab_size: int = 81
    d_model: int = 64  # width of every token vector ("dimension" in the paper's Table 2)
    n_layers: int = 4  # N
    n_heads: int = 4  # H
    n_kv_heads: int | None = None  # grouped-query attention: key/value heads shared by H / n_kv_heads queries
    d_ff: int = 172  # hidden width of the feed-forward network (SwiGLU: 2/3 * 4 * d_model)
    max_seq_len: int = 128  # context length (LLaMA: 2048)
    norm: str = "rmsnorm"  # "rmsnorm" (LLaMA) or "layernorm" (GPT-2)
    mlp: str = "swiglu"  # "swiglu" (LLaMA) or "gelu" (GPT-2)
    positions: str = "rope"  # "rope" (LLaMA) or "learned" absolute embeddings (GPT-2)
    bias: bool = False  # biases in linear layers and LayerNorm (LLaMA: none; GPT-2: everywhere)
    norm_eps: float = 1e-6  # LLaMA's RMSNorm epsilon
    rope_theta: float = 10000.0  # base of RoPE's frequencies
    tie_embeddings: bool = False  # share the input embedding with the output layer (GPT-2 does, LLaMA does not)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads != 0:
            raise ValueError(f"n_heads ({self.n_heads}) must be divisible by n_kv_heads ({self.n_kv_heads})")
        if self.positions == "rope" and self.d_head % 2 != 0:
            raise ValueError(f"RoPE rotates pairs of dimensions: d_head ({self.d_head}) must be even")
        for name, allowed in (("norm", ("rmsnorm", "layernorm")), ("mlp", ("swiglu", "gelu")),
                              ("positions", ("rope", "learned"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.norm_eps <= 0 or self.rope_theta <= 0:
            raise ValueError(f"norm_eps and rope_theta must be > 0, got {self.norm_eps} and {self.rope_theta}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def llama_7b(cls, vocab_size: int = 32000) -> ModelConfig:
        """Table 2: dimension 4096, 32 heads, 32 layers; hidden 11008 = 2/3 * 4 * 4096 rounded up to 256s."""
        return cls(vocab_size=vocab_size, d_model=4096, n_layers=32, n_heads=32, d_ff=11008, max_seq_len=2048)


def swiglu_hidden(d_model: int, multiple_of: int = 1) -> int:
    """2/3 * 4 * d_model, rounded up to a multiple of `multiple_of` (Meta's code uses 256)."""
    hidden = int(2 * 4 * d_model / 3)
    return multiple_of * math.ceil(hidden / multiple_of)


# --- Pre-normalisation: RMSNorm ------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """RMSNorm(x) = x / sqrt(mean(x^2) + eps) * g. LayerNorm without the mean subtraction and the bias.

    The statistics are taken in fp32 even under bf16 autocast: a sum of squares of d_model numbers
    loses most of its digits in bf16.
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # g, the learned gain

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        rms_inv = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)  # [batch, seq, 1]
        return (x32 * rms_inv).type_as(x) * self.weight


def make_norm(cfg: ModelConfig) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return RMSNorm(cfg.d_model, cfg.norm_eps)
    return nn.LayerNorm(cfg.d_model, eps=1e-5, bias=cfg.bias)  # GPT-2's LayerNorm


# --- Rotary position embeddings -----------------------------------------------------------------------------


def rope_angles(seq_len: int, d_head: int, theta: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos and sin of m * theta_i for positions m < seq_len and theta_i = theta^(-2i / d_head), i < d_head / 2.

    Returns two [seq_len, d_head / 2] tables. Pair i turns by theta_i radians per position: the first
    pair once a radian, the last almost not at all.
    """
    inv_freq = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)  # [d_head / 2]
    angles = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv_freq  # [seq_len, d_head / 2]
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each adjacent pair (x_2i, x_2i+1) of x [batch, heads, seq, d_head] by the angle m * theta_i.

    (x_2i, x_2i+1) -> (x_2i cos - x_2i+1 sin, x_2i sin + x_2i+1 cos): the complex product
    (x_2i + i x_2i+1) * e^(i m theta_i) of Meta's code, in real arithmetic. cos, sin: [seq, d_head / 2].
    """
    x_even, x_odd = x.float()[..., 0::2], x.float()[..., 1::2]  # [batch, heads, seq, d_head / 2]
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)  # interleave back: [batch, heads, seq, d_head]


# --- Attention (multi-head, optionally grouped-query) ---------------------------------------------------------


class Attention(nn.Module):
    """Causal self-attention. Queries have H heads; keys and values have n_kv_heads, each shared by
    H / n_kv_heads query heads (grouped-query attention; n_kv_heads = H is ordinary multi-head)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.d_head = cfg.n_heads, cfg.n_kv_heads, cfg.d_head
        self.rope = cfg.positions == "rope"
        self.W_q = nn.Linear(cfg.d_model, cfg.n_heads * cfg.d_head, bias=cfg.bias)
        self.W_k = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.d_head, bias=cfg.bias)
        self.W_v = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.d_head, bias=cfg.bias)
        self.W_o = nn.Linear(cfg.n_heads * cfg.d_head, cfg.d_model, bias=cfg.bias)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor,
                past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x [batch, t, d_model] at positions start..start+t-1 (start = cached length) -> [batch, t, d_model].

        cos, sin: [t, d_head / 2] for those positions. Returns the output and the keys/values so far.
        """
        batch, t, _ = x.shape
        q = self.W_q(x).view(batch, t, self.n_heads, self.d_head).transpose(1, 2)  # [batch, H, t, d_head]
        k = self.W_k(x).view(batch, t, self.n_kv_heads, self.d_head).transpose(1, 2)  # [batch, H_kv, t, d_head]
        v = self.W_v(x).view(batch, t, self.n_kv_heads, self.d_head).transpose(1, 2)
        if self.rope:
            # Rotate queries and keys by their own positions; the dot product then sees only m - n.
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # [batch, H_kv, start + t, d_head]
        present = (k, v)
        group = self.n_heads // self.n_kv_heads
        if group > 1:
            # Key/value head j serves query heads j*group .. (j+1)*group - 1.
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # [batch, H, T, d_head]
        start = k.size(2) - t
        if start == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [batch, H, t, d_head]
        else:
            # Query i sits at position start + i and may see keys 0 .. start + i.
            mask = torch.ones(t, k.size(2), dtype=torch.bool, device=x.device).tril(diagonal=start)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, t, self.n_heads * self.d_head)  # concat heads: [batch, t, d_model]
        return self.W_o(out), present


# --- Feed-forward: SwiGLU (LLaMA) or GELU (GPT-2) -------------------------------------------------------------


class SwiGLU(nn.Module):
    """FFN(x) = (SiLU(x W_1) * (x W_3)) W_2, with SiLU(z) = z * sigmoid(z). W_1: gate, W_3: up, W_2: down."""

    def __init__(self, d_model: int, d_ff: int, bias: bool = False) -> None:
        super().__init__()
        self.W_1 = nn.Linear(d_model, d_ff, bias=bias)
        self.W_3 = nn.Linear(d_model, d_ff, bias=bias)
        self.W_2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.silu(self.W_1(x)) * self.W_3(x))  # [batch, seq, d_ff] inside, [batch, seq, d_model] out


class GeluMLP(nn.Module):
    """GPT-2's FFN(x) = GELU(x W_1 + b_1) W_2 + b_2 (tanh approximation of GELU, as GPT-2 uses)."""

    def __init__(self, d_model: int, d_ff: int, bias: bool = True) -> None:
        super().__init__()
        self.W_1 = nn.Linear(d_model, d_ff, bias=bias)
        self.W_2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.gelu(self.W_1(x), approximate="tanh"))


# --- The block and the model -------------------------------------------------------------------------------


class TransformerBlock(nn.Module):
    """Pre-normalisation: h = x + Attention(Norm(x)); out = h + FFN(Norm(h)). The residual stream itself
    is never normalised, so the identity path from the output back to the input stays clean."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attention_norm, self.ffn_norm = make_norm(cfg), make_norm(cfg)
        self.attention = Attention(cfg)
        mlp = SwiGLU if cfg.mlp == "swiglu" else GeluMLP
        self.feed_forward = mlp(cfg.d_model, cfg.d_ff, cfg.bias)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor,
                past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        attn, present = self.attention(self.attention_norm(x), cos, sin, past)
        h = x + attn
        return h + self.feed_forward(self.ffn_norm(h)), present


class Transformer(nn.Module):
    """The decoder-only language model: embeddings, N blocks, a final norm and the output layer."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embeddings = nn.Embedding(cfg.max_seq_len, cfg.d_model) if cfg.positions == "learned" else None
        self.layers = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = make_norm(cfg)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rope_angles(cfg.max_seq_len, cfg.d_head, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)  # [max_seq_len, d_head / 2]
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # One init for every variant (normal, std 0.02, zero biases, unit gains), so the ablation
        # compares architectures, not initialisations.
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx: Tensor, past: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """Token ids [batch, t] (following `past`, if given) -> logits [batch, t, vocab], updated cache."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be token ids [batch, seq], got shape {list(idx.shape)}")
        start = past[0][0].size(2) if past else 0
        t = idx.size(1)
        if start + t > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {start + t} exceeds max_seq_len {self.cfg.max_seq_len}")
        x = self.tok_embeddings(idx)  # [batch, t, d_model]
        if self.pos_embeddings is not None:
            x = x + self.pos_embeddings.weight[start : start + t]  # GPT-2: add a learned vector per position
        cos, sin = self.rope_cos[start : start + t], self.rope_sin[start : start + t]
        cache = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, cos, sin, past[i] if past else None)
            cache.append(present)
        return self.output(self.norm(x)), cache  # [batch, t, vocab]

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 0.0, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> Tensor:
        """Append `max_new_tokens` tokens to idx [batch, t]: greedy when temperature is 0, else sampled.

        With the cache each step feeds only the newest token and reuses every earlier key and value,
        so a step costs O(t) instead of recomputing the whole prefix.
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if not temperature >= 0:  # written this way so that NaN is rejected too
            raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
        if idx.size(1) + max_new_tokens > self.cfg.max_seq_len:
            raise ValueError(f"prompt ({idx.size(1)}) + max_new_tokens ({max_new_tokens}) exceeds "
                             f"max_seq_len {self.cfg.max_seq_len}")
        past, step_input = None, idx
        for _ in range(max_new_tokens):
            logits, cache = self(step_input if use_cache else idx, past)
            logits = logits[:, -1].float()  # [batch, vocab]
            if temperature == 0:
                next_id = logits.argmax(-1, keepdim=True)
            else:
                probs = (logits / temperature).softmax(-1)
                next_id = torch.multinomial(probs, 1, generator=generator)
            idx = torch.cat([idx, next_id], dim=1)
            past, step_input = (cache, next_id) if use_cache else (None, idx)
        return idx


def n_params(module: nn.Module) -> int:
    """Distinct trainable parameters (a tied matrix counts once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def with_matched_swiglu(cfg: ModelConfig, target_params: int) -> ModelConfig:
    """Return cfg with the SwiGLU hidden width that brings the model closest to `target_params`.

    The count is linear in d_ff (N * (3 d_model + 2 * bias) per unit), so two probe sizes give the line.
    """
    if cfg.mlp != "swiglu":
        raise ValueError("with_matched_swiglu needs mlp='swiglu'")
    p1, p2 = (n_params(Transformer(replace(cfg, d_ff=h))) for h in (1, 2))
    slope = p2 - p1
    return replace(cfg, d_ff=max(1, round(1 + (target_params - p1) / slope)))
