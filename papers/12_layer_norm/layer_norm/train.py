"""Train from the command line: `uv run papers train 12` or `python -m layer_norm.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from layer_norm.data import Data
from layer_norm.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="12_layer_norm", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
