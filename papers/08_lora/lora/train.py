"""Train from the command line: `uv run papers train 08` or `python -m lora.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from lora.data import TwoDomains
from lora.lightning import LoRAAdaptation

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(LoRAAdaptation, TwoDomains, paper="08_lora", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
