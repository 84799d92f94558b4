"""Train from the command line: `uv run papers train 14` or `python -m palm.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from palm.data import Data
from palm.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="14_palm", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
