"""Train the comparison from the command line.

    uv run papers train 20                                          # default CPU config
    uv run python -m mixture_of_experts.train fit --config papers/20_mixture_of_experts/configs/gpu.yaml
    uv run python -m mixture_of_experts.train fit --model.n_experts 16   # override one setting
    uv run python -m mixture_of_experts.train fit --ckpt_path last       # resume the latest run
    uv run python -m mixture_of_experts.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from mixture_of_experts.data import ShakespeareData
from mixture_of_experts.lightning import MoEComparison

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(MoEComparison, ShakespeareData, paper="20_mixture_of_experts",
                   default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
