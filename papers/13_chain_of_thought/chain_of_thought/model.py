"""The language model that gets prompted: a small decoder-only Transformer, in data-flow order.

Chain-of-thought prompting (Wei et al., 2022, arXiv 2201.11903) changes no architecture: the paper
prompts existing decoders (GPT-3, LaMDA, PaLM, UL2, Codex; Section 3.1). This file is therefore a
plain pre-LN decoder with rotary position embeddings (the choice of PaLM, one of the prompted
models), a GELU MLP and an output layer tied to the token embedding, plus what prompting needs:
`generate`, greedy or sampled, with a key/value cache so that a long few-shot prompt is read once.

Conventions: row vectors, `x @ W + b`; shapes [batch, seq, d_model]; d_head = d_model / n_heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class DecoderConfig:
    vocab_size: int
    n_ctx: int = 256  # the longest sequence the rotary tables cover
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int | None = None  # None: 4 * d_model
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        for name in ("vocab_size", "n_ctx", "d_model", "n_heads", "n_layers", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if (self.d_model // self.n_heads) % 2 != 0:
            raise ValueError(f"d_model / n_heads must be even for rotary embeddings, got "
                             f"{self.d_model // self.n_heads}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def rope_tables(n_ctx: int, d_head: int, base: float) -> tuple[Tensor, Tensor]:
    """cos and sin of the angle m * theta_i for position m and pair i, theta_i = base^(-2i / d_head).
    Both [n_ctx, d_head / 2]."""
    theta = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)  # [d_head / 2]
    angle = torch.arange(n_ctx, dtype=torch.float32)[:, None] * theta[None, :]  # [n_ctx, d_head / 2]
    return angle.cos(), angle.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each pair (x_2i, x_2i+1) by its angle. x [batch, heads, t, d_head], cos/sin [t, d_head / 2].
    A query at position m and a key at position n then score a function of m - n only."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # [batch, heads, t, d_head / 2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + causal mask) V per head, with rotary Q and K, and an optional cache
    of past keys and values for generation (the cache grows by the new tokens on every call)."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: dict | None = None) -> Tensor:
        batch, t, d_model = x.shape
        q, k, v = (z.view(batch, t, self.n_heads, self.d_head).transpose(1, 2)
                   for z in self.W_qkv(x).split(d_model, dim=-1))  # 3 x [batch, H, t, d_head]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            if "k" in cache:
                # [batch, H, past + t, d_head]
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        # New queries sit at the end of the keys: causal within the new tokens, everything before them visible.
        past = k.size(2) - t
        if past == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            allowed = torch.ones(t, k.size(2), dtype=torch.bool, device=x.device).tril(diagonal=past)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.W_o(out.transpose(1, 2).reshape(batch, t, d_model))  # [batch, t, d_model]


class Block(nn.Module):
    """Pre-LN: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x)), MLP(x) = GELU(x W_1 + b_1) W_2 + b_2."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.W_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.W_2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, cache: dict | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), cos, sin, cache)
        return x + self.W_2(F.gelu(self.W_1(self.ln_2(x))))  # [batch, t, d_ff] inside


class Decoder(nn.Module):
    """Token embedding, n_layers pre-LN blocks, a final LayerNorm, the output tied to the embedding."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        cos, sin = rope_tables(cfg.n_ctx, cfg.d_head, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for name, p in self.named_parameters():  # GPT-2's initialisation, residual projections scaled down
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layers) if name.endswith(("W_o.weight", "W_2.weight")) else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx: Tensor, caches: list[dict] | None = None, start: int = 0) -> Tensor:
        """Token ids [batch, t] at positions start .. start + t - 1 -> next-token logits [batch, t, vocab]."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be token ids [batch, seq], got shape {list(idx.shape)}")
        t = idx.size(1)
        if start + t > self.cfg.n_ctx:
            raise ValueError(f"sequence length {start + t} exceeds the context n_ctx = {self.cfg.n_ctx}")
        cos, sin = self.rope_cos[start:start + t], self.rope_sin[start:start + t]
        x = self.wte(idx)  # [batch, t, d_model]
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, None if caches is None else caches[i])
        return self.ln_f(x) @ self.wte.weight.T  # [batch, t, vocab]

    @torch.no_grad()
    def generate(self, prompt: Tensor, max_new: int, temperature: float = 0.0, stop: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Continue every prompt of the batch (all the same length) by up to max_new tokens.

        temperature 0: greedy (argmax); > 0: sample from softmax(logits / temperature). Stops early once
        every row has produced `stop`. prompt [batch, t] -> new tokens [batch, <= max_new]."""
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        caches = [{} for _ in self.blocks]
        logits = self(prompt, caches)[:, -1]  # the prompt is read once: [batch, vocab]
        out, done = [], torch.zeros(len(prompt), dtype=torch.bool, device=prompt.device)
        for i in range(max_new):
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = F.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # [batch]
            out.append(nxt)
            done |= nxt == stop
            if bool(done.all()) or i == max_new - 1:
                break
            logits = self(nxt[:, None], caches, start=prompt.size(1) + i)[:, -1]
        return torch.stack(out, dim=1)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
