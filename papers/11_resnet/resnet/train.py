"""Train the plain and residual nets side by side from the command line.

    uv run papers train 11                                              # default CPU config (digits)
    uv run python -m resnet.train fit --config papers/11_resnet/configs/gpu.yaml   # CIFAR-10, one GPU
    uv run python -m resnet.train fit --model.depths [20,56]            # override one setting
    uv run python -m resnet.train fit --ckpt_path last                  # resume the latest run
    uv run python -m resnet.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from resnet.data import ImageData
from resnet.lightning import DegradationExperiment

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(DegradationExperiment, ImageData, paper="11_resnet", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
