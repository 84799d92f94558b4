"""The Transformer of Vaswani et al. (2017), "Attention Is All You Need", in the paper's order.

Section 3.2   scaled dot-product attention, multi-head attention
Section 3.3   position-wise feed-forward network
Section 3.4   embeddings (scaled by sqrt(d_model), shared with the pre-softmax projection)
Section 3.5   sinusoidal positional encoding
Section 3.1   encoder and decoder stacks, post-LN residual sublayers: LayerNorm(x + Dropout(Sublayer(x)))
Section 6     greedy decoding and beam search with a length penalty

Conventions: row vectors, `x @ W + b`; shapes are [batch, seq, d_model]; masks are boolean with
True meaning "may attend" (the convention of `torch.nn.functional.scaled_dot_product_attention`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class TransformerConfig:
    vocab_size: int  # one joint vocabulary for source and target, so all three embeddings can be shared
    d_model: int = 512  # width of every token vector
    n_heads: int = 8  # h in the paper
    d_ff: int = 2048  # inner width of the feed-forward network
    n_layers: int = 6  # N: layers in the encoder, and again in the decoder
    dropout: float = 0.1  # P_drop
    max_len: int = 512  # longest sequence the positional table covers
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.d_model % 2 != 0:
            raise ValueError(f"d_model ({self.d_model}) must be even for sinusoidal positions")
        for name in ("vocab_size", "d_model", "n_heads", "d_ff", "n_layers", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id ({self.pad_id}) must be a token id below vocab_size ({self.vocab_size})")

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


# --- 3.2.1 Scaled dot-product attention -------------------------------------------------------------


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 dropout: float = 0.0) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V, written out so the weights can be looked at.

    q: [batch, heads, t_q, d_k], k: [batch, heads, t_k, d_k], v: [batch, heads, t_k, d_k]
    mask: bool, broadcastable to [batch, heads, t_q, t_k], True where attending is allowed.
    Returns the output [batch, heads, t_q, d_k] and the weights [batch, heads, t_q, t_k].
    """
    d_k = q.size(-1)
    # Dividing by sqrt(d_k) keeps the dot products at unit variance whatever d_k is, so the
    # softmax does not saturate into one-hot weights with vanishing gradients.
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # [batch, heads, t_q, t_k]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    weights = F.dropout(weights, p=dropout) if dropout > 0 else weights
    return weights @ v, weights


# --- 3.2.2 Multi-head attention ------------------------------------------------------------------------


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_o with head_i = Attention(Q W_q^i, K W_k^i, V W_v^i).

    The h projections of size d_model x d_k are stored side by side as one d_model x d_model
    matrix per role, which is the same maths and one matrix multiply instead of h.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads, self.d_k, self.dropout = n_heads, d_model // n_heads, dropout
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.n_heads, self.d_k).transpose(1, 2)  # [batch, heads, seq, d_k]

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """query [batch, t_q, d_model], key and value [batch, t_k, d_model] -> [batch, t_q, d_model].

        With need_weights=False the fused kernel (`F.scaled_dot_product_attention`: flash or
        memory-efficient attention on a GPU) computes the same thing without materialising the
        [t_q, t_k] weights; with need_weights=True the explicit formula above runs and returns them.
        """
        if query.dim() != 3 or query.size(-1) != self.n_heads * self.d_k:
            raise ValueError(f"query must be [batch, seq, {self.n_heads * self.d_k}], got {list(query.shape)}")
        q = self._split_heads(self.W_q(query))  # [batch, heads, t_q, d_k]
        k = self._split_heads(self.W_k(key))  # [batch, heads, t_k, d_k]
        v = self._split_heads(self.W_v(value))  # [batch, heads, t_k, d_k]
        p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, p)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        batch, _, t_q, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, t_q, self.n_heads * self.d_k)  # concat heads: [batch, t_q, d_model]
        return self.W_o(out), weights


# --- 3.3 Position-wise feed-forward network -------------------------------------------------------------


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, applied to every position separately."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.W_1 = nn.Linear(d_model, d_ff)
        self.W_2 = nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.relu(self.W_1(x)))  # [batch, seq, d_ff] inside, [batch, seq, d_model] out


# --- 3.5 Positional encoding --------------------------------------------------------------------------


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).

    Returns [max_len, d_model]. Each pair of columns is a clock at its own frequency, so PE[pos+k]
    is a fixed rotation of PE[pos]: relative offsets are a linear function of the encoding.
    """
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # [max_len, 1]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)  # [d_model / 2]
    angle = pos / torch.pow(10000.0, two_i / d_model)  # [max_len, d_model / 2]
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


# --- 3.1 Encoder and decoder layers (post-LN) -------------------------------------------------------------


class EncoderLayer(nn.Module):
    """Self-attention then FFN, each wrapped as LayerNorm(x + Dropout(Sublayer(x))): the paper's post-LN."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        # The paper drops out sublayer outputs and embedding sums (Section 5.4), not attention
        # weights, so the attention modules get no dropout of their own.
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads)
        self.ffn = PositionwiseFeedForward(cfg.d_model, cfg.d_ff)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, src_mask: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        attn, weights = self.self_attn(x, x, x, src_mask, need_weights)
        x = self.norm1(x + self.drop(attn))
        x = self.norm2(x + self.drop(self.ffn(x)))
        return x, weights


class DecoderLayer(nn.Module):
    """Masked self-attention, attention over the encoder output ("memory"), then FFN; post-LN."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads)
        self.ffn = PositionwiseFeedForward(cfg.d_model, cfg.d_ff)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, y: Tensor, memory: Tensor, tgt_mask: Tensor, src_mask: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        attn, _ = self.self_attn(y, y, y, tgt_mask)
        y = self.norm1(y + self.drop(attn))
        # Queries come from the decoder, keys and values from the encoder: this is where the
        # target looks up the source, and where the alignment in the attention figure lives.
        attn, cross_weights = self.cross_attn(y, memory, memory, src_mask, need_weights)
        y = self.norm2(y + self.drop(attn))
        y = self.norm3(y + self.drop(self.ffn(y)))
        return y, cross_weights


# --- The model ------------------------------------------------------------------------------------------


class Transformer(nn.Module):
    """Encoder-decoder Transformer with one embedding matrix shared by source, target and output layer."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.register_buffer("pe", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        # The embedding is also the output projection; N(0, d_model^-1/2) keeps its products with
        # unit-norm decoder states small at the start, while the sqrt(d_model) input scale
        # brings the embeddings back to the size of the positional encodings.
        nn.init.normal_(self.embed.weight, mean=0.0, std=self.cfg.d_model**-0.5)

    def _embed(self, ids: Tensor) -> Tensor:
        """Token ids [batch, seq] -> Dropout(Embedding(ids) * sqrt(d_model) + PE): [batch, seq, d_model]."""
        seq = ids.size(1)
        if seq > self.cfg.max_len:
            raise ValueError(f"sequence length {seq} exceeds max_len {self.cfg.max_len}")
        return self.drop(self.embed(ids) * math.sqrt(self.cfg.d_model) + self.pe[:seq])

    def padding_mask(self, src: Tensor) -> Tensor:
        """[batch, t_src] -> [batch, 1, 1, t_src]: every query may look at every non-pad source token."""
        return (src != self.cfg.pad_id)[:, None, None, :]

    @staticmethod
    def causal_mask(t: int, device: torch.device | None = None) -> Tensor:
        """[t, t] lower-triangular: position i may attend to positions 0..i only."""
        return torch.ones(t, t, dtype=torch.bool, device=device).tril()

    def encode(self, src: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor, list]:
        """src ids [batch, t_src] -> memory [batch, t_src, d_model], src mask, per-layer self-attention."""
        if src.dim() != 2:
            raise ValueError(f"src must be token ids [batch, seq], got shape {list(src.shape)}")
        src_mask = self.padding_mask(src)
        x, maps = self._embed(src), []
        for layer in self.encoder:
            x, w = layer(x, src_mask, need_weights)
            maps.append(w)
        return x, src_mask, maps

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor,
               need_weights: bool = False) -> tuple[Tensor, list]:
        """Shifted target ids [batch, t_tgt] -> logits [batch, t_tgt, vocab], per-layer cross-attention."""
        tgt_mask = self.causal_mask(tgt_in.size(1), tgt_in.device)
        y, maps = self._embed(tgt_in), []
        for layer in self.decoder:
            y, w = layer(y, memory, tgt_mask, src_mask, need_weights)
            maps.append(w)
        return y @ self.embed.weight.T, maps  # pre-softmax projection shares the embedding matrix

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        memory, src_mask, _ = self.encode(src)
        logits, _ = self.decode(tgt_in, memory, src_mask)
        return logits  # [batch, t_tgt, vocab]

    # --- Section 6: inference ---------------------------------------------------------------------------

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, bos_id: int, eos_id: int, max_len: int) -> Tensor:
        """Pick the most likely next token until every sequence has emitted EOS. -> [batch, <= max_len + 1]."""
        memory, src_mask, _ = self.encode(src)
        out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits, _ = self.decode(out, memory, src_mask)
            next_id = logits[:, -1].argmax(-1)
            next_id = torch.where(done, torch.full_like(next_id, self.cfg.pad_id), next_id)
            out = torch.cat([out, next_id[:, None]], dim=1)
            done |= next_id == eos_id
            if done.all():
                break
        return out

    @torch.no_grad()
    def beam_search(self, src: Tensor, bos_id: int, eos_id: int, max_len: int, beam_size: int = 4,
                    alpha: float = 0.6) -> Tensor:
        """Keep the `beam_size` best partial outputs at every step; rank finished ones by
        log P(y) / lp(y) with the length penalty lp(y) = ((5 + |y|) / 6)^alpha (Wu et al., 2016),
        the paper's beam size 4 and alpha 0.6. Returns the best sequence per input [batch, <= max_len + 1].
        """
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        batch, k, pad = src.size(0), beam_size, self.cfg.pad_id
        memory, src_mask, _ = self.encode(src)
        memory, src_mask = memory.repeat_interleave(k, 0), src_mask.repeat_interleave(k, 0)  # [batch*k, ...]
        seqs = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=src.device)
        scores = torch.zeros(batch, k, device=src.device)
        scores[:, 1:] = float("-inf")  # all beams start identical: let only the first one expand
        done = torch.zeros(batch * k, dtype=torch.bool, device=src.device)
        lengths = torch.zeros(batch * k, device=src.device)
        for _ in range(max_len):
            logits, _ = self.decode(seqs, memory, src_mask)
            logp = logits[:, -1].float().log_softmax(-1)  # [batch*k, vocab]
            # A finished beam may only append padding, at no cost, so its score stays fixed.
            logp[done] = float("-inf")
            logp[done, pad] = 0.0
            vocab = logp.size(-1)
            cand = (scores.view(-1, 1) + logp).view(batch, k * vocab)
            scores, flat = cand.topk(k, dim=-1)  # [batch, k]
            parent = (flat // vocab + torch.arange(batch, device=src.device)[:, None] * k).view(-1)
            token = (flat % vocab).view(-1)
            seqs = torch.cat([seqs[parent], token[:, None]], dim=1)
            lengths = lengths[parent] + (~done[parent]).float()
            done = done[parent] | (token == eos_id)
            if done.all():
                break
        penalty = ((5.0 + lengths) / 6.0) ** alpha
        best = (scores.view(-1) / penalty).view(batch, k).argmax(-1)
        return seqs.view(batch, k, -1)[torch.arange(batch), best]
