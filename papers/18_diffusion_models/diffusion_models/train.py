"""Train from the command line: `uv run papers train 18` or `python -m diffusion_models.train fit --help`."""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from diffusion_models.data import DigitsData
from diffusion_models.lightning import DiffusionModule

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(DiffusionModule, DigitsData,
                   paper="18_diffusion_models", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
