"""GPT-3 (Brown et al., 2020, arXiv 2005.14165), in data-flow order.

Section 2.1: the model is GPT-2's (pre-LN blocks, the modified initialisation, learned positions,
tied embeddings), "with the exception that we use alternating dense and locally banded sparse
attention patterns in the layers of the transformer, similar to the Sparse Transformer". The paper
gives no band width and no order of the two kinds, so both are settings here (`band`,
`attention_types`). d_ff = 4 d_model and n_ctx = 2048 in every size (Section 2.1, Table 2.1).

Two implementations of the same attention: "sdpa" (PyTorch's scaled_dot_product_attention with a
boolean band mask: the CPU default, because flex_attention has no backward pass on the CPU in
torch 2.15) and "flex" (torch.nn.attention.flex_attention with a BlockMask, compiled on a GPU,
where it skips the blocks the band leaves empty). tests/test_model.py proves they agree.

Conventions: row vectors, `x @ W + b`; shapes [batch, seq, d_model]; d_head = d_model / n_heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ATTENTION_TYPES = ("dense", "banded")
ATTENTION_IMPLS = ("sdpa", "flex")


@dataclass
class GPT3Config:
    vocab_size: int  # 50,257 BPE tokens in GPT-2 and GPT-3; 24 symbols in the default run
    n_ctx: int = 2048  # context window, the same for every size (Section 2.1)
    d_model: int = 768  # "units in each bottleneck layer" (Table 2.1)
    n_heads: int = 12
    n_layers: int = 12
    d_ff: int | None = None  # None: 4 * d_model, as the paper always has it
    # Layer i uses attention_types[i % len]: ("dense", "banded") alternates starting with dense.
    attention_types: tuple[str, ...] = ("dense", "banded")
    band: int = 256  # a banded layer's query sees itself and the band - 1 tokens before it (not given in the paper)
    attn_impl: str = "sdpa"  # "sdpa" (boolean mask) or "flex" (flex_attention + BlockMask)
    compile_flex: bool = False  # torch.compile the flex kernel (a GPU setting: on CPU it takes about a minute)
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        self.attention_types = tuple(self.attention_types)
        for name in ("vocab_size", "n_ctx", "d_model", "n_heads", "n_layers", "d_ff", "band"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not self.attention_types or any(t not in ATTENTION_TYPES for t in self.attention_types):
            raise ValueError(f"attention_types must be a non-empty list of {ATTENTION_TYPES}, got "
                             f"{list(self.attention_types)}")
        if self.attn_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTENTION_IMPLS}, got {self.attn_impl!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def layer_type(self, i: int) -> str:
        return self.attention_types[i % len(self.attention_types)]


# --- The two attention patterns -----------------------------------------------------------------------


def band_mask(t: int, band: int | None, device=None) -> Tensor:
    """allowed[i, j] = True where query i may attend to key j: j <= i (causal) and i - j < band.

    band=None is the dense causal pattern. [t, t] booleans."""
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    allowed = j <= i
    return allowed if band is None else allowed & (i - j < band)


def band_mask_mod(band: int | None):
    """The same rule as `band_mask`, as flex_attention's mask_mod(b, h, q_idx, kv_idx) -> bool."""
    if band is None:
        return lambda b, h, q, k: k <= q
    return lambda b, h, q, k: (k <= q) & (q - k < band)


@lru_cache(maxsize=32)
def _block_mask(t: int, band: int | None, device: str):
    """flex_attention's BlockMask: which 128 x 128 tiles of the score matrix hold any allowed entry.
    Built once per (length, band, device); a GPU kernel skips the empty tiles."""
    from torch.nn.attention.flex_attention import create_block_mask

    return create_block_mask(band_mask_mod(band), None, None, t, t, device=device)


@lru_cache(maxsize=2)
def _flex(compiled: bool):
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False) if compiled else flex_attention


class CausalSelfAttention(nn.Module):
    """head_i = softmax(Q_i K_i^T / sqrt(d_head) + mask) V_i; out = Concat(head_1..head_H) W_o + b_o.

    The mask is causal in a dense layer, and causal and banded (key within `band` of the query) in a
    banded layer. Same parameters either way: the pattern changes what is computed, not what is learned.
    """

    def __init__(self, cfg: GPT3Config, banded: bool) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.dropout = cfg.n_heads, cfg.d_head, cfg.dropout
        self.band = cfg.band if banded else None
        self.attn_impl, self.compile_flex = cfg.attn_impl, cfg.compile_flex
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)  # W_q, W_k, W_v side by side
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)  # a residual projection: scaled at init
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, t, d_model = x.shape
        q, k, v = self.W_qkv(x).split(d_model, dim=-1)  # 3 x [batch, t, d_model]
        q, k, v = (z.view(batch, t, self.n_heads, self.d_head).transpose(1, 2)
                   for z in (q, k, v))  # [batch, H, t, d_head]
        if self.attn_impl == "flex":
            block_mask = _block_mask(t, self.band, str(x.device))
            out = _flex(self.compile_flex)(q, k, v, block_mask=block_mask)  # no dropout in flex_attention
        elif self.band is None or self.band >= t:
            # A band as wide as the sequence hides nothing: the plain causal kernel does the same work.
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                                 is_causal=True)
        else:
            allowed = band_mask(t, self.band, x.device)  # [t, t]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                                 dropout_p=self.dropout if self.training else 0.0)
        out = out.transpose(1, 2).reshape(batch, t, d_model)  # concat heads: [batch, t, d_model]
        return self.resid_drop(self.W_o(out))


# --- MLP and the pre-LN block (GPT-2's, unchanged) -----------------------------------------------------


class MLP(nn.Module):
    """MLP(x) = GELU(x W_1 + b_1) W_2 + b_2, inner width d_ff = 4 d_model (Section 2.1)."""

    def __init__(self, cfg: GPT3Config) -> None:
        super().__init__()
        self.W_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.W_2 = nn.Linear(cfg.d_ff, cfg.d_model)  # a residual projection: scaled at init
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.W_2(F.gelu(self.W_1(x), approximate="tanh")))  # [batch, t, d_ff] inside


class Block(nn.Module):
    """Pre-LN: x = x + Attn(LN_1(x)); x = x + MLP(LN_2(x))."""

    def __init__(self, cfg: GPT3Config, banded: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attn = CausalSelfAttention(cfg, banded)
        self.ln_2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT3(nn.Module):
    """Token + learned position embeddings, n_layers pre-LN blocks (dense and banded by turns),
    a final LayerNorm, and the output layer tied to the token embedding."""

    def __init__(self, cfg: GPT3Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # W_e, also the output layer
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)  # W_p
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, cfg.layer_type(i) == "banded") for i in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's modified initialisation: N(0, 0.02) weights, residual projections N(0, 0.02 / sqrt(2 n_layers))."""
        if self.wte.weight.is_meta:  # a parameter count on the meta device: nothing to fill
            return
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith(("W_o.weight", "W_2.weight")):
                nn.init.normal_(p, mean=0.0, std=residual_std)
            elif p.dim() >= 2:
                nn.init.normal_(p, mean=0.0, std=0.02)
            elif ".ln_" in name or name.startswith("ln_"):
                nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx: Tensor) -> Tensor:
        """Token ids [batch, seq] -> next-token logits [batch, seq, vocab]."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be token ids [batch, seq], got shape {list(idx.shape)}")
        t = idx.size(1)
        if t > self.cfg.n_ctx:
            raise ValueError(f"sequence length {t} exceeds the context n_ctx = {self.cfg.n_ctx}")
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(t, device=idx.device)))  # [batch, t, d_model]
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # [batch, t, vocab]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # the tied matrix counted once


# --- Table 2.1 as presets ------------------------------------------------------------------------------

# Table 2.1 as printed: name -> (n_params, n_layers, d_model, n_heads, d_head). All sizes: n_ctx 2048.
TABLE_2_1 = {
    "small": (125e6, 12, 768, 12, 64),
    "medium": (350e6, 24, 1024, 16, 64),
    "large": (760e6, 24, 1536, 16, 96),
    "xl": (1.3e9, 24, 2048, 24, 128),
    "2.7b": (2.7e9, 32, 2560, 32, 80),
    "6.7b": (6.7e9, 32, 4096, 32, 128),
    "13b": (13.0e9, 40, 5140, 40, 128),
    "175b": (175.0e9, 96, 12288, 96, 128),
}
GPT2_VOCAB = 50257  # GPT-3 keeps GPT-2's reversible (byte-level BPE) tokenization (Section 2.1)


def preset(name: str, **overrides) -> GPT3Config:
    """A Table 2.1 size as a config. Two printed rows disagree with themselves (n_heads x d_head != d_model):
    XL (24 x 128 = 3072, d_model 2048) and 13B (40 x 128 = 5120, d_model 5140). We keep the d_head column
    and the width that Table D.1's parameter count fits: XL -> 16 heads of 128 on d_model 2048; 13B ->
    d_model 5120 (Table D.1 lists 12,850M, which 5120 gives and 5140 does not)."""
    if name not in TABLE_2_1:
        raise ValueError(f"preset must be one of {list(TABLE_2_1)}, got {name!r}")
    _, n_layers, d_model, n_heads, d_head = TABLE_2_1[name]
    if n_heads * d_head != d_model:
        d_model = d_model if name == "xl" else n_heads * d_head
        n_heads = d_model // d_head
    return GPT3Config(**{"vocab_size": GPT2_VOCAB, "n_ctx": 2048, "d_model": d_model, "n_heads": n_heads,
                         "n_layers": n_layers} | overrides)


def count_params(cfg: GPT3Config) -> int:
    """Build the model on the meta device (no memory) and count its parameters: works for 175B."""
    with torch.device("meta"):
        return GPT3(cfg).num_params()


# --- What the band saves ----------------------------------------------------------------------------------


def attended_pairs(n_ctx: int, band: int | None) -> int:
    """Query-key pairs one head scores over a full window: n(n+1)/2 causal, n*w - w(w-1)/2 banded."""
    w = n_ctx if band is None else min(band, n_ctx)
    return n_ctx * w - w * (w - 1) // 2


def attention_flops(cfg: GPT3Config) -> dict[str, int]:
    """Forward FLOPs of one full window: the attention scores and weighted sums (2 * 2 * pairs * d_model
    per layer: QK^T and AV, one multiply and one add each) against the matrix multiplies of the weights
    (2 * n_ctx * parameters outside the embeddings)."""
    n = cfg.n_ctx
    per_layer = {kind: 4 * attended_pairs(n, None if kind == "dense" else cfg.band) * cfg.d_model
                 for kind in ATTENTION_TYPES}
    kinds = [cfg.layer_type(i) for i in range(cfg.n_layers)]
    weights = 2 * n * cfg.n_layers * (4 * cfg.d_model ** 2 + 2 * cfg.d_model * cfg.d_ff)
    return {"attention_dense": per_layer["dense"] * cfg.n_layers,
            "attention_alternating": sum(per_layer[k] for k in kinds),
            "weights": weights}
