"""The run's two figures: held-out loss against N with the fitted law, and learning curves against
compute with the compute-efficient frontier (the paper's Figure 2, right panel, at laptop scale)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
from shared.figures import save_figure, use_style

from scaling_laws.model import training_flops
from scaling_laws.scaling import compute_frontier


def plot_loss_vs_n(analysis: dict, path: str | Path) -> Path:
    """Log-log: each size's held-out loss, the fit through the fitted sizes, the held-out size's prediction."""
    use_style()
    fit, n_params, losses = analysis["fit"], analysis["n_params"], analysis["losses"]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    xs = [n_params[k] for k in analysis["fitted"]]
    ax.scatter(xs, [losses[k] for k in analysis["fitted"]], color="#1f77b4", zorder=3, label="fitted sizes")
    if analysis["held"]:
        held = [n_params[k] for k in analysis["held"]]
        ax.scatter(held, [losses[k] for k in analysis["held"]], color="#d62728", marker="s", zorder=3,
                   label="held out (measured)")
        ax.scatter(held, fit.predict(held), facecolors="none", edgecolors="#d62728", marker="o", s=60, zorder=3,
                   label="held out (predicted)")
    grid = np.geomspace(min(n_params.values()) / 1.3, max(n_params.values()) * 1.3, 100)
    ax.plot(grid, fit.predict(grid), color="black", linewidth=1,
            label=f"L = ({fit.n_c:.2g} / N)^{fit.alpha:.3f},  R² (log) = {fit.r2_log:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=np.arange(1, 10) / 10, numticks=20))
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.1f"))  # plain 2.0, 2.1, ... on a log axis
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("held-out loss (nats per character)")
    ax.set_title("Loss against model size")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_learning_curves(analysis: dict, path: str | Path) -> Path:
    """Smoothed training loss against compute C = 6 N x tokens for every size, and their lower envelope."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    tokens_per_step, n_params = analysis["tokens_per_step"], analysis["n_params"]
    curves = {}
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(analysis["curves"])))
    for colour, (name, curve) in zip(colours, analysis["curves"].items()):
        compute = [training_flops(n_params[name], (i + 1) * tokens_per_step) for i in range(len(curve))]
        curves[name] = (compute, curve)
        ax.plot(compute, curve, color=colour, linewidth=1, label=f"{name}: N = {n_params[name]:,}")
    lo = min(c[0][0] for c in curves.values())
    hi = max(c[0][-1] for c in curves.values())
    grid = np.geomspace(lo, hi, 300)
    ax.plot(grid, compute_frontier(curves, grid), color="black", linestyle="--", linewidth=1.5,
            label="compute-efficient frontier")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6 N x tokens (FLOPs)")
    ax.set_ylabel("training loss (nats per character)")
    ax.set_title("Learning curves against compute")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)
