"""Reranking (Section 2.6 of the paper uses CLIP, Radford et al., 2021): a small contrastive image-text
model trained in this run on the training pairs, then used to pick, among N samples drawn for a caption,
the one whose image embedding is closest to the caption's embedding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ContrastiveModel(nn.Module):
    """Two encoders into one d_embed space, compared by cosine similarity times a learned scale."""

    def __init__(self, text_vocab: int, text_len: int, image_size: int = 16, d_embed: int = 32) -> None:
        super().__init__()
        self.image_encoder = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),  # [batch, 16, size/2, size/2]
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # [batch, 32, size/4, size/4]
            nn.Flatten(), nn.Linear(32 * (image_size // 4) ** 2, d_embed),
        )
        self.word_emb = nn.Embedding(text_vocab, d_embed)
        self.word_pos = nn.Parameter(torch.randn(text_len, d_embed) * 0.02)
        self.text_mlp = nn.Sequential(nn.ReLU(), nn.Linear(d_embed, d_embed))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature 0.07

    def embed_images(self, images: Tensor) -> Tensor:
        return F.normalize(self.image_encoder(images), dim=-1)  # [batch, d_embed], unit length

    def embed_text(self, text: Tensor) -> Tensor:
        h = (self.word_emb(text) + self.word_pos).mean(1)  # [batch, d_embed]
        return F.normalize(self.text_mlp(h), dim=-1)

    def loss(self, images: Tensor, text: Tensor) -> tuple[Tensor, Tensor]:
        """Symmetric cross-entropy over the batch's image-caption similarity matrix. Our captions repeat
        within a batch (72 combinations), so every pair with the same caption counts as a match: the
        target of a row is uniform over its matches. Returns (loss, image->text top-1 accuracy)."""
        logits = self.log_scale.exp() * self.embed_images(images) @ self.embed_text(text).T  # [batch, batch]
        same = (text[:, None] == text[None]).all(-1).float()  # [batch, batch]
        target = same / same.sum(1, keepdim=True)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target.T)) / 2
        acc = same.gather(1, logits.argmax(1, keepdim=True)).mean()
        return loss, acc

    @torch.no_grad()
    def score(self, images: Tensor, text: Tensor) -> Tensor:
        """Cosine similarity of each image with its own caption: [batch]."""
        return (self.embed_images(images) * self.embed_text(text)).sum(-1)


def rerank(scores: Tensor) -> Tensor:
    """Index of the best of N samples per caption; scores: [captions, N] -> [captions]."""
    return scores.argmax(1)
