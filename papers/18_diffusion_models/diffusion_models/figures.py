"""The run's figures: a grid of guided samples per guidance scale, and the fidelity/diversity curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from shared.figures import save_figure, use_style


def plot_sample_grids(samples: dict[float, torch.Tensor], labels: torch.Tensor, path: Path, per_class: int = 4,
                      title: str = "DDIM samples per guidance scale s") -> Path:
    """One panel per scale: ten columns (the requested class 0..9), `per_class` rows.
    samples: {scale: [n, 1, h, w] in [-1, 1]}, all requested with the same `labels` [n]."""
    use_style()
    scales = sorted(samples)
    fig, axes = plt.subplots(1, len(scales), figsize=(2.6 * len(scales), 1.25 + 0.26 * per_class * 1.0),
                             squeeze=False)
    for ax, s in zip(axes[0], scales):
        x = samples[s]
        columns = []
        for c in range(10):
            picked = x[labels == c][:per_class, 0]  # [per_class, h, w]
            columns.append(torch.cat(list(picked), dim=0))  # [per_class * h, w]
        grid = torch.cat(columns, dim=1)  # [per_class * h, 10 * w]
        ax.imshow(((grid + 1) / 2).clamp(0, 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"s = {s:g}")
        ax.set_xticks([x.shape[-1] * (c + 0.5) for c in range(10)], [str(c) for c in range(10)], fontsize=7)
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_fidelity_diversity(scales: list[float], fid: list[float], div: list[float], real_div: float,
                            path: Path) -> Path:
    """Left: class fidelity (judge's agreement) against s. Right: within-class diversity against s."""
    use_style()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.2))
    a.plot(scales, [100 * f for f in fid], "o-", color="#1f77b4")
    a.axhline(10, ls=":", color="#7f7f7f", label="chance (10%)")
    a.set_xlabel("guidance scale s")
    a.set_ylabel("recognised as requested class (%)")
    a.set_ylim(0, 102)
    a.legend(fontsize=8)
    b.plot(scales, div, "o-", color="#d62728", label="samples")
    b.axhline(real_div, ls=":", color="#7f7f7f", label="real test digits")
    b.set_xlabel("guidance scale s")
    b.set_ylabel("mean pairwise distance in a class")
    b.legend(fontsize=8)
    fig.suptitle("Classifier guidance: fidelity up, diversity down")
    return save_figure(fig, path)
