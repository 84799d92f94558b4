"""Train from the command line: `uv run papers train 13` or `python -m chain_of_thought.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from chain_of_thought.data import Data
from chain_of_thought.lightning import ChainOfThought

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(ChainOfThought, Data, paper="13_chain_of_thought", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
