"""One figure style for every paper, and the few plots several papers draw."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers, CI and laptops alike
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 160,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


def use_style() -> None:
    plt.rcParams.update(STYLE)


def save_figure(fig, path: str | Path) -> Path:
    """Save as PNG (creating folders) and close the figure so long runs do not leak memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def attention_heatmap(ax, weights, x_labels: list[str], y_labels: list[str], title: str = "") -> None:
    """Draw one attention matrix [queries, keys]: rows are what is asking, columns what is looked at."""
    weights = weights.detach().cpu().float().numpy() if hasattr(weights, "detach") else weights
    if weights.shape != (len(y_labels), len(x_labels)):
        raise ValueError(f"weights shape {weights.shape} does not match labels ({len(y_labels)}, {len(x_labels)})")
    ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=max(float(weights.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(len(x_labels)), x_labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(y_labels)), y_labels, fontsize=8)
    ax.grid(False)
    if title:
        ax.set_title(title)


def plot_training_curves(metrics_csv: str | Path, path: str | Path) -> Path | None:
    """One panel per metric name found in Lightning's metrics.csv (train/*, val/*), against step.

    Returns None when the file has no train or val metric (e.g. a fast_dev_run).
    """
    import csv

    rows = list(csv.DictReader(Path(metrics_csv).open()))
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if value and key.startswith(("train/", "val/")) and not key.endswith("/lr"):
                series.setdefault(key, []).append((int(row["step"]), float(value)))
    names = sorted({k.split("/", 1)[1] for k in series})
    if not names:
        return None
    use_style()
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for stage in ("train", "val"):
            points = series.get(f"{stage}/{name}")
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=stage, marker="o" if stage == "val" else None, markersize=3)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend()
    return save_figure(fig, path)
