"""The run's figure: harmlessness against helpfulness for every model."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from shared.figures import save_figure, use_style

STYLE = {"rl_helpful": ("#1f77b4", "helpful-only RL (baseline)"), "rl_cai": ("#d62728", "RL-CAI")}
POINTS = {"helpful": ("#1f77b4", "s", "helpful model (start)"), "sl_cai": ("#d62728", "s", "SL-CAI"),
          "rl_helpful": ("#1f77b4", "o", None), "rl_cai": ("#d62728", "o", None)}


def plot_pareto(metrics: dict[str, float], curves: dict[str, tuple[float, float]], path: str | Path) -> Path:
    """metrics: the test metrics (test/<model>_harmless, test/<model>_helpful); curves: "<track>@<rl step>" ->
    (harmless, helpful) of the RL snapshots. Each RL track is drawn from its starting model through its
    snapshots, so the line shows where RL moved it."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    starts = {"rl_helpful": "helpful", "rl_cai": "sl_cai"}
    for track, (colour, label) in STYLE.items():
        start = starts[track]
        xs = [metrics.get(f"test/{start}_helpful", float("nan"))]
        ys = [metrics.get(f"test/{start}_harmless", float("nan"))]
        steps = sorted(int(k.split("@")[1]) for k in curves if k.startswith(track + "@"))
        for s in steps:
            harmless, helpful = curves[f"{track}@{s}"]
            xs.append(helpful)
            ys.append(harmless)
        ax.plot(xs, ys, "-", color=colour, alpha=0.6, label=label)
        ax.plot(xs[1:], ys[1:], ".", color=colour, alpha=0.6)
    for name, (colour, marker, label) in POINTS.items():
        x, y = metrics.get(f"test/{name}_helpful"), metrics.get(f"test/{name}_harmless")
        if x is not None and y is not None:
            ax.plot([x], [y], marker, color=colour, markersize=8, label=label,
                    markerfacecolor=colour if marker == "o" else "white")
    ax.set_xlabel("helpfulness: answer rate on held-out benign prompts")
    ax.set_ylabel("harmlessness: rate on held-out harmful prompts")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Harmlessness vs helpfulness (held-out prompts)")
    return save_figure(fig, path)
