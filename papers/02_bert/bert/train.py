"""Train from the command line: `uv run papers train 02` or `python -m bert.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from bert.data import Data
from bert.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="02_bert", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
