"""Train from the command line: `uv run papers train 07` or `python -m scaling_laws.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from scaling_laws.data import Data
from scaling_laws.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="07_scaling_laws", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
