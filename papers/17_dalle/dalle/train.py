"""Train from the command line: `uv run papers train 17` or `python -m dalle.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from dalle.data import Data
from dalle.lightning import DalleModule

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(DalleModule, Data, paper="17_dalle", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
