"""Train from the command line: `uv run papers train 10` or `python -m constitutional_ai.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from constitutional_ai.data import Data
from constitutional_ai.lightning import ConstitutionalAI

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(ConstitutionalAI, Data, paper="10_constitutional_ai", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
