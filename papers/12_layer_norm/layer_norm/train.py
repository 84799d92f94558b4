"""Train the comparison from the command line.

    uv run papers train 12                                   # default CPU config
    uv run python -m layer_norm.train fit --config papers/12_layer_norm/configs/gpu.yaml
    uv run python -m layer_norm.train fit --model.lr 0.001   # override one setting
    uv run python -m layer_norm.train fit --ckpt_path last   # resume the latest run
    uv run python -m layer_norm.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from layer_norm.data import NormComparisonData
from layer_norm.lightning import NormComparison

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(NormComparison, NormComparisonData, paper="12_layer_norm", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
