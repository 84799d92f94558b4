"""Train from the command line.

    uv run papers train 04                                        # default CPU config
    uv run python -m gpt1.train fit --config papers/04_gpt1/configs/gpu.yaml
    uv run python -m gpt1.train fit --model.aux_weight 0           # override one setting
    uv run python -m gpt1.train fit --ckpt_path last               # resume the latest run
    uv run python -m gpt1.train fit --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from gpt1.data import ShakespearePairs
from gpt1.lightning import GPT1

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(GPT1, ShakespearePairs, paper="04_gpt1", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
