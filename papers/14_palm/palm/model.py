"""PaLM's decoder (Chowdhery et al., 2022, Section 2 "Model architecture"), in the paper's order.

A decoder-only Transformer with the paper's six changes to the GPT recipe:

1. SwiGLU feed-forward layer,                 4. RoPE position embeddings,
2. the "parallel" block (one shared LayerNorm), 5. input and output embeddings shared,
3. multi-query attention (one key/value head),  6. no biases anywhere (dense layers or LayerNorms).

The standard serial pre-LN block is here too, so the two can be trained side by side.
Conventions: row vectors `x W`; shapes in trailing comments where they change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLOCKS = ("parallel", "serial")


@dataclass
class PaLMConfig:
    """vocab_size, d_model, n_heads (H), n_layers (N), d_ff (the paper: always 4 * d_model), max_len,
    block ("parallel" as in PaLM, or the standard "serial"), multi_query (one shared K/V head as in
    PaLM, or False for standard multi-head attention), rope_base (RoFormer's 10,000)."""

    vocab_size: int = 96
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int | None = None
    max_len: int = 256
    block: str = "parallel"
    multi_query: bool = True
    rope_base: float = 10_000.0

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model  # Table 1: d_ff = 4 d_model at every size
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.d_head % 2 != 0:
            raise ValueError(f"d_head = d_model / n_heads ({self.d_head}) must be even: RoPE rotates pairs")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {self.block!r}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def n_kv_heads(self) -> int:
        return 1 if self.multi_query else self.n_heads


# --- RoPE (Su et al., 2021): position enters as a rotation of query and key ---------------------------


def rope_angles(max_len: int, d_head: int, base: float = 10_000.0) -> tuple[Tensor, Tensor]:
    """cos and sin of m * theta_i for position m and pair i, theta_i = base^(-2i / d_head).

    Returns two [max_len, d_head / 2] tensors.
    """
    theta = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)  # [d_head / 2]
    angle = torch.arange(max_len, dtype=torch.float64)[:, None] * theta  # [max_len, d_head / 2]
    return angle.cos().float(), angle.sin().float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each pair (x_2i, x_2i+1) by the angle m * theta_i of its position m.

    x: [batch, heads, seq, d_head]; cos, sin: [seq, d_head / 2] for the positions of x.
    As a row vector, [x1, x2] @ [[cos, sin], [-sin, cos]] = [x1 cos - x2 sin, x1 sin + x2 cos].
    """
    x1, x2 = x[..., 0::2], x[..., 1::2]  # [batch, heads, seq, d_head / 2] each
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # [..., d_head / 2, 2]
    return rotated.flatten(-2).type_as(x)  # pairs back in place: [batch, heads, seq, d_head]


# --- Multi-query attention (Shazeer, 2019) with a KV cache ----------------------------------------------


class KVCache:
    """One layer's keys and values for every position seen so far: [batch, n_kv_heads, t, d_head] each.

    During generation each new token's key and value are appended, so a step attends to the past
    without recomputing it. Multi-query attention stores 1 head here instead of H: the cache, and
    the memory read per generated token, shrink H-fold.
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.size(2)

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)  # [batch, n_kv_heads, t + seq, d_head]
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v

    def numel(self) -> int:
        return 0 if self.k is None else self.k.numel() + self.v.numel()


class MultiQueryAttention(nn.Module):
    """H query heads that all share ONE key head and ONE value head (PaLM), or H of each (multi_query=False).

    head_h = softmax(Q_h K^T / sqrt(d_head) + causal mask) V,  Q_h = x W_q^h,  K = x W_k,  V = x W_v.
    W_k and W_v are d_model x d_head instead of d_model x d_model; no biases (PaLM).
    """

    def __init__(self, d_model: int, n_heads: int, multi_query: bool = True) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.n_kv_heads = 1 if multi_query else n_heads
        self.W_q = nn.Linear(d_model, n_heads * self.d_head, bias=False)
        self.W_k = nn.Linear(d_model, self.n_kv_heads * self.d_head, bias=False)
        self.W_v = nn.Linear(d_model, self.n_kv_heads * self.d_head, bias=False)
        self.W_o = nn.Linear(n_heads * self.d_head, d_model, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | None = None,
                need_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """x [batch, seq, d_model] -> [batch, seq, d_model] (and the weights [batch, H, seq, t] if asked).

        cos, sin: RoPE angles for the positions of x; with a cache holding t_past positions they are
        positions t_past .. t_past + seq - 1.
        """
        if x.dim() != 3 or x.size(-1) != self.n_heads * self.d_head:
            raise ValueError(f"x must be [batch, seq, {self.n_heads * self.d_head}], got {list(x.shape)}")
        batch, seq, _ = x.shape
        q = self.W_q(x).view(batch, seq, self.n_heads, self.d_head).transpose(1, 2)  # [batch, H, seq, d_head]
        k = self.W_k(x).view(batch, seq, self.n_kv_heads, self.d_head).transpose(1, 2)  # [batch, n_kv, seq, d_head]
        v = self.W_v(x).view(batch, seq, self.n_kv_heads, self.d_head).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        past = 0
        if cache is not None:
            past = len(cache)
            k, v = cache.append(k, v)  # [batch, n_kv, past + seq, d_head]
        # Query i sits at position past + i and may see keys 0 .. past + i. A fresh sequence passes
        # is_causal instead of a mask so fused kernels (flash attention) can skip building it.
        causal = past == 0 and seq > 1 and not need_weights
        allowed = None if seq == 1 or causal else torch.ones(seq, past + seq, dtype=torch.bool,
                                                              device=x.device).tril(diagonal=past)
        if need_weights:
            out, weights = self._explicit(q, k, v, allowed)
        elif self.n_kv_heads == 1 and seq == 1:
            # Decoding one token with one shared K/V head: the H query heads are simply H queries
            # against the same keys, so fold them into the query axis and read the cache once.
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k, v)  # [batch, 1, H, d_head]
            out = out.transpose(1, 2)  # [batch, H, 1, d_head]
        else:
            # enable_gqa lets the one K/V head serve all H query heads.
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=causal,
                                                 enable_gqa=self.n_kv_heads != self.n_heads)
        out = out.transpose(1, 2).reshape(batch, seq, self.n_heads * self.d_head)  # concat heads: [batch, seq, d_model]
        return (self.W_o(out), weights) if need_weights else self.W_o(out)

    def _explicit(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """The same attention written out. With one K/V head, k is [batch, 1, t, d_head] and
        broadcasting shares it across the H query heads: that sharing is all multi-query attention is."""
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # [batch, H, seq, t]
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=-1)
        return weights @ v, weights  # [batch, H, seq, d_head]


# --- SwiGLU feed-forward (Shazeer, 2020) ------------------------------------------------------------------


class SwiGLU(nn.Module):
    """SwiGLU(x) = (Swish(x W) * (x V)) W_2, Swish(z) = z * sigmoid(z); no biases.

    Three d_model x d_ff matrices instead of the ReLU MLP's two; PaLM keeps d_ff = 4 d_model anyway.
    """

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.W = nn.Linear(d_model, d_ff, bias=False)
        self.V = nn.Linear(d_model, d_ff, bias=False)
        self.W_2 = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.silu(self.W(x)) * self.V(x))  # [batch, seq, d_ff] inside, [batch, seq, d_model] out


# --- The two blocks -----------------------------------------------------------------------------------------


class ParallelBlock(nn.Module):
    """PaLM's block: y = x + MLP(LayerNorm(x)) + Attention(LayerNorm(x)).

    One LayerNorm feeds both branches, and neither branch waits for the other: at scale their
    input matrix multiplies fuse into one (the paper measures ~15% faster training).
    """

    def __init__(self, cfg: PaLMConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model, bias=False)  # "no biases": LayerNorm keeps only its scale
        self.attn = MultiQueryAttention(cfg.d_model, cfg.n_heads, cfg.multi_query)
        self.mlp = SwiGLU(cfg.d_model, cfg.d_ff)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | None = None) -> Tensor:
        h = self.norm(x)  # computed once, read by both branches
        return x + self.attn(h, cos, sin, cache) + self.mlp(h)


class SerialBlock(nn.Module):
    """The standard pre-LN block (GPT-2 onward): y = x + MLP(LayerNorm(x + Attention(LayerNorm(x))))."""

    def __init__(self, cfg: PaLMConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = MultiQueryAttention(cfg.d_model, cfg.n_heads, cfg.multi_query)
        self.norm2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = SwiGLU(cfg.d_model, cfg.d_ff)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | None = None) -> Tensor:
        x = x + self.attn(self.norm1(x), cos, sin, cache)
        return x + self.mlp(self.norm2(x))  # the MLP sees the attention's output: the two run in series


# --- The model ------------------------------------------------------------------------------------------------


class PaLM(nn.Module):
    """Token ids [batch, seq] -> next-token logits [batch, seq, vocab_size]."""

    def __init__(self, cfg: PaLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)  # also the output layer (shared)
        block = ParallelBlock if cfg.block == "parallel" else SerialBlock
        self.blocks = nn.ModuleList(block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model, bias=False)
        cos, sin = rope_angles(cfg.max_len, cfg.d_head, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Section 5 "Weight initialization": kernels W ~ N(0, 1/n_in) ("fan-in variance scaling"),
        embeddings E ~ N(0, 1) because no LayerNorm follows them; LayerNorm scales start at 1."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
        nn.init.normal_(self.embed.weight, mean=0.0, std=1.0)

    def new_cache(self) -> list[KVCache]:
        return [KVCache() for _ in self.blocks]

    def forward(self, ids: Tensor, cache: list[KVCache] | None = None) -> Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids must be token ids [batch, seq], got shape {list(ids.shape)}")
        past, seq = (len(cache[0]) if cache else 0), ids.size(1)
        if past + seq > self.cfg.max_len:
            raise ValueError(f"sequence length {past + seq} exceeds max_len {self.cfg.max_len}")
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"cache has {len(cache)} layers, the model {len(self.blocks)}")
        x = self.embed(ids)  # [batch, seq, d_model]; no position embedding: RoPE acts inside attention
        cos, sin = self.rope_cos[past : past + seq], self.rope_sin[past : past + seq]
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache[i] if cache is not None else None)
        x = self.norm(x)
        # Shared embeddings: the output layer is E^T. E ~ N(0, 1) makes x E^T ~ N(0, d_model), so the
        # paper scales the pre-softmax logits by 1 / sqrt(d_model) back to unit size.
        return x @ self.embed.weight.T / math.sqrt(self.cfg.d_model)  # [batch, seq, vocab_size]

    @torch.no_grad()
    def generate(self, ids: Tensor, max_new_tokens: int, use_cache: bool = True, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Append `max_new_tokens` tokens to ids [batch, t] -> [batch, t + max_new_tokens].

        temperature 0 is greedy (argmax). With use_cache the prompt is run once and every later
        step feeds only the newest token; without it, every step reruns the whole sequence.
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if not temperature >= 0:  # written this way so that NaN is rejected too
            raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
        cache = self.new_cache() if use_cache else None
        out, step_input = ids, ids
        for _ in range(max_new_tokens):
            logits = self(step_input, cache)[:, -1].float()  # [batch, vocab_size]
            if temperature == 0:
                next_id = logits.argmax(-1, keepdim=True)
            else:
                probs = (logits / temperature).softmax(-1)
                next_id = torch.multinomial(probs, 1, generator=generator)  # [batch, 1]
            out = torch.cat([out, next_id], dim=1)
            step_input = next_id if use_cache else out
        return out


def kv_cache_elements(cfg: PaLMConfig, batch: int, seq: int) -> int:
    """Keys plus values stored for `seq` positions: 2 * N * batch * n_kv_heads * seq * d_head."""
    return 2 * cfg.n_layers * batch * cfg.n_kv_heads * seq * cfg.d_head
