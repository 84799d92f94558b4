"""Train from the command line: `uv run papers train 19` or `python -m rag.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from rag.data import Data
from rag.lightning import RAG

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(RAG, Data, paper="19_rag", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
