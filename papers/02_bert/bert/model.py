"""BERT of Devlin et al. (2018), "BERT: Pre-training of Deep Bidirectional Transformers", in the paper's order.

Section 3, Figure 2   input representation: token + segment + position embeddings, LayerNorm, dropout
Section 3             model: the Transformer *encoder* of Vaswani et al. (post-LN, GELU), bidirectional
Section 3.1, Task 1   masked LM head: transform (dense + GELU + LayerNorm), decoder tied to the token embeddings
Section 3.1, Task 2   next sentence prediction head on the pooled [CLS] vector (tanh pooler)
Section 3.2           fine-tuning: one new linear layer on the pooled [CLS] vector

Conventions: row vectors, `x @ W + b`; shapes are [batch, seq, d_model]. The attention mask is
boolean with True meaning "may attend" (the convention of `F.scaled_dot_product_attention`).
Nothing here is causal: every position sees every other real (non-padding) position.

Padding is never guessed from the token ids. The caller says which tokens are real with a
`padding_mask` [batch, seq] (1 = real); with none, every token is real. That is what the released
code (`modeling.py`: a missing `input_mask` becomes all ones) and Hugging Face's `BertModel` (no
`attention_mask`: attend to everything) do, so ported weights see the same inputs the same way,
even in a vocabulary where id 0 is a real token. Our collate functions pass `ids != PAD`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class BertConfig:
    vocab_size: int
    d_model: int = 768  # H in the paper (BERT-base: 768)
    n_heads: int = 12  # A in the paper
    d_ff: int = 3072  # the paper's 4H feed-forward width
    n_layers: int = 12  # L in the paper
    max_len: int = 512  # learned positions exist only up to here
    n_segments: int = 2  # sentence A and sentence B
    dropout: float = 0.1  # on embeddings and every sublayer output
    attention_dropout: float = 0.1  # on the attention weights
    layer_norm_eps: float = 1e-12  # the released BERT code's value
    init_std: float = 0.02  # truncated-normal initialiser of the released code

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "d_ff", "n_layers", "max_len", "n_segments"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


# --- Input representation (Figure 2) ------------------------------------------------------------------------


class BertEmbeddings(nn.Module):
    """E = Dropout(LayerNorm(E_token[ids] + E_segment[segment_ids] + E_position[0..seq-1])).

    All three tables are learned (the Transformer's positions were fixed sinusoids); the sum is
    normalised before the first layer because the encoder is post-LN and never normalises its input.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.token = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.segment = nn.Embedding(cfg.n_segments, cfg.d_model)
        self.position = nn.Embedding(cfg.max_len, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: Tensor, segment_ids: Tensor) -> Tensor:
        positions = torch.arange(ids.size(1), device=ids.device)  # [seq]
        x = self.token(ids) + self.segment(segment_ids) + self.position(positions)  # [batch, seq, d_model]
        return self.drop(self.norm(x))


# --- The encoder: multi-head self-attention and the GELU feed-forward network -----------------------------------


def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None) -> Tensor:
    """softmax(Q K^T / sqrt(d_k)) with masked keys removed: [batch, heads, seq, seq] (rows sum to 1)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # [batch, heads, seq, seq]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1)


class MultiHeadSelfAttention(nn.Module):
    """Concat(head_1..head_A) W_o with head_i = softmax(Q_i K_i^T / sqrt(d_k)) V_i, Q = x W_q + b_q, etc."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.p_drop = cfg.n_heads, cfg.d_k, cfg.attention_dropout
        self.W_q = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_k = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_v = nn.Linear(cfg.d_model, cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)

    def _split(self, x: Tensor) -> Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.n_heads, self.d_k).transpose(1, 2)  # [batch, heads, seq, d_k]

    def forward(self, x: Tensor, mask: Tensor | None, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        q, k, v = self._split(self.W_q(x)), self._split(self.W_k(x)), self._split(self.W_v(x))
        p = self.p_drop if self.training else 0.0
        has_key = None
        if mask is not None:
            # A query with no real key (a sequence that is all padding) would take a softmax over nothing:
            # 0/0 = NaN written out, while fused kernels each do their own thing. Let such a row see every
            # key, then zero what it gets: it attends to nothing, on both paths, with finite gradients.
            has_key = mask.any(-1, keepdim=True)  # [batch, 1, 1, 1]: False for an all-padding sequence
            mask = mask | ~has_key
        if need_weights:  # the explicit formula, so the weights can be looked at
            weights = attention_weights(q, k, mask)
            if has_key is not None:
                weights = weights * has_key  # [batch, heads, seq, seq], all-zero rows where nothing is real
            out = F.dropout(weights, p) @ v
        else:  # the fused kernel (flash / memory-efficient on a GPU): same maths, no [seq, seq] matrix kept
            weights, out = None, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            if has_key is not None:
                out = out * has_key
        batch, _, seq, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, seq, self.n_heads * self.d_k)  # [batch, seq, d_model]
        return self.W_o(out), weights


class FeedForward(nn.Module):
    """FFN(x) = GELU(x W_1 + b_1) W_2 + b_2. BERT swaps the Transformer's ReLU for GELU (Appendix A.2).

    This is the exact (erf) GELU, Hugging Face's "gelu"; the released modeling.py now uses the tanh
    approximation, which differs by up to 4.7e-4.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.W_1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.W_2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.W_2(F.gelu(self.W_1(x)))  # [batch, seq, d_ff] inside, [batch, seq, d_model] out


class EncoderLayer(nn.Module):
    """Post-LN, as in the original Transformer: x = LayerNorm(x + Dropout(Sublayer(x))), twice."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attn = MultiHeadSelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        a, weights = self.attn(x, mask, need_weights)
        x = self.norm1(x + self.drop(a))
        x = self.norm2(x + self.drop(self.ffn(x)))
        return x, weights


# --- The model ------------------------------------------------------------------------------------------------


class BertModel(nn.Module):
    """Embeddings -> N bidirectional encoder layers -> (every position's vector, pooled [CLS] vector).

    The pooler, tanh(h_[CLS] W_pool + b_pool), gives the sentence-level heads (NSP and fine-tuning)
    one vector per sequence.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.W_pool = nn.Linear(cfg.d_model, cfg.d_model)
        self.apply(lambda m: init_weights(m, cfg.init_std))

    def attention_mask(self, ids: Tensor, padding_mask: Tensor | None) -> Tensor | None:
        """[batch, seq] keep-flags (1 = real token) -> bool [batch, 1, 1, seq]; no flags: no mask at all."""
        if padding_mask is None:
            return None  # every token is real, whatever its id (as in the released code and Hugging Face)
        keep = padding_mask.bool()
        if keep.shape != ids.shape:
            raise ValueError(f"padding_mask shape {list(keep.shape)} must match ids shape {list(ids.shape)}")
        return keep[:, None, None, :]  # every query may look at every real key, left or right

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None, padding_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor, list]:
        """ids [batch, seq] -> hidden states [batch, seq, d_model], pooled [batch, d_model], attention maps.

        padding_mask [batch, seq]: 1 for real tokens, 0 for padding; None means every token is real.
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must be token ids [batch, seq], got shape {list(ids.shape)}")
        if ids.size(1) > self.cfg.max_len:
            raise ValueError(f"sequence length {ids.size(1)} exceeds max_len {self.cfg.max_len}")
        if segment_ids is None:
            segment_ids = torch.zeros_like(ids)
        elif segment_ids.shape != ids.shape:
            raise ValueError(f"segment_ids shape {list(segment_ids.shape)} must match ids shape {list(ids.shape)}")
        mask = self.attention_mask(ids, padding_mask)
        x, maps = self.embeddings(ids, segment_ids), []
        for layer in self.layers:
            x, w = layer(x, mask, need_weights)
            maps.append(w)
        pooled = torch.tanh(self.W_pool(x[:, 0]))  # [batch, d_model], from the [CLS] position only
        return x, pooled, maps


def init_weights(module: nn.Module, std: float) -> None:
    """The released BERT initialiser: N(0, 0.02^2) truncated at 2 std for weights, zeros for biases."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# --- Pre-training heads (Section 3.1) ---------------------------------------------------------------------------


class MaskedLMHead(nn.Module):
    """logits = LayerNorm(GELU(h W_t + b_t)) E_token^T + b: scores over the vocabulary for each position.

    The output matrix *is* the input token embedding (tied), so a word's input vector and the
    vector that predicts it are the same; only the per-word bias b is new.
    """

    def __init__(self, cfg: BertConfig, token_embedding: nn.Embedding) -> None:
        super().__init__()
        self.transform = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.token_embedding = token_embedding  # shared module, not a copy
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, h: Tensor) -> Tensor:
        h = self.norm(F.gelu(self.transform(h)))  # [..., d_model]
        return h @ self.token_embedding.weight.T + self.bias  # [..., vocab]


class BertForPreTraining(nn.Module):
    """BERT with both pre-training heads: masked LM on every position, next-sentence prediction on [CLS]."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.bert = BertModel(cfg)
        self.mlm = MaskedLMHead(cfg, self.bert.embeddings.token)
        self.W_nsp = nn.Linear(cfg.d_model, 2)  # IsNext / NotNext
        for module in (self.mlm.transform, self.mlm.norm, self.W_nsp):
            init_weights(module, cfg.init_std)

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None, padding_mask: Tensor | None = None,
                masked: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """-> MLM logits and NSP logits [batch, 2].

        MLM logits are [batch, seq, vocab] for every position, or [n_masked, vocab] for the positions
        where the bool `masked` [batch, seq] is True: the released code scores only the ~15% chosen
        positions, which skips most of the [d_model x vocab] output product.
        """
        h, pooled, _ = self.bert(ids, segment_ids, padding_mask)
        if masked is not None:
            h = h[masked]  # [n_masked, d_model]
        return self.mlm(h), self.W_nsp(pooled)


class BertForSequenceClassification(nn.Module):
    """Fine-tuning (Section 3.2): the only new parameters are W_cls, on the pooled [CLS] vector."""

    def __init__(self, cfg: BertConfig, n_classes: int) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.bert = BertModel(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.W_cls = nn.Linear(cfg.d_model, n_classes)
        init_weights(self.W_cls, cfg.init_std)

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None, padding_mask: Tensor | None = None) -> Tensor:
        _, pooled, _ = self.bert(ids, segment_ids, padding_mask)
        return self.W_cls(self.drop(pooled))  # [batch, n_classes]
