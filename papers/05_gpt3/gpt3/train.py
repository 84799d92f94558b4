"""Train from the command line: `uv run papers train 05` or `python -m gpt3.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from gpt3.data import Data
from gpt3.lightning import InContextLearning

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(InContextLearning, Data, paper="05_gpt3", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
