"""Train from the command line: `uv run papers train 04` or `python -m gpt1.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from gpt1.data import Data
from gpt1.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="04_gpt1", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
