"""The run's two figures, drawn from the per-step training losses the LightningModule keeps."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from shared.figures import save_figure, use_style

COLOURS = {"none": "#7f7f7f", "batch": "#1f77b4", "layer": "#d62728"}
LABELS = {"none": "no normalisation", "batch": "batch norm", "layer": "layer norm"}


def smooth(values: list[float], window: int = 10) -> list[float]:
    """Trailing moving average, so single noisy steps do not hide the trend."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _panel(ax, history: dict[str, list[float]], group: str, title: str) -> None:
    for norm in ("none", "batch", "layer"):
        losses = history.get(f"{group}_{norm}", [])
        if losses:
            ax.plot(range(1, len(losses) + 1), smooth(losses), color=COLOURS[norm], label=LABELS[norm])
    ax.set_title(title)
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (nats)")
    ax.legend()


def plot_learning_curves(history: dict[str, list[float]], path: str | Path) -> Path:
    """Training loss against step, recurrent and feed-forward, for the three normalisations."""
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6))
    _panel(axes[0], history, "rnn", "Recurrent: character language model")
    _panel(axes[1], history, "mlp", "Feed-forward: digits, mini-batches")
    return save_figure(fig, path)


def plot_batch_one(history: dict[str, list[float]], path: str | Path) -> Path:
    """The feed-forward classifier trained on one image per optimiser step."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    _panel(ax, history, "mlp1", "Feed-forward, batch size 1")
    ax.axhline(2.302585, color="black", linestyle=":", linewidth=1)
    ax.text(1, 2.33, "ln 10: guessing among 10 digits", fontsize=8)
    ax.set_xlabel("training step (each: one mini-batch of images, taken one at a time)")
    return save_figure(fig, path)
