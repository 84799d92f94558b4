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


def _wrap_name(name: str, width: int = 36) -> str:
    """A metric name on lines of at most about `width` characters, broken after underscores."""
    first, *rest = name.split("_")
    lines, current = [], first
    for part in rest:
        if current and len(current) + 1 + len(part) > width:
            lines.append(current + "_")
            current = part
        else:
            current += "_" + part
    return "\n".join([*lines, current])


CURVE_COLUMNS = 4  # panels per row; more metrics add rows
CURVE_PANEL = (4.0, 3.0)  # inches per panel
CURVE_WIDTH_PX = 1850  # a full row: 4 panels x 4 in at about 115 dpi; fewer panels get up to 160 dpi


def plot_training_curves(metrics_csv: str | Path, path: str | Path) -> Path | None:
    """One panel per metric name found in Lightning's metrics.csv (train/*, val/*), against step.

    The panels form a grid of at most CURVE_COLUMNS columns (rows as needed), so a run that logs
    fifteen metrics still gives a figure you can read. Returns None when the file has no train or
    val metric (e.g. a fast_dev_run).
    """
    import csv

    from matplotlib.ticker import MaxNLocator

    with Path(metrics_csv).open() as f:
        rows = list(csv.DictReader(f))
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if value and key.startswith(("train/", "val/")) and not key.endswith("/lr"):
                series.setdefault(key, []).append((int(row["step"]), float(value)))
    names = sorted({k.split("/", 1)[1] for k in series})
    if not names:
        return None
    use_style()
    n_cols = min(len(names), CURVE_COLUMNS)
    n_rows = -(-len(names) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(CURVE_PANEL[0] * n_cols, CURVE_PANEL[1] * n_rows),
                             squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.set_visible(False)  # the last row's empty places
            continue
        name = names[k]
        for stage in ("train", "val"):
            points = series.get(f"{stage}/{name}")
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=stage, marker="o" if stage == "val" else None, markersize=3)
        ax.set_title(_wrap_name(name), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.tick_params(labelsize=8)
        if k // n_cols == n_rows - 1 or k + n_cols >= len(names):  # the lowest panel of its column
            ax.set_xlabel("step", fontsize=9)
        ax.legend(fontsize=8)
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.08)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=min(160, CURVE_WIDTH_PX / (CURVE_PANEL[0] * n_cols)))
    plt.close(fig)
    return path
