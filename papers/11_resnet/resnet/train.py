"""Train from the command line: `uv run papers train 11` or `python -m resnet.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from resnet.data import Data
from resnet.lightning import Module

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(Module, Data, paper="11_resnet", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
