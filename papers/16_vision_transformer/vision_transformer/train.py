"""Train from the command line: `uv run papers train 16` or `python -m vision_transformer.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from vision_transformer.data import Data
from vision_transformer.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="16_vision_transformer", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
