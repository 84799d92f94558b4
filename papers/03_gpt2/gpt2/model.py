"""GPT-2 (Radford et al., 2019), "Language Models are Unsupervised Multitask Learners", in data-flow order.

Section 2.3 says what changed from GPT-1's decoder:
  - Layer normalization moved to the input of each sub-block (pre-LN), plus one final LayerNorm
    after the last block: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x)); logits = LN_f(x) W_e^T.
  - Residual-layer weights scaled at initialisation by 1/sqrt(N_res), N_res = 2 * n_layers the
    number of residual sub-blocks, so the residual stream does not grow with depth (the paper's
    sentence, read as nanoGPT and Hugging Face read it; OpenAI's released inference code has no init).
  - Context 1024 tokens, vocabulary 50,257 byte-level BPE tokens (here: characters, or any vocabulary).
Kept from GPT-1: learned position embeddings, GELU (tanh approximation), masked multi-head
self-attention, and the input embedding tied to the output projection.

Conventions: row vectors, `x @ W + b`; shapes are [batch, seq, d_model]; d_k = d_model / n_heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KVCache = list[tuple[Tensor, Tensor]]  # per layer: keys and values [batch, heads, seq_so_far, d_k]


@dataclass
class GPT2Config:
    vocab_size: int  # 50,257 byte-level BPE tokens in the paper; 81 characters in the default run
    n_ctx: int = 1024  # context length: the number of learned position embeddings
    d_model: int = 768  # width of the residual stream (n_embd in the released code)
    n_heads: int = 12  # H
    n_layers: int = 12  # N
    d_ff: int | None = None  # inner width of the MLP; None means 4 * d_model, as in GPT-1 and GPT-2
    # on embeddings, attention weights and sub-block outputs: 0.1 in GPT-1 (its Section 4.1); the GPT-2
    # paper gives no value, and Hugging Face's GPT2Config defaults to 0.1
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        for name in ("vocab_size", "n_ctx", "d_model", "n_heads", "n_layers", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


# --- Masked multi-head self-attention ----------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    """head_i = softmax(Q_i K_i^T / sqrt(d_k) + causal mask) V_i; out = Concat(head_1..head_H) W_o + b_o.

    W_qkv holds W_q, W_k and W_v side by side ([d_model, 3 d_model] in the paper's orientation),
    one matrix multiply for all three, as the released GPT-2 code does (its `c_attn`).
    """

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.dropout = cfg.n_heads, cfg.d_k, cfg.dropout
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)  # a residual projection: scaled at init
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x [batch, t, d_model] -> out [batch, t, d_model] and this layer's keys and values so far.

        `past` holds the keys and values of the tokens already processed (the KV cache): the new
        tokens attend to them and to each other, and nothing is recomputed for the old ones.
        """
        batch, t, d_model = x.shape
        q, k, v = self.W_qkv(x).split(d_model, dim=-1)  # 3 x [batch, t, d_model]
        q, k, v = (z.view(batch, t, self.n_heads, self.d_k).transpose(1, 2) for z in (q, k, v))  # [batch, H, t, d_k]
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # [batch, H, t_past + t, d_k]
        t_past = k.size(2) - t
        p = self.dropout if self.training else 0.0
        if t_past == 0:
            # is_causal lets the fused kernel (flash attention on a GPU) skip the masked half.
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            # New query i sits at absolute position t_past + i and may see keys 0..t_past + i.
            allowed = torch.ones(t, t_past + t, dtype=torch.bool, device=x.device).tril(diagonal=t_past)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        out = out.transpose(1, 2).reshape(batch, t, d_model)  # concat heads: [batch, t, d_model]
        return self.resid_drop(self.W_o(out)), (k, v)


# --- Position-wise MLP -------------------------------------------------------------------------------


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh form as in GPT-1/2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class MLP(nn.Module):
    """MLP(x) = GELU(x W_1 + b_1) W_2 + b_2 with inner width d_ff = 4 d_model."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.W_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.W_2 = nn.Linear(cfg.d_ff, cfg.d_model)  # a residual projection: scaled at init
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        # F.gelu(approximate="tanh") is the same function as `gelu` above, fused into one kernel.
        return self.drop(self.W_2(F.gelu(self.W_1(x), approximate="tanh")))  # [batch, t, d_ff] inside


# --- The pre-LN block -------------------------------------------------------------------------------


class Block(nn.Module):
    """x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x)).

    Pre-LN: the residual stream x itself is never normalised, so the gradient has an identity path
    from the loss to the embeddings through every block. GPT-1 (post-LN) normalised after each
    addition, LN(x + Sublayer(x)), which puts a LayerNorm on that path at every layer.
    """

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        attn, present = self.attn(self.ln_1(x), past)
        x = x + attn
        x = x + self.mlp(self.ln_2(x))
        return x, present


# --- The model --------------------------------------------------------------------------------------


class GPT2(nn.Module):
    """Token + learned position embeddings, N pre-LN blocks, a final LayerNorm, tied output projection."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # W_e: token embedding, also the output layer
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)  # W_p: one learned vector per position
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)  # new in GPT-2
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 0.02) weights, zero biases, unit LayerNorm gains; residual projections N(0, 0.02 / sqrt(2N)).

        Each block adds two outputs (attention and MLP) to the residual stream. With independent
        additions the stream's variance grows by the sum of their variances, so 2N additions of
        std 0.02 / sqrt(2N) add as much variance in total as one addition of std 0.02, whatever N is.
        """
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith("W_o.weight") or name.endswith("W_2.weight"):
                nn.init.normal_(p, mean=0.0, std=residual_std)
            elif p.dim() >= 2:
                nn.init.normal_(p, mean=0.0, std=0.02)
            elif ".ln_" in name or name.startswith("ln_"):
                nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
            else:
                nn.init.zeros_(p)

    def forward_cached(self, idx: Tensor, past: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """Token ids [batch, t] (following `past`, if given) -> logits [batch, t, vocab], updated cache."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be token ids [batch, seq], got shape {list(idx.shape)}")
        t_past = 0 if past is None else past[0][0].size(2)
        t = idx.size(1)
        if t_past + t > self.cfg.n_ctx:
            raise ValueError(f"sequence length {t_past + t} exceeds the context n_ctx = {self.cfg.n_ctx}")
        pos = torch.arange(t_past, t_past + t, device=idx.device)  # absolute positions of the new tokens
        x = self.drop(self.wte(idx) + self.wpe(pos))  # h_0 = U W_e + W_p: [batch, t, d_model]
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, None if past is None else past[i])
            presents.append(present)
        x = self.ln_f(x)
        # Tied weights: the output layer is the transposed token embedding, so a token's input and
        # output vectors are one parameter (and the 124M model saves 38.6M parameters).
        return x @ self.wte.weight.T, presents  # [batch, t, vocab]

    def forward(self, idx: Tensor) -> Tensor:
        """Token ids [batch, seq] -> next-token logits [batch, seq, vocab] (position t sees tokens 0..t)."""
        return self.forward_cached(idx)[0]

    def num_params(self, exclude_positions: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())  # the tied matrix is one parameter, counted once
        return n - self.wpe.weight.numel() if exclude_positions else n

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> Tensor:
        """Extend idx [batch, t] by max_new_tokens sampled tokens -> [batch, t + max_new_tokens].

        With use_cache=True each step feeds only the newest token and reuses every earlier key and
        value; with use_cache=False each step reruns the whole window. Both compute the same logits,
        so with the same generator they return the same tokens. Once the text is longer than n_ctx,
        the model sees the last n_ctx tokens (the cache is rebuilt from that window).
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        check_sampling(temperature, top_k, top_p)
        past: KVCache | None = None
        for _ in range(max_new_tokens):
            cached = 0 if past is None else past[0][0].size(2)
            if use_cache and past is not None and cached + 1 <= self.cfg.n_ctx:
                logits, past = self.forward_cached(idx[:, -1:], past)  # one new token: [batch, 1, vocab]
            else:
                window = idx[:, -self.cfg.n_ctx :]
                logits, past = self.forward_cached(window)
                past = past if use_cache else None
            next_id = sample_next(logits[:, -1], temperature, top_k, top_p, generator)  # [batch]
            idx = torch.cat([idx, next_id[:, None]], dim=1)
        return idx


# --- Sampling: temperature, top-k, top-p (nucleus) ---------------------------------------------------


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not temperature >= 0.0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of each row, set the rest to -inf. logits [batch, vocab]."""
    k = min(k, logits.size(-1))
    kth = logits.topk(k, dim=-1).values[:, -1:]  # [batch, 1]: the k-th largest value
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering (Holtzman et al., 2019): keep the smallest set of most likely tokens whose
    probabilities sum to at least p; set the rest to -inf. logits [batch, vocab].

    A token is dropped only when the tokens strictly more likely than it already hold mass >= p, so
    the most likely token always stays and tied tokens are kept or dropped together. p = 1 keeps
    everything: a float32 running sum over a large vocabulary can round up to 1 before its last
    tokens, which would otherwise drop tokens of probability about 1e-8.
    """
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.double().softmax(dim=-1)  # float64: the running sum barely rounds
    mass_before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
    # Within a run of tied logits, use the mass before the run's first token (strictly more likely ones).
    rank = torch.arange(logits.size(-1), device=logits.device).expand_as(sorted_logits)
    is_first = torch.ones_like(sorted_logits, dtype=torch.bool)
    is_first[:, 1:] = sorted_logits[:, 1:] != sorted_logits[:, :-1]
    run_start = torch.where(is_first, rank, 0).cummax(dim=-1).values
    mass_strictly_above = mass_before.gather(-1, run_start)
    drop_sorted = mass_strictly_above >= p  # the set already reached p without this token
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """Next token ids [batch] from last-position logits [batch, vocab].

    temperature 0 is argmax (the limit of softmax(logits / T) as T -> 0); otherwise divide by T,
    filter by top-k then top-p, and draw from the softmax of what is left.
    """
    check_sampling(temperature, top_k, top_p)
    logits = logits.float()
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)
