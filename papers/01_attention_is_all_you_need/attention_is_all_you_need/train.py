"""Train the Transformer from the command line.

    uv run python -m attention_is_all_you_need.train fit                      # default CPU config
    uv run python -m attention_is_all_you_need.train fit --config configs/gpu.yaml
    uv run python -m attention_is_all_you_need.train fit --model.d_model 128  # override one setting
    uv run python -m attention_is_all_you_need.train fit --ckpt_path last     # resume the latest run
    uv run python -m attention_is_all_you_need.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from attention_is_all_you_need.data import NumberTranslationData
from attention_is_all_you_need.lightning import TransformerTranslator

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(TransformerTranslator, NumberTranslationData, paper="01_attention_is_all_you_need",
                   default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
