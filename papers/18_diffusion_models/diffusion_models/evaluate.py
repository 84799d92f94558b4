"""The judge: an independent classifier of clean digits, and the two measures of the claim.

This classifier is separate code from the noisy classifier of model.py on purpose. It sees only clean
images (no t, no noise), it is never called during training of the diffusion model or during sampling,
and it shares no parameter or layer class with the guide. If the judge were the guide, guidance could
score well by fooling its own classifier; a separate judge only agrees when the samples look like digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CleanDigitClassifier(nn.Module):
    """A plain LeNet-style CNN: conv 3x3 (16) ReLU, conv 3x3 stride 2 (32) ReLU, then two linear layers.

    x [batch, 1, 8, 8] in [-1, 1] -> logits [batch, 10]; `features` gives the 64-wide hidden layer.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 8, n_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(32 * (image_size // 2) ** 2, 64), nn.ReLU())
        self.out = nn.Linear(64, n_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))  # [batch, 64]

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))  # [batch, n_classes]

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self(x), y)


def fidelity(judge: nn.Module, samples: Tensor, requested: Tensor) -> float:
    """Fraction of samples the judge labels as the class they were requested for."""
    with torch.no_grad():
        return (judge(samples).argmax(-1) == requested).float().mean().item()


def mean_pairwise_distance(x: Tensor) -> float:
    """Mean Euclidean distance between the distinct pairs of rows of x [n, ...] (flattened). n >= 2."""
    flat = x.flatten(1)
    n = flat.shape[0]
    if n < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 samples, got {n}")
    d = torch.cdist(flat, flat)  # [n, n], zeros on the diagonal
    return (d.sum() / (n * (n - 1))).item()


def diversity(samples: Tensor, requested: Tensor) -> float:
    """Within-class diversity: the mean pairwise pixel distance among samples requested for the same
    class, averaged over the classes. It falls when guidance pulls each class towards fewer shapes."""
    classes = requested.unique()
    return sum(mean_pairwise_distance(samples[requested == c]) for c in classes) / len(classes)
