"""The judge: an attribute classifier that decides whether a generated image shows what its caption says.

It is separate on purpose: `train_judge` builds it after training, from scratch, on its own clean renders
(never on generated ones); it is not part of the LightningModule, so no loss or optimizer of the generator
or the reranker ever touches it, and nothing in training or reranking reads its output: it only grades
samples at test time. It sees all 72 combinations, held-out ones included: it is the examiner, not a model
of the run. It is not part of the paper; it plays
the role of the human raters and classifiers the paper evaluates with (Section 3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dalle.data import ATTRIBUTES


class AttributeClassifier(nn.Module):
    """A small CNN with one softmax head per attribute (size, colour, shape, position)."""

    def __init__(self, image_size: int = 16, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(width * (image_size // 4) ** 2, 64), nn.ReLU(),
        )
        self.heads = nn.ModuleList(nn.Linear(64, len(values)) for values in ATTRIBUTES.values())

    def forward(self, images: Tensor) -> list[Tensor]:
        h = self.body(images)  # [batch, 64]
        return [head(h) for head in self.heads]  # one [batch, n_values] per attribute

    def loss(self, images: Tensor, attrs: Tensor) -> Tensor:
        return sum(F.cross_entropy(logits, attrs[:, i]) for i, logits in enumerate(self(images)))

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        return torch.stack([logits.argmax(-1) for logits in self(images)], 1)  # [batch, 4]

    @torch.no_grad()
    def matches(self, images: Tensor, attrs: Tensor) -> Tensor:
        """1.0 where all four predicted attributes equal the caption's, else 0.0: [batch]."""
        return (self.predict(images) == attrs).all(1).float()


def train_judge(steps: int = 600, seed: int = 1234, device: torch.device | str = "cpu", n_images: int = 2048,
                batch_size: int = 64, lr: float = 3e-3) -> AttributeClassifier:
    """A fresh judge, trained from scratch on its own clean renders of all 72 combinations (seeded, so every
    call gives the same judge). It never sees a dVAE reconstruction or a generated image."""
    from dalle.data import COMBINATIONS, shapes_dataset

    # Test hooks run under inference mode; the judge needs ordinary tensors and gradients to learn.
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        judge = AttributeClassifier(width=16).to(device)
        images, _, attrs, _ = (t.to(device) for t in shapes_dataset(COMBINATIONS, n_images, seed).tensors)
        opt = torch.optim.Adam(judge.parameters(), lr=lr)
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            i = torch.randint(0, n_images, (batch_size,), generator=g).to(device)
            loss = judge.loss(images[i], attrs[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return judge.eval()
