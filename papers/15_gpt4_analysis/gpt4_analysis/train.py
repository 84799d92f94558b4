"""Train from the command line: `uv run papers train 15` or `python -m gpt4_analysis.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from gpt4_analysis.data import Data
from gpt4_analysis.lightning import ModelFamily

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(ModelFamily, Data, paper="15_gpt4_analysis", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
