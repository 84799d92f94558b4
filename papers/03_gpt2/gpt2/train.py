"""Train from the command line: `uv run papers train 03` or `python -m gpt2.train fit --help`.

    uv run papers train 03                                           # default CPU config (both sizes)
    uv run papers train 03 --config papers/03_gpt2/configs/gpu.yaml  # one GPU, bf16, compiled
    uv run papers train 03 fit --ckpt_path last                      # resume the latest run
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from gpt2.data import CharText
from gpt2.lightning import GPT2LanguageModel

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(GPT2LanguageModel, CharText, paper="03_gpt2", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
