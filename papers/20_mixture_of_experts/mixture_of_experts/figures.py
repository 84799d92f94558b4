"""The load figure: each expert's share of the routing choices over training, per MoE variant and layer."""

from __future__ import annotations

from pathlib import Path


def smooth(values: list[float], window: int = 10) -> list[float]:
    """Trailing moving average, so single noisy steps do not hide the trend."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_expert_load(history: dict[str, list[list[list[float]]]], labels: dict[str, str], path: Path) -> Path:
    """history[variant][step][layer][expert] = share of that layer's routing choices; one panel per
    (variant, layer), experts stacked so a band's height is its share (1/n_experts each when uniform)."""
    import matplotlib.pyplot as plt
    from shared.figures import save_figure, use_style

    use_style()
    names = [n for n, steps in history.items() if steps]
    n_layers = len(history[names[0]][0])
    fig, axes = plt.subplots(len(names), n_layers, figsize=(4.6 * n_layers, 2.9 * len(names)), squeeze=False,
                             sharex=True, sharey=True)
    for row, name in enumerate(names):
        steps = history[name]
        n_experts = len(steps[0][0])
        for layer in range(n_layers):
            ax = axes[row][layer]
            shares = [smooth([s[layer][e] for s in steps]) for e in range(n_experts)]
            ax.stackplot(range(1, len(steps) + 1), shares, linewidth=0.3, edgecolor="white")
            for e in range(1, n_experts):
                ax.axhline(e / n_experts, color="black", linewidth=0.4, linestyle=":")
            ax.set_ylim(0, 1)
            ax.set_title(f"{labels.get(name, name)}: layer {layer + 1}", fontsize=9)
            if layer == 0:
                ax.set_ylabel("share of tokens")
            if row == len(names) - 1:
                ax.set_xlabel("training step")
    fig.suptitle("Tokens per expert over training (dotted lines: uniform shares)", fontsize=10)
    return save_figure(fig, path)
