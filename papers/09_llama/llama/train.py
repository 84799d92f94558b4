"""Train from the command line: `uv run papers train 09` or `python -m llama.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from llama.data import Data
from llama.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="09_llama", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
