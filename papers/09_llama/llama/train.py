"""Train the ablation (GPT-2 block -> LLaMA block) from the command line.

    uv run papers train 09                                   # default CPU config, about 2 minutes
    uv run python -m llama.train fit --config configs/gpu.yaml
    uv run python -m llama.train fit --model.n_kv_heads 2    # grouped-query attention
    uv run python -m llama.train fit --ckpt_path last        # resume the latest run
    uv run python -m llama.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from llama.data import ShakespeareData
from llama.lightning import LlamaAblation

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(LlamaAblation, ShakespeareData, paper="09_llama", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
