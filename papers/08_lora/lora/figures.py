"""The run's two analysis figures: the rank sweep and the subspace similarity (Section 7.2)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from lora.model import subspace_similarity  # noqa: E402


def plot_rank_sweep(lora: dict[int, float | None], baselines: dict[str, float | None], path: Path) -> Path:
    """New-domain test loss against LoRA rank r, with the frozen, head-only and full fine-tuning lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    ranks = [k for k, v in lora.items() if v is not None]
    ax.plot(ranks, [lora[k] for k in ranks], "o-", color="C0", label="LoRA on W_q, W_v")
    for (name, value), style in zip(baselines.items(), (":", "-.", "--")):
        if value is not None:
            ax.axhline(value, ls=style, color="gray", label=f"{name} ({value:.3f})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ranks, [str(k) for k in ranks])
    ax.set_xlabel("rank r")
    ax.set_ylabel("new-domain test loss (nats/char)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_subspace_similarity(a_small: dict[str, Tensor], a_large: dict[str, Tensor], r_small: int, r_large: int,
                             path: Path, layers: int = 2) -> Path:
    """phi(A_small, A_large, i, j) for i <= r_small, j <= r_large, one panel per adapted matrix of the
    last block (the paper's Figure 3 shows the same grid for its W_q and W_v at r = 8 and 64)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [n for n in a_small if n.startswith(max(a_small).rsplit(".attn", 1)[0])][:layers] or list(a_small)[:layers]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], names):
        grid = [[subspace_similarity(a_small[name], a_large[name], i, j) for j in range(1, r_large + 1)]
                for i in range(1, r_small + 1)]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(name.replace("blocks.", "block ").replace(".attn.", " "), fontsize=9)
        ax.set_xticks(range(r_large), [str(j) for j in range(1, r_large + 1)], fontsize=7)
        ax.set_yticks(range(r_small), [str(i) for i in range(1, r_small + 1)], fontsize=7)
        ax.set_xlabel(f"j (A, r = {r_large})")
        ax.set_ylabel(f"i (A, r = {r_small})")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="phi")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
