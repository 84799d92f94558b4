"""The ablation figure and a text sample, written into the run folder at the end of a run."""

from __future__ import annotations

from pathlib import Path

import torch
from shared.data.text import CharTokenizer

from llama.model import Transformer


def plot_ablation(history: dict[str, list[tuple[int, float]]], test: dict[str, float], labels: dict[str, str],
                  path: Path) -> Path:
    """Left: validation loss against step for every variant. Right: final test loss per variant."""
    import matplotlib.pyplot as plt
    from shared.figures import save_figure, use_style

    use_style()
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.25, 1], "wspace": 0.55})
    for name in test:
        points = history.get(name, [])
        if points:
            steps, values = zip(*points)
            curves.plot(steps, values, marker="o", markersize=3, label=labels[name])
    curves.set_xlabel("optimizer step")
    curves.set_ylabel("validation loss (nats / char)")
    curves.set_title("Validation loss, same batches and parameters")
    if history:
        curves.legend(fontsize=8, loc="upper right")
    names = list(test)
    values = [test[n] for n in names]
    bars.barh(range(len(names)), values, color=["#888888" if n == "gpt2" else "#3b75af" for n in names])
    bars.set_yticks(range(len(names)), [labels[n] for n in names])
    bars.invert_yaxis()
    low, high = min(values), max(values)
    pad = max(0.02, (high - low) * 0.6)
    bars.set_xlim(low - pad, high + pad / 2)
    for i, v in enumerate(values):
        bars.text(v, i, f" {v:.3f}", va="center", fontsize=9)
    bars.set_xlabel("test loss (nats / char)")
    bars.set_title("Held-out test loss")
    return save_figure(fig, path)


@torch.no_grad()
def write_sample(model: Transformer, tokenizer: CharTokenizer, path: Path, prompt: str = "ROMEO:\n",
                 temperature: float = 0.8, seed: int = 0) -> str:
    """Sample from the model with the KV cache and write prompt + continuation to `path`."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    idx = tokenizer.encode(prompt)[None].to(device)
    n_new = model.cfg.max_seq_len - idx.size(1)
    out = model.generate(idx, n_new, temperature=temperature, generator=torch.Generator(device).manual_seed(seed))
    model.train(was_training)
    text = tokenizer.decode(out[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return text
