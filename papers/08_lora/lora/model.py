"""LoRA of Hu et al. (2021), "LoRA: Low-Rank Adaptation of Large Language Models" (arXiv 2106.09685),
on a small GPT-2-style character language model, in the paper's order.

Section 4.1   the low-rank update: a frozen pre-trained weight W_0 [d, k] gets a trainable
              Delta W = B A with B [d, r], A [r, k], r << min(d, k); h = W_0 x + (alpha / r) B A x.
              A starts random Gaussian, B starts at zero, so Delta W = 0 at the start of training.
              For deployment, W = W_0 + (alpha / r) B A is computed once (merge): no extra latency.
Section 4.2   where to put it: the paper adapts only attention weights (W_q and W_v in most
              experiments) and freezes the MLP; here `targets` names any linear layers.

PyTorch stores nn.Linear's weight as [out, in] and computes x @ W^T, so in code A is [r, in] and
B is [out, r] (peft uses the same layout: lora_A = Linear(in, r), lora_B = Linear(r, out)).
Conventions: activations are rows, [batch, seq, d_model].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- The base model: a small pre-LN decoder (the GPT-2 layout the paper adapts in Section 5.4) -----


@dataclass
class GPTConfig:
    vocab_size: int
    n_positions: int = 64  # context length: rows of the learned position table
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256  # 4 * d_model, as in GPT-2
    n_layers: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "d_model", "n_heads", "d_ff", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class CausalSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_k) + M) V per head, Q = x W_q, K = x W_k, V = x W_v, then W_o.

    The four projections are separate nn.Linear layers named as in the paper (Section 4.2), so an
    adapter can target W_q and W_v by name (ours and peft's `target_modules` alike).
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.W_q = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_k = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_v = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        batch, seq, d_model = x.shape
        def heads(t: Tensor) -> Tensor:
            return t.view(batch, seq, self.n_heads, -1).transpose(1, 2)  # [batch, H, seq, d_k]

        q, k, v = heads(self.W_q(x)), heads(self.W_k(x)), heads(self.W_v(x))
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # [batch, H, seq, d_k]
        return self.W_o(out.transpose(1, 2).reshape(batch, seq, d_model))  # [batch, seq, d_model]


class Block(nn.Module):
    """Pre-LN: x + Attn(LN(x)), then + MLP(LN(.)); the MLP is W_1, GELU, W_2."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.W_1, self.W_2 = nn.Linear(cfg.d_model, cfg.d_ff), nn.Linear(cfg.d_ff, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.W_2(F.gelu(self.W_1(self.ln_2(x)))))  # [batch, seq, d_ff] inside


class GPT(nn.Module):
    """Token + position embeddings, n_layers blocks, a final LayerNorm and an (untied) output head."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.n_positions, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        for name, p in self.named_parameters():  # GPT-2's N(0, 0.02) for every matrix
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, ids: Tensor) -> Tensor:
        """ids [batch, seq] -> logits [batch, seq, vocab]."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be [batch, seq], got shape {list(ids.shape)}")
        if ids.size(1) > self.cfg.n_positions:
            raise ValueError(f"sequence length {ids.size(1)} exceeds n_positions {self.cfg.n_positions}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.size(1), device=ids.device))  # [batch, seq, d_model]
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # [batch, seq, vocab]


def lm_loss(model: nn.Module, ids: Tensor) -> Tensor:
    """Mean next-character cross-entropy in nats: predict ids[:, 1:] from ids[:, :-1]."""
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), ids[:, 1:].reshape(-1))


# --- Section 4.1: the LoRA layer -------------------------------------------------------------------


class LoRALinear(nn.Module):
    """h = W_0 x + b + (alpha / r) * B A x, with W_0 and b frozen.

    base: the pre-trained nn.Linear (weight [out, in]); it is kept, frozen, as `base`.
    lora_A [r, in]: random Gaussian at the start, std `init_std` (default 1/r, peft's "gaussian").
    lora_B [out, r]: zero at the start, so the adapted layer begins as exactly the base layer.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, init_std: float | None = None) -> None:
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRA rank r must be >= 1, got {r}")
        if alpha <= 0:
            raise ValueError(f"LoRA alpha must be > 0, got {alpha}")
        self.base, self.r, self.alpha = base, r, alpha
        self.scaling = alpha / r  # Section 4.1: Delta W x is scaled by alpha / r
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * (init_std if init_std else 1.0 / r))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.merged = False

    def delta_weight(self) -> Tensor:
        """(alpha / r) B A: [out, in], the update in nn.Linear's layout."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: Tensor) -> Tensor:
        h = self.base(x)  # W_0 x + b                        [..., out]
        if self.merged:  # W_0 already holds B A: adding it again would count it twice
            return h
        return h + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)  # [..., r] inside: the bottleneck

    @torch.no_grad()
    def merge(self) -> None:
        """W = W_0 + (alpha / r) B A: one matrix, the inference cost of the base model."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract B A again: recovers W_0 (up to float rounding), e.g. to switch to another task."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False


def add_lora(model: nn.Module, targets: tuple[str, ...] | list[str] = ("W_q", "W_v"), r: int = 4,
             alpha: float = 4.0, init_std: float | None = None) -> nn.Module:
    """Freeze every parameter of `model`, then wrap each nn.Linear whose name is in `targets` in a
    LoRALinear. Returns the model (changed in place). Only lora_A and lora_B are trainable after."""
    for p in model.parameters():
        p.requires_grad_(False)
    found = [(name, m) for name, m in model.named_modules()
             if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets]
    missing = set(targets) - {name.rsplit(".", 1)[-1] for name, _ in found}
    if missing:
        raise ValueError(f"LoRA targets {sorted(missing)} name no nn.Linear in the model")
    for name, linear in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(linear, r, alpha, init_std))
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapter: the A and B matrices. With the base checkpoint this is the whole task."""
    return {k: v for k, v in model.state_dict().items() if k.endswith(("lora_A", "lora_B"))}


def count_trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters); for a LoRA model all = base + adapter."""
    return (sum(p.numel() for p in model.parameters() if p.requires_grad),
            sum(p.numel() for p in model.parameters()))


# --- Section 7.2: subspace similarity between two adapters -----------------------------------------


def subspace_similarity(A_1: Tensor, A_2: Tensor, i: int, j: int) -> float:
    """phi(A_1, A_2, i, j) = ||U_1[:i]^T U_2[:j]||_F^2 / min(i, j), in [0, 1].

    U_1, U_2 are the right-singular vectors of A_1 [r_1, k] and A_2 [r_2, k] (the directions in input
    space each adapter reads), ordered by singular value. 1: the top-i directions of one span the
    top-j of the other (or the reverse); 0: they are orthogonal.
    """
    if not (1 <= i <= A_1.size(0) and 1 <= j <= A_2.size(0)):
        raise ValueError(f"need 1 <= i <= {A_1.size(0)} and 1 <= j <= {A_2.size(0)}, got i={i}, j={j}")
    U_1 = torch.linalg.svd(A_1.double(), full_matrices=False).Vh[:i]  # [i, k], orthonormal rows
    U_2 = torch.linalg.svd(A_2.double(), full_matrices=False).Vh[:j]  # [j, k]
    return float((U_1 @ U_2.T).pow(2).sum() / min(i, j))


def lora_param_share(d_model: int, n_layers: int, r: int, n_targets: int, total: int) -> float:
    """Trainable share of a LoRA model: each adapted d x d matrix adds 2 r d (A and B) to its d^2."""
    return n_targets * n_layers * 2 * r * d_model / total


__all__ = ["GPT", "GPTConfig", "LoRALinear", "add_lora", "merge_lora", "unmerge_lora", "lora_state_dict",
           "count_trainable", "subspace_similarity", "lm_loss"]
