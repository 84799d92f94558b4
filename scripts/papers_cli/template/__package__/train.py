"""Train from the command line: `uv run papers train {{NN}}` or `python -m {{slug}}.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from {{slug}}.data import Data
from {{slug}}.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="{{folder}}", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
