"""The run's three figures: the loss prediction (the report's Figure 1 at toy scale), the capability
profile of the smallest and largest models with bootstrap intervals, and the calibration plot of the
multiple-choice answers (a reliability diagram)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from shared.figures import save_figure, use_style

from gpt4_analysis.data import SUITES


def plot_scaling(analysis: dict, path: str | Path) -> Path:
    """Final held-out loss against training compute: fitted points, the fit, the prediction, the measured."""
    use_style()
    fit, compute, losses, large = analysis["fit"], analysis["compute"], analysis["losses"], analysis["large"]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.scatter([compute[k] for k in analysis["fitted"]], [losses[k] for k in analysis["fitted"]], color="#1f77b4",
               zorder=3, label="smaller models (fitted)")
    grid = np.geomspace(min(compute.values()) / 1.5, compute[large] * 1.5, 200)
    ax.plot(grid, fit.predict(grid), color="black", linewidth=1,
            label=f"L = {fit.a:.3f} (C/C0)^{fit.b:.3f} + {fit.c:.3f}")
    ax.axhline(fit.c, color="grey", linestyle=":", linewidth=1, label=f"fitted floor c = {fit.c:.3f}")
    floor = analysis["metrics"]["text_floor"]
    ax.axhline(floor, color="#2ca02c", linestyle="--", linewidth=1, label=f"entropy of the text {floor:.3f}")
    ax.scatter([compute[large]], [analysis["predicted"]], facecolors="none", edgecolors="#d62728", s=80, zorder=4,
               label=f"largest, predicted ({analysis['predicted']:.4f})")
    ax.scatter([compute[large]], [losses[large]], color="#d62728", marker="x", s=60, zorder=4,
               label=f"largest, measured ({losses[large]:.4f})")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6 N D (FLOPs)")
    ax.set_ylabel("loss on held-out text (nats per token)")
    ax.set_title("Predicting the largest model's final loss")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_profile(analysis: dict, path: str | Path) -> Path:
    """Accuracy per suite (clean items) for the smallest and the largest model, 95% bootstrap intervals."""
    use_style()
    suites = [*SUITES, "all"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.38
    for j, (k, colour) in enumerate(((analysis["small"], "#9ecae1"), (analysis["large"], "#08519c"))):
        acc = np.array([analysis["profile"][k][s][0] for s in suites])
        lo = np.array([analysis["profile"][k][s][1] for s in suites])
        hi = np.array([analysis["profile"][k][s][2] for s in suites])
        x = np.arange(len(suites)) + (j - 0.5) * width
        ax.bar(x, acc, width, color=colour, label=k)
        ax.errorbar(x, acc, yerr=[acc - lo, hi - acc], fmt="none", ecolor="black", capsize=3, linewidth=1)
    ax.set_xticks(np.arange(len(suites)), suites)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (clean items)")
    ax.set_title("Capability profile, 95% bootstrap intervals")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_calibration(analysis: dict, path: str | Path) -> Path:
    """Accuracy against mean confidence per bin, for the smallest and largest model, and the diagonal."""
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.5), sharey=True)
    for ax, k in zip(axes, (analysis["small"], analysis["large"])):
        cal = analysis["calibration"][k]
        bins = cal["bins"]
        mids = [(b["lo"] + b["hi"]) / 2 for b in bins]
        ax.bar(mids, [b["accuracy"] for b in bins], width=0.09, color="#6baed6", edgecolor="black", linewidth=0.5,
               label="accuracy in bin")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="#08519c", markersize=4,
                label="(mean confidence, accuracy)")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("P(answer) of the chosen option")
        ax.set_title(f"{k}: ECE = {cal['ece']:.3f}")
    axes[0].set_ylabel("fraction correct")
    axes[0].legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)
