"""GPT-1 of Radford et al. (2018), "Improving Language Understanding by Generative Pre-Training",
in the paper's order.

Section 3.1   the language model: h_0 = U W_e + W_p, h_l = transformer_block(h_{l-1}),
              P(u) = softmax(h_n W_e^T)  (a decoder-only Transformer, Liu et al. 2018)
Section 3.2   the classifier on top: P(y | x^1..x^m) = softmax(h_l^m W_y)
Section 3.3   task-specific input transformations (the token sequences live in data.py; the
              similarity and multiple-choice heads below)
Section 4.1   model specification: post-LN blocks, masked multi-head self-attention, GELU,
              learned position embeddings, N(0, 0.02) initialisation, dropout 0.1 everywhere

Differences from the 2017 Transformer (paper 01): no encoder and no cross-attention, learned
positions instead of sinusoids, GELU instead of ReLU, and the same causal stack serves both
pre-training (next-token prediction) and fine-tuning (a linear classifier on one position).

Conventions: row vectors, `x @ W + b`; shapes are [batch, seq, d_model]; N is the number of blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class GPTConfig:
    vocab_size: int  # characters plus the special tokens (start, delimiter, extract, pad)
    n_positions: int = 512  # context length: rows of the learned position table W_p
    d_model: int = 768
    n_heads: int = 12  # H
    d_ff: int = 3072  # inner width of the feed-forward network, 4 * d_model in the paper
    n_layers: int = 12  # N, the number of decoder blocks
    dropout: float = 0.1  # residual, embedding and attention dropout (the paper uses 0.1 for all)
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "d_model", "n_heads", "d_ff", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


# --- Masked multi-head self-attention ----------------------------------------------------------


class CausalSelfAttention(nn.Module):
    """MultiHead(X) = Concat(head_1..head_H) W_o, head_i = softmax(Q_i K_i^T / sqrt(d_k) + M) V_i.

    M is the causal mask: 0 where key j <= query i, -inf after, so position i never reads the
    future. That is what makes the stack a language model: it predicts u_i from u_<i only.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.dropout = cfg.n_heads, cfg.d_k, cfg.dropout
        self.W_q = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_k = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_v = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.n_heads, self.d_k).transpose(1, 2)  # [batch, H, seq, d_k]

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, seq, d_model] -> [batch, seq, d_model]."""
        q, k, v = self._split_heads(self.W_q(x)), self._split_heads(self.W_k(x)), self._split_heads(self.W_v(x))
        # The fused kernel (flash or memory-efficient attention on a GPU) applies the 1/sqrt(d_k)
        # scale, the causal mask and attention dropout without materialising [seq, seq] weights.
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # [batch, H, seq, d_k]
        batch, _, seq, _ = out.shape
        return self.W_o(out.transpose(1, 2).reshape(batch, seq, -1))  # concat heads: [batch, seq, d_model]


def attention_weights(attn: CausalSelfAttention, x: Tensor) -> Tensor:
    """The same attention written out, returning softmax(Q K^T / sqrt(d_k) + M): [batch, H, seq, seq]."""
    q, k = attn._split_heads(attn.W_q(x)), attn._split_heads(attn.W_k(x))
    scores = q @ k.transpose(-2, -1) / attn.d_k**0.5  # [batch, H, seq, seq]
    seq = x.size(1)
    future = torch.ones(seq, seq, dtype=torch.bool, device=x.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(-1)


# --- Position-wise feed-forward network with GELU ----------------------------------------------


class FeedForward(nn.Module):
    """FFN(x) = GELU(x W_1 + b_1) W_2 + b_2.

    GELU(x) = x * Phi(x), in the tanh approximation the paper's code uses:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Smooth where ReLU has a kink at 0.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.W_2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.gelu(self.W_1(x), approximate="tanh"))  # [batch, seq, d_ff] inside


# --- The decoder block (post-LN, as in the paper) ---------------------------------------------------


class Block(nn.Module):
    """h = LayerNorm(x + Dropout(MaskedSelfAttention(x))); out = LayerNorm(h + Dropout(FFN(h))).

    LayerNorm comes *after* each residual add (post-LN), exactly as in the 2017 Transformer and
    in GPT-1. GPT-2 moved it in front of each sublayer (pre-LN); see papers/03_gpt2.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(cfg)
        self.ln_1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln_1(x + self.drop(self.attn(x)))
        return self.ln_2(h + self.drop(self.ffn(h)))


# --- The language model (Section 3.1) --------------------------------------------------------------


class GPT(nn.Module):
    """h_0 = U W_e + W_p; h_l = block(h_{l-1}) for l = 1..N; P(u) = softmax(h_N W_e^T).

    The output layer is W_e itself (tied input/output embedding), so the model has no separate
    [d_model, vocab] projection.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.W_e = nn.Embedding(cfg.vocab_size, cfg.d_model)  # token embedding matrix
        self.W_p = nn.Embedding(cfg.n_positions, cfg.d_model)  # learned position embedding matrix
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.apply(init_weights)

    def forward(self, ids: Tensor) -> Tensor:
        """Token ids U [batch, seq] -> final hidden states h_N [batch, seq, d_model]."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be token ids [batch, seq], got shape {list(ids.shape)}")
        seq = ids.size(1)
        if seq > self.cfg.n_positions:
            raise ValueError(f"sequence length {seq} exceeds n_positions {self.cfg.n_positions}")
        positions = torch.arange(seq, device=ids.device)
        h = self.drop(self.W_e(ids) + self.W_p(positions))  # h_0: [batch, seq, d_model]
        for block in self.blocks:
            h = block(h)
        return h

    def lm_logits(self, h: Tensor) -> Tensor:
        """h_N [batch, seq, d_model] -> next-token logits h_N W_e^T [batch, seq, vocab]."""
        return h @ self.W_e.weight.T

    @torch.no_grad()
    def generate(self, ids: Tensor, max_new_tokens: int) -> Tensor:
        """Greedy decoding: append argmax P(u | context) one token at a time. [batch, seq + new]."""
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        for _ in range(max_new_tokens):
            context = ids[:, -self.cfg.n_positions :]  # the model sees at most n_positions tokens
            next_id = self.lm_logits(self(context)[:, -1]).argmax(-1, keepdim=True)
            ids = torch.cat([ids, next_id], dim=1)
        return ids


def init_weights(module: nn.Module) -> None:
    """Section 4.1: "weights initialized from N(0, 0.02)"; biases 0, LayerNorm gain 1 and bias 0."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def lm_loss(model: GPT, ids: Tensor, h: Tensor | None = None, ignore_id: int | None = None) -> Tensor:
    """L_1 as a mean negative log-likelihood: -1/T sum_i log P(u_i | u_<i), averaged over the batch.

    ids [batch, seq]; h are the hidden states of ids if already computed. Position i predicts
    token i + 1. Targets equal to `ignore_id` (padding) do not count: each sequence is averaged
    over its own real tokens, then sequences are averaged, as in the paper's code.
    """
    h = model(ids) if h is None else h
    logits = model.lm_logits(h[:, :-1])  # [batch, seq - 1, vocab]
    target = ids[:, 1:]  # [batch, seq - 1]
    nll = F.cross_entropy(logits.float().transpose(1, 2), target, reduction="none")  # [batch, seq - 1]
    keep = torch.ones_like(nll) if ignore_id is None else (target != ignore_id).float()
    return ((nll * keep).sum(1) / keep.sum(1).clamp(min=1)).mean()


# --- Supervised fine-tuning (Section 3.2) -----------------------------------------------------------


class ClassifierHead(nn.Module):
    """P(y | x^1..x^m) = softmax(h_N^m W_y): a linear layer on the hidden state of the extract token.

    The extract token is the last one of the transformed input, so under the causal mask its state
    is the only one that has read the whole input.
    """

    def __init__(self, d_model: int, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.drop = nn.Dropout(dropout)  # the paper's 0.1 dropout on the classifier input
        self.W_y = nn.Linear(d_model, n_classes)
        init_weights(self.W_y)

    def forward(self, h: Tensor, extract_pos: Tensor) -> Tensor:
        """h [batch, seq, d_model], extract_pos [batch] (index of the extract token) -> logits [batch, n_classes]."""
        return self.W_y(self.drop(extract_state(h, extract_pos)))


def extract_state(h: Tensor, extract_pos: Tensor) -> Tensor:
    """h_N^m: pick position extract_pos[b] from row b. [batch, seq, d_model] -> [batch, d_model]."""
    if extract_pos.shape != h.shape[:1]:
        raise ValueError(f"extract_pos must be [batch] = [{h.size(0)}], got {list(extract_pos.shape)}")
    if (extract_pos < 0).any() or (extract_pos >= h.size(1)).any():
        raise ValueError(f"extract_pos must index the sequence (0..{h.size(1) - 1})")
    return h[torch.arange(h.size(0), device=h.device), extract_pos]


class GPTClassifier(nn.Module):
    """The fine-tuning model: the language model's stack plus the linear head W_y (one per task)."""

    def __init__(self, cfg: GPTConfig, n_classes: int = 2, clf_dropout: float = 0.1) -> None:
        super().__init__()
        self.gpt = GPT(cfg)
        self.head = ClassifierHead(cfg.d_model, n_classes, clf_dropout)

    def forward(self, ids: Tensor, extract_pos: Tensor) -> tuple[Tensor, Tensor]:
        """ids [batch, seq], extract_pos [batch] -> class logits [batch, n_classes] and h_N [batch, seq, d_model].

        h_N comes back too, so the auxiliary language-modelling loss reuses the same forward pass.
        """
        h = self.gpt(ids)
        return self.head(h, extract_pos), h


def similarity_logits(model: GPT, head: ClassifierHead, ab: Tensor, ab_pos: Tensor, ba: Tensor,
                      ba_pos: Tensor) -> Tensor:
    """Section 3.3, similarity: no natural order, so run both orderings (A $ B and B $ A) and add
    their h_N^m element-wise before W_y. -> [batch, n_classes]."""
    h = extract_state(model(ab), ab_pos) + extract_state(model(ba), ba_pos)  # [batch, d_model]
    return head.W_y(head.drop(h))


def multiple_choice_logits(model: GPT, head: ClassifierHead, ids: Tensor, extract_pos: Tensor) -> Tensor:
    """Section 3.3, multiple choice: one sequence [start] context $ answer_k [extract] per answer,
    each scored independently, then a softmax over the K answers.

    ids [batch, K, seq], extract_pos [batch, K] -> logits over answers [batch, K]. The head must
    have one output (a score per sequence).
    """
    if ids.dim() != 3:
        raise ValueError(f"ids must be [batch, K, seq], got shape {list(ids.shape)}")
    batch, k, seq = ids.shape
    h = model(ids.reshape(batch * k, seq))  # [batch * K, seq, d_model]
    return head(h, extract_pos.reshape(batch * k)).view(batch, k)
