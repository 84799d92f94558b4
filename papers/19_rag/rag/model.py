"""The paper's modules, in the paper's order. Replace this placeholder model with the paper's.

Conventions: row vectors `x @ W + b`; shapes in trailing comments where they change.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn


@dataclass
class ModelConfig:
    d_in: int = 2
    hidden: int = 32
    n_classes: int = 2

    def __post_init__(self) -> None:
        for name in ("d_in", "hidden", "n_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class Model(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cfg.d_in, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.n_classes))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"x must be [batch, d_in], got {list(x.shape)}")
        return self.net(x)  # [batch, n_classes]
