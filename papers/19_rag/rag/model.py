"""The paper's pieces, in the paper's order (Lewis et al., 2020, Section 2): a retriever p_eta(z | x)
(a bi-encoder, Section 2.2), a generator p_theta(y_i | x, z, y_<i) (a sequence-to-sequence transformer
reading the passage and the question, Section 2.3), and the two ways of marginalising over the top-k
passages (RAG-Sequence and RAG-Token, Section 2.1), with their decoders (Section 2.5).

Conventions: row vectors `x @ W + b`; shapes in trailing comments where they change.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rag.data import ANSWER_LEN, BOS, EOS, PAD, SEP, TOKEN


@dataclass
class ModelConfig:
    vocab_size: int
    d_retriever: int = 64
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    max_len: int = 32

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_retriever", "d_model", "n_heads", "n_layers", "d_ff", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model ({self.d_model}) must be divisible by model.n_heads ({self.n_heads})")


# --- the retriever: d(z) = BERT_d(z), q(x) = BERT_q(x), p(z | x) ∝ exp(d(z) · q(x)) -------------------


class Encoder(nn.Module):
    """One side of the bi-encoder. The paper's two BERT-base encoders become a bag of token embeddings
    and a linear map: enough to match a name and a relation, and cheap enough to re-encode every
    passage at every training step."""

    def __init__(self, vocab_size: int, d: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d, padding_idx=TOKEN[PAD])
        self.proj = nn.Linear(d, d)

    def forward(self, tokens: Tensor) -> Tensor:  # [n, len] -> [n, d]
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [n, len], got {list(tokens.shape)}")
        keep = (tokens != TOKEN[PAD]).float().unsqueeze(-1)  # [n, len, 1]
        mean = (self.embed(tokens) * keep).sum(1) / keep.sum(1).clamp(min=1)  # [n, d]
        return self.proj(mean)


class Retriever(nn.Module):
    """A DPR-style bi-encoder (Karpukhin et al., 2020): a query encoder and a document encoder whose
    inner product scores a passage for a question."""

    def __init__(self, vocab_size: int, d: int) -> None:
        super().__init__()
        self.query_encoder = Encoder(vocab_size, d)
        self.doc_encoder = Encoder(vocab_size, d)
        # Both start from the same weights, as DPR's two encoders both start from one BERT checkpoint: a
        # token then scores the same on both sides (WᵀW is positive semi-definite), so before any training
        # the retriever already favours passages that share the question's tokens.
        self.doc_encoder.load_state_dict(self.query_encoder.state_dict())

    def in_batch_loss(self, questions: Tensor, positives: Tensor, hard_negatives: Tensor | None = None) -> Tensor:
        """DPR's training loss: each question's positive passage against the other questions' positives in
        the batch (in-batch negatives) and, if given, every question's hard negative (DPR takes one from
        BM25 per question), as cross-entropy over the [batch, batch (+ batch)] score matrix."""
        docs = positives if hard_negatives is None else torch.cat([positives, hard_negatives])
        scores = self.query_encoder(questions) @ self.doc_encoder(docs).T  # [batch, batch or 2 * batch]
        return F.cross_entropy(scores, torch.arange(len(questions), device=scores.device))


def exact_search(queries: Tensor, docs: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Maximum inner-product search by brute force: the reference the faiss index must agree with."""
    if k > len(docs):
        raise ValueError(f"k ({k}) must be <= the number of documents ({len(docs)})")
    scores, ids = (queries @ docs.T).topk(k, dim=-1)  # [n, k] each, best first
    return scores, ids


# --- the generator: p_theta(y_i | x, z, y_<i), BART-like encoder-decoder -------------------------------


class Generator(nn.Module):
    """A small post-LN encoder-decoder transformer (the paper uses BART-large, also post-LN). Its
    encoder reads `passage <sep> question` (the paper concatenates them, Section 2.3); a closed-book
    model is the same class reading the question alone."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=TOKEN[PAD])
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.transformer = nn.Transformer(cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.n_layers, cfg.d_ff,
                                          dropout=0.0, batch_first=True)
        self.out = nn.Linear(cfg.d_model, cfg.vocab_size)

    def _embed(self, tokens: Tensor) -> Tensor:
        if tokens.size(1) > self.cfg.max_len:
            raise ValueError(f"sequence length {tokens.size(1)} exceeds model.max_len {self.cfg.max_len}")
        return self.embed(tokens) + self.pos.weight[: tokens.size(1)]  # [n, len, d_model]

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        pad = src == TOKEN[PAD]  # [n, src_len]
        return self.transformer.encoder(self._embed(src), src_key_padding_mask=pad), pad

    def decode(self, memory: Tensor, pad: Tensor, tgt_in: Tensor) -> Tensor:  # -> [n, tgt_len, vocab]
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1), device=tgt_in.device)
        h = self.transformer.decoder(self._embed(tgt_in), memory, tgt_mask=causal, tgt_is_causal=True,
                                     memory_key_padding_mask=pad)
        return self.out(h)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:  # [n, src_len], [n, tgt_len] -> [n, tgt_len, vocab]
        return self.decode(*self.encode(src), tgt_in)


def generator_input(passages: Tensor, questions: Tensor) -> Tensor:
    """`passage <sep> question` for each of the k passages of each question.
    passages [batch, k, p_len], questions [batch, q_len] -> [batch * k, p_len + 1 + q_len]."""
    b, k, _ = passages.shape
    sep = passages.new_full((b, k, 1), TOKEN[SEP])
    return torch.cat([passages, sep, questions.unsqueeze(1).expand(b, k, -1)], dim=-1).flatten(0, 1)


def shift_right(answers: Tensor) -> Tensor:  # [n, T] -> [n, T]: <bos> y_1 .. y_{T-1}
    return torch.cat([answers.new_full((len(answers), 1), TOKEN[BOS]), answers[:, :-1]], dim=1)


# --- the two marginalisations (Section 2.1) --------------------------------------------------------------


def rag_sequence_log_prob(doc_log_probs: Tensor, token_log_probs: Tensor) -> Tensor:
    """log p_RAG-Sequence(y | x) = log sum_z p(z | x) prod_i p(y_i | x, z, y_<i).
    doc_log_probs [batch, k] (log p(z | x), normalised over the top k); token_log_probs [batch, k, T]
    (log p(y_i | x, z, y_<i) of the answer's tokens, 0 at padding) -> [batch]."""
    return torch.logsumexp(doc_log_probs + token_log_probs.sum(-1), dim=1)


def rag_token_log_probs(doc_log_probs: Tensor, vocab_log_probs: Tensor) -> Tensor:
    """log p_RAG-Token(y_i | x, y_<i) = log sum_z p(z | x) p(y_i | x, z, y_<i), for every token of the
    vocabulary: doc_log_probs [batch, k], vocab_log_probs [batch, k, T, vocab] -> [batch, T, vocab].
    This is the next-token distribution RAG-Token decodes with (transformers' `marginalize`)."""
    return torch.logsumexp(doc_log_probs[:, :, None, None] + vocab_log_probs, dim=1)


def rag_token_log_prob(doc_log_probs: Tensor, token_log_probs: Tensor) -> Tensor:
    """log p_RAG-Token(y | x) = sum_i log sum_z p(z | x) p(y_i | x, z, y_<i): the same inputs as
    `rag_sequence_log_prob`, marginalised at every token instead of once per sequence -> [batch]."""
    return torch.logsumexp(doc_log_probs.unsqueeze(-1) + token_log_probs, dim=1).sum(-1)


# --- decoding (Section 2.5) ------------------------------------------------------------------------------


@torch.no_grad()
def answer_log_probs(gen: Generator, memory: Tensor, pad: Tensor, answers: Tensor) -> Tensor:
    """log p(y_i | x, z, y_<i) of `answers` [n, T] under each encoded input -> [n, T] (0 after <eos>)."""
    lp = gen.decode(memory, pad, shift_right(answers)).log_softmax(-1).gather(-1, answers.unsqueeze(-1)).squeeze(-1)
    return lp * (answers != TOKEN[PAD])


@torch.no_grad()
def greedy_closed_book(gen: Generator, src: Tensor, steps: int = ANSWER_LEN) -> Tensor:  # -> [n, steps]
    memory, pad = gen.encode(src)
    out = src.new_full((len(src), 1), TOKEN[BOS])
    for _ in range(steps):
        out = torch.cat([out, gen.decode(memory, pad, out)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return out[:, 1:]


@torch.no_grad()
def greedy_rag_token(gen: Generator, src: Tensor, doc_log_probs: Tensor, steps: int = ANSWER_LEN) -> Tensor:
    """RAG-Token decoding: at each step, the next token maximises the marginal over the k passages.
    src [batch * k, len], doc_log_probs [batch, k] -> [batch, steps]."""
    b, k = doc_log_probs.shape
    memory, pad = gen.encode(src)
    out = src.new_full((b, 1), TOKEN[BOS])
    for _ in range(steps):
        lp = gen.decode(memory, pad, out.repeat_interleave(k, 0))[:, -1].log_softmax(-1)  # [batch * k, vocab]
        nxt = torch.logsumexp(doc_log_probs.unsqueeze(-1) + lp.view(b, k, -1), dim=1).argmax(-1)  # [batch]
        out = torch.cat([out, nxt.unsqueeze(1)], dim=1)
    return out[:, 1:]


@torch.no_grad()
def thorough_rag_sequence(gen: Generator, src: Tensor, doc_log_probs: Tensor, steps: int = ANSWER_LEN) -> Tensor:
    """RAG-Sequence's "thorough decoding": decode a hypothesis from each passage (greedy here, beam search
    in the paper), score every hypothesis under every passage, and keep the one with the highest
    marginal sum_z p(z | x) p(y | x, z). src [batch * k, len], doc_log_probs [batch, k] -> [batch, steps]."""
    b, k = doc_log_probs.shape
    hyps = greedy_closed_book(gen, src, steps).view(b, k, steps)  # one hypothesis per passage
    memory, pad = gen.encode(src)
    scores = torch.empty(b, k, device=src.device)  # marginal log-probability of hypothesis j
    for j in range(k):
        hyp = hyps[:, j].repeat_interleave(k, 0)  # hypothesis j, under each of the k passages
        hyp = torch.where(_after_eos(hyp), TOKEN[PAD], hyp)
        lp = answer_log_probs(gen, memory, pad, hyp).view(b, k, steps)
        scores[:, j] = rag_sequence_log_prob(doc_log_probs, lp)
    return hyps[torch.arange(b), scores.argmax(-1)]


def _after_eos(tokens: Tensor) -> Tensor:
    """True at the positions after the first <eos> (they are not part of the answer)."""
    eos = (tokens == TOKEN[EOS]).long().cumsum(-1)
    return (eos - (tokens == TOKEN[EOS]).long()) > 0
