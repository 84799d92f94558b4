"""The run's figures: data efficiency, attention rollout, and what the position embeddings learned."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from shared.figures import save_figure, use_style

from vision_transformer.model import VisionTransformer, attention_rollout


def plot_data_efficiency(curve: dict, path: Path) -> Path:
    """Test accuracy against the fraction of the training set, ViT and CNN, with the CNN's lead marked."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    pct = [100 * f for f in curve["fractions"]]
    ax.plot(pct, curve["vit"], marker="o", label="ViT (patches + attention)")
    if curve["cnn"]:
        ax.plot(pct, curve["cnn"], marker="s", label="small CNN (convolutions)")
        for x, v, c in zip(pct, curve["vit"], curve["cnn"]):
            ax.annotate(f"{100 * (c - v):+.1f}", (x, (v + c) / 2), textcoords="offset points", xytext=(6, 0),
                        fontsize=8, color="0.35")
    ax.set_xscale("log")
    ax.set_xticks(pct, [f"{p:g}%" for p in pct])
    ax.minorticks_off()
    ax.set_xlabel("share of the training set used")
    ax.set_ylabel("test accuracy")
    ax.set_title("Data efficiency on digits (grey: CNN lead, points)")
    ax.legend(loc="lower right")
    return save_figure(fig, path)


@torch.no_grad()
def rollout_maps(model: VisionTransformer, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-token attention rollout per image as a patch grid [batch, H/P, W/P], and the predictions."""
    was_training = model.training
    model.eval()
    z, maps = model.encode(images, need_weights=True)
    pred = model.head(z[:, 0]).argmax(-1)
    model.train(was_training)
    grid = model.cfg.image_size // model.cfg.patch_size
    flow = attention_rollout(maps)[:, 0, 1:]  # class token's row, patches only: [batch, N]
    return flow.reshape(-1, grid, grid), pred


def plot_attention_rollout(model: VisionTransformer, images: torch.Tensor, labels: torch.Tensor, path: Path) -> Path:
    """Top row: the test images. Bottom row: where the class token's information comes from."""
    use_style()
    flow, pred = rollout_maps(model, images.float())
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.4), squeeze=False)
    for i in range(n):
        img = images[i].float().cpu()
        img = (img - img.min()) / (img.max() - img.min() + 1e-8)
        axes[0, i].imshow(img.permute(1, 2, 0).squeeze(-1), cmap="gray_r" if img.size(0) == 1 else None)
        axes[0, i].set_title(f"label {int(labels[i])}, pred {int(pred[i])}", fontsize=8)
        up = F.interpolate(flow[i][None, None].float().cpu(), size=img.shape[-2:], mode="nearest")[0, 0]
        axes[1, i].imshow(up, cmap="viridis")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("rollout")
    fig.suptitle("Attention rollout: how much each patch flows into the class token")
    return save_figure(fig, path)


@torch.no_grad()
def position_similarity(model: VisionTransformer) -> torch.Tensor:
    """Cosine similarity of every patch's position embedding with every other: [N, grid, grid]."""
    pos = model.pos_embed[0, 1:].float()  # patches only: [N, d_model]
    pos = F.normalize(pos, dim=-1)
    grid = model.cfg.image_size // model.cfg.patch_size
    return (pos @ pos.T).reshape(-1, grid, grid).cpu()  # tile i: similarity of patch i to every patch


def plot_position_similarity(model: VisionTransformer, path: Path) -> Path:
    """The paper's Figure 7 (centre): one tile per patch, showing which positions its embedding resembles."""
    use_style()
    sim = position_similarity(model)
    grid = sim.size(-1)
    fig, axes = plt.subplots(grid, grid, figsize=(0.9 * grid + 0.8, 0.9 * grid + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.imshow(sim[i], cmap="viridis", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle("Position embedding similarity\n(tile = one patch, cosine with every patch)", fontsize=9)
    return save_figure(fig, path)
