"""DALL-E's two stages (Ramesh et al., 2021, arXiv 2102.12092), in the order data flows through them.

Stage one (Section 2.1): a discrete VAE turns an image into a grid of codes, each one of `n_codes`
values, trained through the Gumbel-softmax relaxation with the KL term to a uniform prior.
Stage two (Section 2.2): a decoder-only transformer models the text tokens followed by the image codes
as one stream; to draw an image, give it a caption, sample the codes one by one, decode them.

Conventions: row vectors `x @ W + b`; shapes in trailing comments where they change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- Stage one: the discrete VAE --------------------------------------------------------------------------


@dataclass
class DVAEConfig:
    image_size: int = 16  # the encoder halves it twice: a 4x4 grid of codes
    n_codes: int = 64  # K, the codebook size (paper: 8192)
    d_hidden: int = 64

    def __post_init__(self) -> None:
        for name in ("n_codes", "d_hidden", "image_size"):
            if getattr(self, name) < (2 if name == "d_hidden" else 1):
                raise ValueError(f"model.{name} must be >= 1 (d_hidden >= 2), got {getattr(self, name)}")
        if self.image_size % 4:
            raise ValueError(f"model.image_size must be a multiple of 4 (two stride-2 layers), got {self.image_size}")

    @property
    def grid(self) -> int:
        return self.image_size // 4


def gumbel_softmax(logits: Tensor, tau: float, generator: torch.Generator | None = None, dim: int = 1) -> Tensor:
    """The relaxed one-hot sample softmax((logits + g) / tau), g ~ Gumbel(0, 1). As tau -> 0 it tends to
    the one-hot of argmax(logits + g), which is an exact sample of softmax(logits)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    g = -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))  # Gumbel(0, 1) noise
    return F.softmax((logits + g) / tau, dim=dim)


def kl_to_uniform(logits: Tensor, dim: int = 1) -> Tensor:
    """KL(q || uniform over K codes) = sum_k q_k log q_k + log K, summed over the grid, mean over images."""
    log_q = F.log_softmax(logits, dim=dim)
    kl = (log_q.exp() * log_q).sum(dim) + math.log(logits.size(dim))  # [batch, grid, grid]
    return kl.flatten(1).sum(1).mean()


class DiscreteVAE(nn.Module):
    """Encoder: image -> logits over K codes at each grid cell; decoder: (relaxed) one-hot codes -> image.
    A 1x1 convolution ends the encoder and starts the decoder (Section 2.1 found that this small receptive
    field around the relaxation helps), so the decoder's first layer is a lookup of one vector per code."""

    def __init__(self, cfg: DVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.d_hidden
        self.encoder = nn.Sequential(
            nn.Conv2d(3, h // 2, 4, stride=2, padding=1), nn.ReLU(),  # [batch, h/2, size/2, size/2]
            nn.Conv2d(h // 2, h, 4, stride=2, padding=1), nn.ReLU(),  # [batch, h, grid, grid]
            nn.Conv2d(h, cfg.n_codes, 1),  # [batch, K, grid, grid]
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(cfg.n_codes, h, 1), nn.ReLU(),  # one vector per code: the codebook
            nn.ConvTranspose2d(h, h // 2, 4, stride=2, padding=1), nn.ReLU(),  # [batch, h/2, size/2, size/2]
            nn.ConvTranspose2d(h // 2, 3, 4, stride=2, padding=1),  # [batch, 3, size, size]
        )

    def encode(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1:] != (3, self.cfg.image_size, self.cfg.image_size):
            s = self.cfg.image_size
            raise ValueError(f"images must be [batch, 3, {s}, {s}], got {list(x.shape)}")
        return self.encoder(x)  # [batch, K, grid, grid] logits

    def decode(self, z: Tensor) -> Tensor:
        """The mean of p(x | z), unbounded: [batch, 3, size, size], z: [batch, K, grid, grid] (soft) one-hot.
        No sigmoid: the images are mostly black, and a sigmoid pushed to 0 there has almost no gradient left
        for the few coloured pixels; with it the dVAE collapsed to an all-black decoder (README.md)."""
        return self.decoder(z)

    def codes(self, x: Tensor) -> Tensor:
        """The transformer's image tokens: argmax of the encoder logits, no Gumbel noise (Section 2.2)."""
        return self.encode(x).argmax(1).flatten(1)  # [batch, grid * grid]

    def decode_codes(self, codes: Tensor) -> Tensor:
        g = self.cfg.grid
        z = F.one_hot(codes.view(-1, g, g), self.cfg.n_codes).permute(0, 3, 1, 2).float()  # [batch, K, g, g]
        return self.decode(z).clamp(0, 1)  # an image: pixel values in [0, 1]

    def forward(self, x: Tensor, tau: float, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Returns the reconstruction from a relaxed sample and the encoder logits (for the KL term)."""
        logits = self.encode(x)
        return self.decode(gumbel_softmax(logits, tau, generator)), logits


# --- Stage two: the transformer over text and image tokens ----------------------------------------------------


@dataclass
class TransformerConfig:
    text_vocab: int = 16  # caption words + one padding token per text position
    text_len: int = 4
    n_codes: int = 64  # image vocabulary = the dVAE's K
    grid: int = 4  # image tokens: grid x grid, in raster order
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2

    def __post_init__(self) -> None:
        for name in ("text_vocab", "text_len", "n_codes", "grid", "d_model", "n_heads", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model ({self.d_model}) must be divisible by model.n_heads ({self.n_heads})")

    @property
    def seq_len(self) -> int:
        return self.text_len + self.grid * self.grid


class Block(nn.Module):
    """Pre-LN block: x + attention(LN(x)), then x + MLP(LN(x)); causal attention through SDPA."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)
        d_ff = 4 * cfg.d_model
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, d_ff), nn.GELU(), nn.Linear(d_ff, cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.W_qkv(self.ln_1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).unbind(2)
        q, k, v = (a.transpose(1, 2) for a in (q, k, v))  # [batch, heads, seq, d_head]
        # Every position sees the text and the image tokens before it: the standard causal mask. (The paper's
        # 64 layers mix row, column and convolutional sparse masks for image-to-image attention, Section 2.2.)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [batch, heads, seq, d_head]
        x = x + self.W_o(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln_2(x))


class DalleTransformer(nn.Module):
    """One stream: text tokens (ids 0 .. text_vocab-1) then image codes (shifted by text_vocab)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok_emb = nn.Embedding(cfg.text_vocab + cfg.n_codes, d)
        self.text_pos = nn.Parameter(torch.randn(cfg.text_len, d) * 0.02)
        # An image position's embedding is the sum of a row and a column embedding.
        self.row_emb = nn.Parameter(torch.randn(cfg.grid, d) * 0.02)
        self.col_emb = nn.Parameter(torch.randn(cfg.grid, d) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.text_vocab + cfg.n_codes)

    def positions(self) -> Tensor:
        img = (self.row_emb[:, None] + self.col_emb[None, :]).flatten(0, 1)  # [grid * grid, d_model]
        return torch.cat([self.text_pos, img])  # [seq_len, d_model]

    def forward(self, text: Tensor, codes: Tensor) -> Tensor:
        """Logits for the next token at every position of [text, codes]; codes may be a prefix."""
        c = self.cfg
        if text.dim() != 2 or text.size(1) != c.text_len:
            raise ValueError(f"text must be [batch, {c.text_len}], got {list(text.shape)}")
        if text.min() < 0 or text.max() >= c.text_vocab:
            raise ValueError(f"text token ids must be in [0, {c.text_vocab}), got {text.min()}..{text.max()}")
        seq = torch.cat([text, codes + c.text_vocab], 1)  # [batch, t]
        x = self.tok_emb(seq) + self.positions()[: seq.size(1)]  # [batch, t, d_model]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # [batch, t, text_vocab + n_codes]

    def loss(self, text: Tensor, codes: Tensor, text_weight: float = 1 / 8) -> tuple[Tensor, Tensor, Tensor]:
        """Cross-entropy of each next token, averaged separately over text and image targets, then weighted
        text_weight and 1 - text_weight (the paper: 1/8 and 7/8, Section 2.2). Returns (loss, text, image)."""
        c = self.cfg
        logits = self(text, codes[:, :-1])  # [batch, seq_len - 1, vocab]: position i predicts token i + 1
        targets = torch.cat([text[:, 1:], codes + c.text_vocab], 1)  # [batch, seq_len - 1]
        n_text = c.text_len - 1
        ce = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # [batch, seq_len - 1]
        text_ce, image_ce = ce[:, :n_text].mean(), ce[:, n_text:].mean()
        return text_weight * text_ce + (1 - text_weight) * image_ce, text_ce, image_ce

    @torch.no_grad()
    def sample(self, text: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Draw the grid * grid image codes one at a time, each from the softmax over the image vocabulary."""
        c = self.cfg
        codes = text.new_zeros(text.size(0), 0)
        for _ in range(c.grid * c.grid):
            logits = self(text, codes)[:, -1, c.text_vocab:] / temperature  # [batch, n_codes]
            nxt = torch.multinomial(F.softmax(logits.float(), -1), 1, generator=generator)  # [batch, 1]
            codes = torch.cat([codes, nxt], 1)
        return codes  # [batch, grid * grid]
