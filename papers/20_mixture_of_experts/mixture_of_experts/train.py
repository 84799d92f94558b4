"""Train from the command line: `uv run papers train 20` or `python -m mixture_of_experts.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from mixture_of_experts.data import Data
from mixture_of_experts.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="20_mixture_of_experts", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
