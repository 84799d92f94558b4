"""The run's figure: the reward model's score and the labeler's win rate against KL(PPO || SFT)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from shared.figures import save_figure, use_style


def plot_reward_and_win_rate_vs_kl(history: list[dict[str, float]], path: str | Path) -> Path:
    """One point per validation during PPO, labelled in PPO steps; x is the KL spent so far."""
    use_style()
    kl = [h["kl"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(kl, [h["reward"] for h in history], "o-", color="#1f77b4")
    left.set_xlabel("KL(PPO || SFT), nats per response")
    left.set_ylabel("reward-model score (demonstrations = 0)")
    left.set_title("what PPO optimizes")
    right.plot(kl, [h["win_rate"] for h in history], "o-", color="#d62728")
    right.axhline(0.5, color="#7f7f7f", linestyle="--", linewidth=1, label="no preference (0.5)")
    right.set_xlabel("KL(PPO || SFT), nats per response")
    right.set_ylabel("labeler win rate over SFT")
    right.set_title("what the labeler prefers")
    right.legend(loc="lower right")
    for h in (history[0], history[-1]):
        right.annotate(f"step {h['step']}", (h["kl"], h["win_rate"]), textcoords="offset points", xytext=(4, -12),
                       fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
