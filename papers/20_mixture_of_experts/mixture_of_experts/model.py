"""The sparsely-gated mixture-of-experts layer (Shazeer et al., 2017, arXiv 1701.06538), in the paper's order:
noisy top-k gating (Section 2.1), the experts and sparse dispatch, the balancing losses (Section 4 and
Appendix A), then a small decoder language model whose feed-forward sublayers are either dense or MoE.

Conventions: row vectors `x @ W`; tokens are flattened to rows `[tokens, d_model]` inside the layer;
shapes in trailing comments where they change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NOISE_EPSILON = 1e-2  # added to the noise's standard deviation, as the authors' code does (tensor2tensor's
#                       expert_utils.py, noise_epsilon)


def cv_squared(x: Tensor) -> Tensor:
    """Squared coefficient of variation, variance / mean², of a vector of per-expert totals [n_experts].
    0 when every expert has the same total; n_experts - 1 when one expert has everything."""
    mean = x.float().mean()
    return x.float().var(unbiased=False) / (mean**2 + 1e-10)


def switch_balance_loss(router_logits: Tensor, top_k: int) -> Tensor:
    """The Switch Transformer-style auxiliary loss n · Σᵢ fᵢ Pᵢ (the alternative transformers' Mixtral uses).
    fᵢ: fraction of top-k assignments that went to expert i (they sum to top_k); Pᵢ: mean softmax probability
    of expert i over the tokens. Equal to top_k at perfect balance. router_logits [tokens, n_experts]."""
    n_experts = router_logits.shape[-1]
    probs = router_logits.float().softmax(-1)  # [tokens, n_experts]
    chosen = probs.topk(top_k, dim=-1).indices  # [tokens, top_k]
    f = F.one_hot(chosen, n_experts).float().sum((0, 1)) / len(probs)  # [n_experts]
    return n_experts * (f * probs.mean(0)).sum()


class NoisyTopKGate(nn.Module):
    """G(x) = Softmax(KeepTopK(H(x), k)), H(x)ᵢ = (x W_g)ᵢ + StandardNormal() · Softplus((x W_noise)ᵢ).

    KeepTopK keeps the k largest entries of H(x) and sets the others to -inf, so the softmax gives exactly
    zero weight to all but k experts. W_g and W_noise start at zero, as in the authors' code: every expert
    starts equal and the noise alone decides the first routings."""

    def __init__(self, d_model: int, n_experts: int, top_k: int, noisy: bool = True) -> None:
        super().__init__()
        self.top_k, self.noisy = top_k, noisy
        self.W_g = nn.Parameter(torch.zeros(d_model, n_experts))
        self.W_noise = nn.Parameter(torch.zeros(d_model, n_experts)) if noisy else None

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        clean = x @ self.W_g  # [tokens, n_experts]
        n_experts = clean.shape[-1]
        noise_std = None
        if self.noisy and self.training:
            noise_std = F.softplus(x @ self.W_noise) + NOISE_EPSILON  # [tokens, n_experts]
            noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            H = clean + noise * noise_std
        else:
            H = clean
        # The k + 1 largest: the (k+1)-th is the bar an expert must clear to enter the top k (Appendix A).
        top_vals, top_idx = H.topk(min(self.top_k + 1, n_experts), dim=-1)  # [tokens, k + 1]
        kept_vals, kept_idx = top_vals[:, : self.top_k], top_idx[:, : self.top_k]  # [tokens, k]
        kept_gates = kept_vals.float().softmax(-1).to(x.dtype)  # softmax over the k kept entries = over KeepTopK(H)
        gates = torch.zeros_like(H).scatter(1, kept_idx, kept_gates)  # [tokens, n_experts], k non-zeros per row
        if noise_std is not None and self.top_k < n_experts:
            load = prob_in_top_k(clean, H, noise_std, top_vals, self.top_k).sum(0)  # [n_experts], smooth
        else:
            load = (gates > 0).float().sum(0)  # [n_experts], the true count (no gradient)
        return {"gates": gates, "top_idx": kept_idx, "logits": clean, "importance": gates.sum(0), "load": load}


def prob_in_top_k(clean: Tensor, noisy: Tensor, noise_std: Tensor, top_vals: Tensor, k: int) -> Tensor:
    """P(x, i) of Appendix A: the probability that expert i is in the top k for token x if only its own noise
    were drawn again, the others' noisy values held fixed: Φ((clean_i - kth_excluding(H, k, i)) / σ_i).
    kth_excluding is the k-th largest of the other experts: the (k+1)-th overall if i is in the top k,
    the k-th overall if it is not. Differentiable in W_g and W_noise, which is the point: the true count
    of tokens per expert has no gradient."""
    threshold_if_in = top_vals[:, k : k + 1]  # [tokens, 1]: the (k+1)-th largest
    threshold_if_out = top_vals[:, k - 1 : k]  # [tokens, 1]: the k-th largest
    is_in = noisy > threshold_if_in  # [tokens, n_experts]
    normal = torch.distributions.Normal(0.0, 1.0)
    p_in = normal.cdf((clean - threshold_if_in) / noise_std)
    p_out = normal.cdf((clean - threshold_if_out) / noise_std)
    return torch.where(is_in, p_in, p_out)  # [tokens, n_experts]


class Experts(nn.Module):
    """n_experts feed-forward networks with one hidden layer, stored as stacked weights.

    activation "relu": E(x) = ReLU(x W_1) W_2, the authors' feed-forward expert (tensor2tensor
    expert_utils.py, FeedForwardExpert: ReLU hidden layer, no biases). "swiglu": E(x) = (SiLU(x W_gate) ⊙ x W_up)
    W_2, Mixtral's expert, here for the parity test; W_1 then holds [W_gate | W_up]."""

    def __init__(self, n_experts: int, d_model: int, d_expert: int, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ("relu", "swiglu"):
            raise ValueError(f"expert activation must be 'relu' or 'swiglu', got {activation!r}")
        self.activation, self.d_expert = activation, d_expert
        width = 2 * d_expert if activation == "swiglu" else d_expert
        self.W_1 = nn.Parameter(torch.randn(n_experts, d_model, width) / math.sqrt(d_model))
        self.W_2 = nn.Parameter(torch.randn(n_experts, d_expert, d_model) / math.sqrt(d_expert))

    def hidden(self, h: Tensor) -> Tensor:
        if self.activation == "relu":
            return F.relu(h)
        gate, up = h.split(self.d_expert, dim=-1)
        return F.silu(gate) * up

    def one(self, e: int, x: Tensor) -> Tensor:
        """Expert e on its own tokens: x [n_e, d_model] -> [n_e, d_model]."""
        return self.hidden(x @ self.W_1[e]) @ self.W_2[e]

    def all(self, x: Tensor) -> Tensor:
        """Every expert on every token (the dense baseline of the benchmark): [tokens, d] -> [n_experts, tokens, d]."""
        return self.hidden(torch.einsum("td,edf->etf", x, self.W_1)) @ self.W_2


def capacity(n_tokens: int, n_experts: int, top_k: int, capacity_factor: float | None) -> int:
    """Slots per expert: ceil(capacity_factor · tokens · k / n_experts); None: room for every token."""
    if capacity_factor is None:
        return n_tokens
    return max(1, math.ceil(capacity_factor * n_tokens * top_k / n_experts))


class MoE(nn.Module):
    """y = Σᵢ G(x)ᵢ Eᵢ(x), computing Eᵢ only for the tokens whose gate for i is non-zero (sparse dispatch).

    With a capacity factor, each expert takes at most `capacity(...)` tokens per batch; the tokens beyond it
    (in row order) are dropped: their gate for that expert is zeroed and the residual stream carries them
    past the layer. Callers put rows in position-major order, so whether a token is dropped depends only on
    tokens at its position or earlier (causality holds across the batch too)."""

    def __init__(self, d_model: int, n_experts: int, top_k: int, d_expert: int, capacity_factor: float | None = None,
                 noisy: bool = True, activation: str = "relu") -> None:
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be in [1, n_experts={n_experts}], got {top_k}")
        if capacity_factor is not None and capacity_factor <= 0:
            raise ValueError(f"capacity_factor must be > 0 (or None for no limit), got {capacity_factor}")
        self.n_experts, self.top_k, self.capacity_factor = n_experts, top_k, capacity_factor
        self.gate = NoisyTopKGate(d_model, n_experts, top_k, noisy)
        self.experts = Experts(n_experts, d_model, d_expert, activation)
        self.generator: torch.Generator | None = None  # noise source; the LightningModule seeds it per step
        self.stats: dict[str, Tensor] = {}

    def route(self, x: Tensor) -> dict[str, Tensor]:
        """Gating plus capacity: returns the gate dict with `gates` zeroed where a token was dropped."""
        out = self.gate(x, self.generator)
        gates, top_idx = out["gates"], out["top_idx"]
        chosen = torch.zeros_like(gates, dtype=torch.bool).scatter(1, top_idx, True)  # [tokens, n_experts]
        slots = capacity(len(x), self.n_experts, self.top_k, self.capacity_factor)
        position = chosen.long().cumsum(0)  # [tokens, n_experts]: the token's place in its expert's queue
        kept = chosen & (position <= slots)
        out["gates"] = gates * kept
        out["kept"] = kept
        out["chosen"] = chosen
        return out

    def forward(self, x: Tensor, dense: bool = False) -> Tensor:
        """x [tokens, d_model] -> [tokens, d_model]. dense=True computes every expert on every token and
        combines with the same gates (same output, n_experts / k times the work: the benchmark's baseline)."""
        r = self.route(x)
        gates, kept = r["gates"], r["kept"]
        if dense:
            y = torch.einsum("te,etd->td", gates, self.experts.all(x))
        else:
            y = torch.zeros_like(x)
            for e in range(self.n_experts):
                rows = kept[:, e].nonzero().squeeze(1)  # [n_e]: the tokens expert e keeps
                if len(rows):
                    y = y.index_add(0, rows, self.experts.one(e, x[rows]) * gates[rows, e : e + 1])
        self.stats = {"chosen": r["chosen"].sum(0).detach(), "kept": kept.sum(0).detach(),
                      "importance": r["importance"], "load": r["load"], "logits": r["logits"]}
        return y

    def balance_losses(self) -> tuple[Tensor, Tensor]:
        """(L_importance, L_load) before their weights: CV² of the batch's importance and smooth load."""
        return cv_squared(self.stats["importance"]), cv_squared(self.stats["load"])


@dataclass
class ModelConfig:
    vocab_size: int = 81
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    block_size: int = 64
    ffn: str = "moe"  # "dense" or "moe"
    d_ff: int = 256  # dense hidden width; an MoE expert gets d_ff // top_k, so k experts = one dense FFN
    n_experts: int = 8
    top_k: int = 2
    capacity_factor: float | None = 2.0
    noisy: bool = True
    activation: str = "relu"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "block_size", "d_ff", "n_experts", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.ffn not in ("dense", "moe"):
            raise ValueError(f"ffn must be 'dense' or 'moe', got {self.ffn!r}")
        if self.ffn == "moe":
            if self.top_k > self.n_experts:
                raise ValueError(f"model.top_k ({self.top_k}) must be <= model.n_experts ({self.n_experts})")
            if self.d_ff % self.top_k:
                raise ValueError(f"model.d_ff ({self.d_ff}) must be divisible by model.top_k ({self.top_k})")
        if self.capacity_factor is not None and self.capacity_factor <= 0:
            raise ValueError(f"model.capacity_factor must be > 0 or null, got {self.capacity_factor}")


class FeedForward(nn.Module):
    """The dense baseline: ReLU(x W_1) W_2 with d_ff hidden units, the same form as one expert."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        # The same initialisation as an expert's weights, so only the routing differs.
        self.W_1 = nn.Parameter(torch.randn(d_model, d_ff) / math.sqrt(d_model))
        self.W_2 = nn.Parameter(torch.randn(d_ff, d_model) / math.sqrt(d_ff))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x @ self.W_1) @ self.W_2  # [..., d_ff] -> [..., d_model]


class Block(nn.Module):
    """Pre-LN decoder block: x + Attention(LN(x)), then x + FFN(LN(x)) with FFN dense or MoE."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        if cfg.ffn == "moe":
            self.ffn = MoE(cfg.d_model, cfg.n_experts, cfg.top_k, cfg.d_ff // cfg.top_k, cfg.capacity_factor,
                           cfg.noisy, cfg.activation)
        else:
            self.ffn = FeedForward(cfg.d_model, cfg.d_ff)

    def attention(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.W_qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)  # [b, h, t, d_h]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [b, h, t, d_h]
        return self.W_o(y.transpose(1, 2).reshape(b, t, d))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.ln_1(x))
        h = self.ln_2(x)
        if isinstance(self.ffn, MoE):
            b, t, d = h.shape
            rows = h.transpose(0, 1).reshape(t * b, d)  # [seq * batch, d]: position-major, for causal capacity
            return x + self.ffn(rows).view(t, b, d).transpose(0, 1)
        return x + self.ffn(h)


class DecoderLM(nn.Module):
    """A character-level decoder: token + learned position embeddings, n_layers blocks, LN, output head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def moe_layers(self) -> list[MoE]:
        return [b.ffn for b in self.blocks if isinstance(b.ffn, MoE)]

    def forward(self, idx: Tensor) -> Tensor:
        if idx.dim() != 2 or idx.shape[1] > self.cfg.block_size:
            raise ValueError(f"idx must be [batch, seq <= block_size={self.cfg.block_size}], got {list(idx.shape)}")
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))  # [batch, seq, d_model]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # [batch, seq, vocab]


def active_params(model: DecoderLM) -> int:
    """Parameters that touch one token: every dense weight, plus k of the n experts in each MoE layer
    (the gate's W_g and W_noise included: every token uses them)."""
    total = sum(p.numel() for p in model.parameters())
    for layer in model.moe_layers():
        per_expert = (layer.experts.W_1.numel() + layer.experts.W_2.numel()) // layer.n_experts
        total -= (layer.n_experts - layer.top_k) * per_expert
    return total
