"""The run's two figures: dVAE reconstructions, and samples per held-out caption before and after reranking."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from shared.figures import save_figure, use_style  # noqa: E402
from torch import Tensor  # noqa: E402


def _show(ax, image: Tensor) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(True)


def plot_reconstructions(originals: Tensor, recons: Tensor, path: str | Path) -> Path:
    """Top row: test images; bottom row: the dVAE's reconstruction from its 4x4 grid of argmax codes."""
    use_style()
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6), squeeze=False)
    for i in range(n):
        _show(axes[0, i], originals[i])
        _show(axes[1, i], recons[i])
    axes[0, 0].set_ylabel("image", fontsize=9)
    axes[1, 0].set_ylabel("dVAE", fontsize=9)
    fig.suptitle("dVAE reconstructions (16x16 image -> 16 codes -> 16x16 image)", fontsize=10)
    return save_figure(fig, path)


def plot_samples(captions: list[str], samples: list[Tensor], scores: list[Tensor], matches: list[Tensor],
                 path: str | Path) -> Path:
    """One row per held-out caption: its N samples in drawing order, then the reranker's pick. A sample's
    title is the reranker's score; green when the judge says it matches the caption, red when not."""
    use_style()
    n = len(samples[0])
    fig, axes = plt.subplots(len(captions), n + 1, figsize=(1.05 * (n + 1) + 1.6, 1.15 * len(captions)),
                             squeeze=False)
    for r, (cap, imgs, sc, ok) in enumerate(zip(captions, samples, scores, matches)):
        best = int(sc.argmax())
        for c in range(n + 1):
            i = best if c == n else c
            ax = axes[r, c]
            _show(ax, imgs[i])
            colour = "tab:green" if ok[i] > 0 else "tab:red"
            for side in ax.spines.values():
                side.set_edgecolor(colour)
                side.set_linewidth(2.5)
            ax.set_title(f"{float(sc[i]):.2f}", fontsize=7, pad=2)
        axes[r, 0].set_ylabel(cap.replace(" ", "\n", 2), fontsize=7, rotation=0, ha="right", va="center")
    axes[0, n].set_title(f"reranked\n{float(scores[0][int(scores[0].argmax())]):.2f}", fontsize=7, pad=2)
    fig.suptitle("Held-out captions: N samples (left), the reranker's pick (right); green = judge says it matches",
                 fontsize=9)
    return save_figure(fig, path)
